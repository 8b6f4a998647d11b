"""Image sequences for the demo: reading a folder of frames, scoring the hands found, writing the results.

One place for what the demo does around the estimator, whichever runs it (the ROS node over real topics,
``wildhands_ros.demo``, or the in-process :class:`~wildhands.runtime.pipeline.Pipeline`):

* :func:`load_sequence`: the frames of a folder (``*.png|jpg|jpeg|bmp``, sorted by name, or the bundled
  clip ``wildhands/assets/sequence``) with their time stamps, the camera (a camera_calibration YAML; else the
  images' EXIF focal length; else a field-of-view prior — both marked *estimated*) and the ground truth of
  ``groundtruth.json`` when the folder has one (format: ``scripts/make_sequence.py``).
* :func:`score_sequence`: hands per frame, latency, and the error against the ground truth (hands matched
  by side): root-relative MPJPE, PA-MPJPE, root error, MRRPE (frames with both hands), 2D px, recall.
* :func:`write_results`: overlay PNGs, a video (MP4, else animated GIF), ``summary.json`` and the
  one-screen text summary (:func:`format_summary`).

Units: metres in the camera optical frame (x right, y down, z forward), pixels of the source image,
seconds; errors in mm / px.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wildhands.eval import metrics as M
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.geometry.exif import camera_from_exif
from wildhands.runtime.demo import DEFAULT_HFOV_RAD
from wildhands.runtime.overlay import draw_hands
from wildhands.runtime.pipeline import HandEstimate

logger = logging.getLogger(__name__)

SEQUENCE_DIR = Path(__file__).resolve().parents[1] / "assets" / "sequence"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_HFOV_DEG = math.degrees(DEFAULT_HFOV_RAD)  # FoV prior without a calibration or an EXIF focal length
GT_COLOR_RGB = (255, 255, 255)

__all__ = [
    "FrameResult",
    "Sequence",
    "SEQUENCE_DIR",
    "format_summary",
    "load_sequence",
    "score_sequence",
    "write_results",
]


@dataclass
class Sequence:
    """Frames of one camera. ``ground_truth[i]`` lists frame i's labelled hands (dicts, may be empty)."""

    images: list[Path]
    stamps_s: list[float]
    camera: CameraModel
    camera_source: str  # 'calibration <path>' | 'EXIF ...' | 'FoV prior ...'
    ground_truth: list[list[dict[str, Any]]] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def read_rgb(self, i: int) -> np.ndarray:
        bgr = cv2.imread(str(self.images[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {self.images[i]} (missing or not an image)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class FrameResult:
    """What the estimator gave for one frame. ``latency_s``: image sent -> hands received;
    ``processing_s``: the estimator's own part of it (the node: image received -> hands published, its
    ``HandArray.latency``; in-process: the same as ``latency_s``)."""

    index: int
    hands: list[HandEstimate] = field(default_factory=list)
    latency_s: float = math.nan
    received: bool = True
    processing_s: float = math.nan


def _list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"--images {folder}: not a folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise ValueError(f"--images {folder}: no {'/'.join(IMAGE_SUFFIXES)} files in it")
    return images


def load_sequence(
    images: str | Path | None = None,
    camera_info: str | Path | None = None,
    fps: float = 15.0,
    hfov_deg: float = DEFAULT_HFOV_DEG,
    limit: int | None = None,
) -> Sequence:
    """Read a sequence (default: the bundled clip). See the module docstring for where the camera comes from.

    ``images``: a folder of frames, or a folder with ``groundtruth.json`` + ``images/`` (the bundled layout).
    ``fps``: frame rate used for stamps when the folder has no ground truth with stamps.
    """
    folder = Path(images) if images is not None else SEQUENCE_DIR
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps={fps!r} must be > 0")
    gt_path = folder / "groundtruth.json"
    ground_truth = None
    if gt_path.is_file():
        meta = json.loads(gt_path.read_text())
        frames = meta["frames"][:limit] if limit else meta["frames"]
        paths = [folder / f["image"] for f in frames]
        stamps = [float(f["stamp_s"]) for f in frames]
        ground_truth = [list(f.get("hands", [])) for f in frames]
        if camera_info is None and (folder / "camera_info.yaml").is_file():
            camera_info = folder / "camera_info.yaml"
    else:
        paths = _list_images(folder)[:limit] if limit else _list_images(folder)
        stamps = [i / fps for i in range(len(paths))]
    first = cv2.imread(str(paths[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise ValueError(f"cannot read image {paths[0]}")
    height, width = first.shape[:2]
    if camera_info is not None:
        camera = load_camera_yaml(camera_info)
        if (camera.width, camera.height) != (width, height):
            raise ValueError(
                f"--camera-info {camera_info} is for {camera.width}x{camera.height} images, "
                f"the images are {width}x{height}"
            )
        source = f"calibration {camera_info}"
    else:
        camera, source = camera_from_exif(paths[0], width, height)
        if camera is None:
            camera = CameraModel.from_fov(width, height, math.radians(hfov_deg))
            source = f"FoV prior {hfov_deg:.0f} deg (no calibration, no EXIF focal length)"
        logger.warning("no --camera-info: intrinsics ESTIMATED from the %s", source)
    return Sequence(paths, stamps, camera, source, ground_truth)


# ---------------------------------------------------------------------------------------------------- scoring
def _match_by_side(gt: list[dict[str, Any]], hands: list[HandEstimate]) -> list[tuple[dict, HandEstimate]]:
    """Pairs (label, estimate) of the same side; with several per side, the closest in 2D wins."""
    pairs = []
    used: set[int] = set()
    for label in gt:
        best, best_d = None, math.inf
        for j, hand in enumerate(hands):
            if j in used or hand.side != label["side"]:
                continue
            d = float(
                np.nanmean(np.linalg.norm(hand.keypoints_px - np.asarray(label["keypoints_px"]), axis=1))
            )
            if d < best_d:
                best, best_d = j, d
        if best is not None:
            used.add(best)
            pairs.append((label, hands[best]))
    return pairs


def _scalar(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _stats(values: list[float]) -> dict[str, float | None]:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"mean": None, "median": None, "p95": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p95": float(np.percentile(v, 95)),
        "n": int(v.size),
    }


def score_sequence(sequence: Sequence, results: list[FrameResult]) -> dict[str, Any]:
    """Hands per frame, latency (ms) and, with ground truth, the errors (mm / px) of the matched hands."""
    counts = [len(r.hands) for r in results]
    summary: dict[str, Any] = {
        "frames": len(sequence),
        "frames_answered": sum(r.received for r in results),
        "hands_per_frame": {
            "mean": float(np.mean(counts)) if counts else 0.0,
            "histogram": {str(k): counts.count(k) for k in sorted(set(counts))},
        },
        "latency_ms": _stats([1000 * r.latency_s for r in results]),
        "processing_ms": _stats([1000 * r.processing_s for r in results]),
        "camera": sequence.camera_source,
        "intrinsics_estimated": bool(sequence.camera.estimated),
    }
    if sequence.ground_truth is None:
        return summary
    mpjpe, pa, root, kp2d, mrrpe = [], [], [], [], []
    n_gt = found = 0
    for r in results:
        gt = sequence.ground_truth[r.index]
        n_gt += len(gt)
        pairs = _match_by_side(gt, r.hands)
        found += len(pairs)
        for label, hand in pairs:
            true3d, true2d = np.asarray(label["keypoints_cam_m"]), np.asarray(label["keypoints_px"])
            mpjpe.append(_scalar(M.mpjpe_mm(hand.keypoints_cam_m, true3d)))
            pa.append(_scalar(M.pa_mpjpe_mm(hand.keypoints_cam_m, true3d)))
            root.append(_scalar(M.root_error_mm(hand.keypoints_cam_m[0], true3d[0])))
            kp2d.append(_scalar(M.kp2d_error_px(hand.keypoints_px, true2d)))
        sides = {label["side"]: (label, hand) for label, hand in pairs}
        if set(sides) == {"left", "right"}:
            (gl, hl), (gr, hr) = sides["left"], sides["right"]
            mrrpe.append(
                _scalar(
                    M.mrrpe_mm(
                        hl.keypoints_cam_m[0],
                        hr.keypoints_cam_m[0],
                        np.asarray(gl["keypoints_cam_m"])[0],
                        np.asarray(gr["keypoints_cam_m"])[0],
                    )
                )
            )
    summary["ground_truth"] = {
        "hands": n_gt,
        "found": found,
        "recall": found / n_gt if n_gt else None,
        "mpjpe_mm": _stats(mpjpe),
        "pa_mpjpe_mm": _stats(pa),
        "root_error_mm": _stats(root),
        "mrrpe_mm": _stats(mrrpe),
        "kp2d_px": _stats(kp2d),
    }
    return summary


# ---------------------------------------------------------------------------------------------------- output
def _draw_ground_truth(image: np.ndarray, gt: list[dict[str, Any]]) -> np.ndarray:
    from wildhands.handmodel.keypoints import SKELETON_EDGES

    for label in gt:
        uv = np.round(np.asarray(label["keypoints_px"])).astype(int)
        for a, b in SKELETON_EDGES:
            cv2.line(image, tuple(uv[a]), tuple(uv[b]), GT_COLOR_RGB, 1, cv2.LINE_AA)
    return image


def _write_video(frames: list[np.ndarray], path_stem: Path, fps: float) -> Path | None:
    """MP4 (OpenCV's mp4v) when this OpenCV can write it, else an animated GIF (Pillow)."""
    h, w = frames[0].shape[:2]
    mp4 = path_stem.with_suffix(".mp4")
    writer = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if writer.isOpened():
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        if mp4.is_file() and mp4.stat().st_size > 0:
            return mp4
    try:
        from PIL import Image
    except ImportError:
        logger.warning("no video written: OpenCV cannot write MP4 and Pillow is not installed")
        return None
    gif = path_stem.with_suffix(".gif")
    small = [Image.fromarray(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA)) for f in frames]
    small[0].save(gif, save_all=True, append_images=small[1:], duration=round(1000 / fps), loop=0)
    return gif


def write_results(
    sequence: Sequence,
    results: list[FrameResult],
    summary: dict[str, Any],
    out_dir: str | Path,
    title: str = "wildhands",
    fps: float = 15.0,
) -> dict[str, Path]:
    """Overlays (``overlays/NNNNNN.png``: estimate coloured, ground truth white), video, ``summary.json``."""
    out = Path(out_dir)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    drawn = []
    for r in results:
        image = sequence.read_rgb(r.index)
        overlay = draw_hands(image, r.hands, sequence.camera, title=f"{title}  frame {r.index}")
        if sequence.ground_truth is not None:
            overlay = _draw_ground_truth(overlay, sequence.ground_truth[r.index])
        cv2.imwrite(str(out / "overlays" / f"{r.index:06d}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        drawn.append(overlay)
    paths = {"overlays": out / "overlays", "summary": out / "summary.json"}
    video = _write_video(drawn, out / "hands", fps) if drawn else None
    if video is not None:
        paths["video"] = video
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return paths


def _fmt(stats: dict[str, Any] | None, key: str = "mean", unit: str = "") -> str:
    if not stats or stats.get(key) is None:
        return "-"
    return f"{stats[key]:.1f}{unit}"


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen text summary of :func:`score_sequence`'s result."""
    hpf = summary["hands_per_frame"]
    lat = summary["latency_ms"]
    lines = [
        f"frames       {summary['frames']} ({summary['frames_answered']} answered)",
        f"hands/frame  mean {hpf['mean']:.2f}  histogram {hpf['histogram']}",
        f"latency      median {_fmt(lat, 'median', ' ms')}  p95 {_fmt(lat, 'p95', ' ms')}"
        + (
            f"  (processing median {_fmt(proc, 'median', ' ms')}  p95 {_fmt(proc, 'p95', ' ms')})"
            if (proc := summary.get("processing_ms")) and proc.get("n")
            else ""
        ),
        f"camera       {summary['camera']}",
    ]
    gt = summary.get("ground_truth")
    if gt:
        recall = "-" if gt["recall"] is None else f"{100 * gt['recall']:.0f}%"
        lines += [
            f"found        {gt['found']} of {gt['hands']} labelled hands ({recall})",
            f"3D error     MPJPE {_fmt(gt['mpjpe_mm'], unit=' mm')}"
            f"  PA-MPJPE {_fmt(gt['pa_mpjpe_mm'], unit=' mm')}"
            f"  root {_fmt(gt['root_error_mm'], unit=' mm')}  MRRPE {_fmt(gt['mrrpe_mm'], unit=' mm')}",
            f"2D error     {_fmt(gt['kp2d_px'], unit=' px')} (mean over keypoints and hands)",
        ]
    return "\n".join(lines)
