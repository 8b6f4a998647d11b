"""The applications of the library: ``wildhands demo`` on one image and the main job on a sequence.

Nothing in the ``wildhands`` library imports this module (``test/test_import_cycles.py`` checks it); it
sits on top of :mod:`wildhands.runtime` (pipeline, IO, sequences) and :mod:`wildhands.eval.scoring`.

* :func:`run_demo`: the Pipeline on one image (default: the bundled sample ``wildhands/assets/sample``, an
  image rendered from the open hand model with known intrinsics, hand boxes and ground-truth keypoints;
  ``scripts/make_sample.py`` regenerates it): an overlay PNG and the hands as JSON.
* :func:`run_main_job`: a sequence (default: the bundled clip) through a backend (the ROS node over real
  topics, ``wildhands_ros.demo``, or the in-process Pipeline), scored against its ground truth
  (:func:`wildhands.eval.scoring.score_sequence`), written by :func:`write_results`: overlay PNGs, a video
  (MP4, else animated GIF) and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wildhands.eval.scoring import draw_ground_truth, score_sequence
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.model.weights import SHIPPED_BACKBONE
from wildhands.runtime.detection import DETECTORS
from wildhands.runtime.detection.base import HandDetector
from wildhands.runtime.io import DEFAULT_HFOV_RAD, SAMPLE_DIR, hands_to_json, load_hand_boxes, load_image_rgb
from wildhands.runtime.overlay import draw_hands
from wildhands.runtime.pipeline import HandBox, HandEstimate, Pipeline
from wildhands.runtime.sequence import FrameResult, Sequence, ground_truth_boxes, load_sequence

logger = logging.getLogger(__name__)

__all__ = [
    "DEMO_BACKEND_GROUP",
    "DEMO_BACKENDS",
    "DEMO_BOX_SOURCES",
    "DemoResult",
    "SequenceDemoOptions",
    "demo_backend",
    "run_demo",
    "run_main_job",
    "run_sequence_python",
    "write_results",
]


@dataclass
class DemoResult:
    image_path: Path
    camera: CameraModel
    hands: list[HandEstimate]
    ground_truth: list[dict[str, Any]]
    overlay_path: Path
    json_path: Path
    boxes: list[HandBox]


def run_demo(
    pipeline: Pipeline,
    image_path: str | Path | None = None,
    camera_info_path: str | Path | None = None,
    boxes_path: str | Path | None = None,
    out_dir: str | Path = "out/demo",
    detector: HandDetector | None = None,
) -> DemoResult:
    """Run the pipeline on an image (default: the bundled sample) and write an overlay PNG + JSON.

    Hands come from ``detector`` when one is given, else from ``boxes_path``. The bundled sample's
    ``hands.json`` also carries ground truth, reported as an error by the CLI.
    """
    if image_path is None:
        image_path = SAMPLE_DIR / "image.png"
        camera_info_path = camera_info_path or SAMPLE_DIR / "camera_info.yaml"
        boxes_path = boxes_path or SAMPLE_DIR / "hands.json"
    image_path = Path(image_path)
    image = load_image_rgb(image_path)
    h, w = image.shape[:2]
    if camera_info_path is not None:
        camera = load_camera_yaml(camera_info_path)
    else:
        camera = CameraModel.from_fov(w, h, DEFAULT_HFOV_RAD)
        logger.warning(
            "no camera info given: intrinsics estimated from a %.0f deg FoV", math.degrees(DEFAULT_HFOV_RAD)
        )
    entries: list[dict[str, Any]] = []
    if boxes_path is not None:
        boxes, entries = load_hand_boxes(boxes_path)
    if detector is not None:
        boxes = detector.detect(image, camera=pipeline.view_camera(camera))
    elif boxes_path is None:
        raise ValueError("no hand boxes: pass --boxes FILE or use a detector (--detector mediapipe)")
    hands = pipeline(image, camera, boxes)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = "wildhands" + ("" if pipeline.trained else " - UNTRAINED WEIGHTS: output is not meaningful")
    overlay = draw_hands(image, hands, camera, title=title)
    overlay_path = out_dir / f"{image_path.stem}_overlay.png"
    cv2.imwrite(str(overlay_path), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    json_path = out_dir / f"{image_path.stem}_hands.json"
    json_path.write_text(
        json.dumps({"weights": pipeline.weights_description, "hands": hands_to_json(hands)}, indent=1)
    )
    gt = [e for e in entries if "keypoints_cam_m" in e]
    return DemoResult(image_path, camera, hands, gt, overlay_path, json_path, boxes)


# ---------------------------------------------------------------------------------------------------------
# The main job: a sequence (default: the bundled clip) through a backend, scored against its ground truth.
# ---------------------------------------------------------------------------------------------------------
#: Entry-point group of demo backends. wildhands_ros registers ``ros`` (the node over real ROS 2 topics);
#: this module provides ``python`` (the Pipeline in-process). The core never imports ROS itself.
DEMO_BACKEND_GROUP = "wildhands.demo_backends"
#: ``SequenceDemoOptions.backend`` values.
DEMO_BACKENDS = ("auto", "ros", "python")
#: Where the main job's hand boxes come from: a detector of :data:`wildhands.runtime.detection.DETECTORS`
#: (not ``none``: a sequence has no upstream boxes) or ``groundtruth`` (the sequence's labelled boxes).
DEMO_BOX_SOURCES = (*(d for d in DETECTORS if d != "none"), "groundtruth")


@dataclass(frozen=True)
class SequenceDemoOptions:
    """How the main job runs.

    weights: ``"default"`` (the shipped weights), a manifest name, a checkpoint path, or ``"untrained"``.
    engine: ``"onnxruntime"`` (CPU default), ``"torch"``, ...
    detector: ``"mediapipe"`` (finds hands and sides) or ``"groundtruth"`` (boxes and sides of the
        sequence's ``groundtruth.json``: measures the 3D lift alone).
    backend: ``"auto"`` (``ros`` when installed, else ``python``), ``"ros"`` or ``"python"``.
    threads: CPU threads of the engine (0 = all cores).
    backbone: architecture of an untrained network (``weights="untrained"``); weights carry their own.
    estimator: ``"landmarks"`` (default) or ``"image"`` (``PipelineConfig.estimator``).
    refine: the landmark estimator's fit on or off.
    tracked_steps: ``PipelineConfig.tracked_steps`` (the node's ``tracked_steps``; tracked hands: the
        ``ros`` backend, whose node tracks).
    crop_mode: ``PipelineConfig.crop_mode`` (the node's ``crop_mode``).
    """

    weights: str | None = "default"
    engine: str = "onnxruntime"
    detector: str = "mediapipe"
    backend: str = "auto"
    threads: int = 0
    backbone: str = SHIPPED_BACKBONE
    estimator: str = "landmarks"
    refine: bool = True
    tracked_steps: int = 0
    crop_mode: str = "auto"

    def __post_init__(self) -> None:
        if self.detector not in DEMO_BOX_SOURCES:
            raise ValueError(f"detector={self.detector!r} not in {DEMO_BOX_SOURCES}")
        if self.backend not in DEMO_BACKENDS:
            raise ValueError(f"backend={self.backend!r} not in {DEMO_BACKENDS}")


def run_sequence_python(sequence, out_dir: str | Path, options: SequenceDemoOptions):
    """The ``python`` backend: detector + Pipeline in this process, frame after frame."""
    import time

    from tqdm import tqdm

    from wildhands.runtime.pipeline import PipelineConfig

    pipeline = Pipeline(
        PipelineConfig(
            weights=options.weights,
            engine=options.engine,
            threads=options.threads,
            estimator=options.estimator,
            refine=options.refine,
            tracked_steps=options.tracked_steps,
            crop_mode=options.crop_mode,
        )  # fmt: skip
    )
    detector = None
    if options.detector == "mediapipe":
        from wildhands.runtime.detection import build_detector

        detector = build_detector("mediapipe")
    results = []
    for i in tqdm(range(len(sequence)), desc="pipeline", unit="frame"):
        image = sequence.read_rgb(i)
        t0 = time.monotonic()
        if detector is not None:
            boxes = detector.detect(image, camera=pipeline.view_camera(sequence.camera))
        else:
            boxes = ground_truth_boxes(sequence.ground_truth[i] if sequence.ground_truth else [])
        hands = pipeline(image, sequence.camera, boxes) if boxes else []
        elapsed = time.monotonic() - t0
        results.append(FrameResult(i, hands, elapsed, processing_s=elapsed))
    facts = {
        "weights": pipeline.weights_description,
        "trained": pipeline.trained,
        "engine": pipeline.engine_name,
        "detector": options.detector,
    }
    return results, facts


def demo_backend(name: str):
    """The backend function ``name`` (``auto``: ``ros`` when its entry point loads, else ``python``)."""
    from importlib.metadata import entry_points

    if name == "python":
        return run_sequence_python
    found = {ep.name: ep for ep in entry_points(group=DEMO_BACKEND_GROUP)}
    if name in ("auto", "ros") and "ros" in found:
        try:
            return found["ros"].load()
        except ImportError as exc:  # wildhands_ros installed but no ROS 2 environment
            if name == "ros":
                raise ValueError(f"the ros demo backend cannot load: {exc}") from exc
            logger.warning("ROS 2 not available (%s): running the pipeline in-process instead", exc)
            return run_sequence_python
    if name == "ros":
        raise ValueError("no ros demo backend installed (install wildhands_ros in a ROS 2 environment)")
    return run_sequence_python


def run_main_job(
    images: str | Path | None,
    camera_info: str | Path | None,
    out_dir: str | Path,
    options: SequenceDemoOptions,
    limit: int | None = None,
    hfov_deg: float = math.degrees(DEFAULT_HFOV_RAD),
    fps: float = 15.0,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Load the sequence, run it through the backend, score it, write overlays/video/summary."""
    sequence = load_sequence(images, camera_info, fps=fps, hfov_deg=hfov_deg, limit=limit)
    if options.detector == "groundtruth" and sequence.ground_truth is None:
        raise ValueError("detector='groundtruth' needs a sequence with groundtruth.json")
    backend = demo_backend(options.backend)
    results, facts = backend(sequence, out_dir, options)
    summary = score_sequence(sequence, results)
    summary.update(facts)
    summary["backend"] = getattr(backend, "backend_name", "python")
    title = "wildhands" if facts.get("trained") else "wildhands - UNTRAINED WEIGHTS: output is not meaningful"
    paths = write_results(sequence, results, summary, out_dir, title=title, fps=fps)
    if facts.get("mcap"):
        paths["mcap"] = Path(facts["mcap"])
    return summary, paths


# ---------------------------------------------------------------------------------------------------- output
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
            for label in sequence.ground_truth[r.index]:
                gt_px = np.asarray(label["keypoints_px"])
                overlay = draw_ground_truth(overlay, gt_px, thickness=1, joints=False)
        cv2.imwrite(str(out / "overlays" / f"{r.index:06d}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        drawn.append(overlay)
    paths = {"overlays": out / "overlays", "summary": out / "summary.json"}
    video = _write_video(drawn, out / "hands", fps) if drawn else None
    if video is not None:
        paths["video"] = video
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return paths
