"""Synthetic datasets on disk (``write_dataset``, ``SyntheticDataset``) and on the fly
(``SyntheticHandStream``).

Format of a dataset folder::

    meta.json              {"generator_version", "seed", "count", "config": SyntheticConfig.to_dict(),
                            "hand_model", "format": 1}
    labels.jsonl           one JSON object per frame, sorted by index (see below)
    images/{index:06d}.jpg the frame (the generator's JPEG bytes, written as is)
    masks/{index:06d}_{k}.png  visible silhouette of hand k (uint8 0/255, single channel)
    synth.log              the log of every write_dataset run

A line of ``labels.jsonl``::

    {"index": 7, "frame_id": "synthetic_s0_000007", "image": "images/000007.jpg",
     "camera": {"width": W, "height": H, "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
                "distortion_model": "none" | "plumb_bob" | "equidistant", "D": [...]},
     "info": {...scene settings...},
     "hands": [{"side": "left", "mask": "masks/000007_0.png", "box_xyxy_px": [x0, y0, x1, y1],
                "keypoints_cam_m": 21x3, "keypoints_px": 21x2, "keypoints_visible": 21 bools,
                "grasp": 2, "grasp_name": "power_prismatic", "global_orient_aa": 3, "hand_pose_aa": 15x3,
                "betas": 10, "transl_m": 3, "wrist_cam_m": 3, "hand_model": "open_hand_v1",
                "box_source": "visible_mask", "visible_fraction": 0.93, "in_image_fraction": 1.0, ...}]}

Units and frames as ``HandRecord``: metres in the camera optical frame, pixels with the top-left pixel
centre at (0, 0), boxes x1/y1 exclusive; ``hand_pose_aa``/``global_orient_aa`` are for the model of that
side (left hands: the left model). ``keypoints_cam_m`` = hand model(betas, global_orient_aa,
hand_pose_aa) + ``transl_m``.

Resuming: a frame is complete when its labels line, image and masks exist; ``write_dataset`` skips complete
frames, regenerates the rest, and rewrites ``labels.jsonl`` sorted at the end. The config and seed must
match ``meta.json`` of an existing folder (otherwise ``ValueError``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch.utils.data

from wildhands.data.record import HandRecord
from wildhands.data.synthetic.backends import backend_for
from wildhands.data.synthetic.config import SyntheticConfig
from wildhands.data.synthetic.generator import DATASET_NAME, GENERATOR_VERSION, SyntheticFrame, generate_frame
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel import OpenHandModel

logger = logging.getLogger(__name__)

__all__ = [
    "write_dataset",
    "complete_frames",
    "SyntheticDataset",
    "SyntheticHandStream",
    "frame_to_json",
    "collate_records",
]

_FORMAT = 1
_FLOAT_KEYS = ("box_xyxy_px", "keypoints_cam_m", "keypoints_px", "global_orient_aa", "hand_pose_aa", "betas")


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _camera_json(cam: CameraModel) -> dict[str, Any]:
    return {
        "width": cam.width,
        "height": cam.height,
        "K": cam.K.tolist(),
        "distortion_model": cam.distortion_model.value,
        "D": cam.D.tolist(),
    }


def frame_to_json(frame: SyntheticFrame) -> dict[str, Any]:
    """The ``labels.jsonl`` object of a frame (paths relative to the dataset folder)."""
    hands = []
    for k, rec in enumerate(frame.hands):
        entry = {"side": rec.side, "mask": f"masks/{frame.index:06d}_{k}.png", "grasp": rec.grasp}
        for key in _FLOAT_KEYS:
            entry[key] = getattr(rec, key).tolist()
        entry.update(_plain(rec.extra))
        hands.append(entry)
    return {
        "index": frame.index,
        "frame_id": frame.frame_id,
        "image": f"images/{frame.index:06d}.jpg",
        "camera": _camera_json(frame.camera),
        "info": _plain(frame.info),
        "hands": hands,
    }


def _write_frame(out: Path, frame: SyntheticFrame) -> str:
    """Write masks, then the image (atomically); return the labels line."""
    for k, mask in enumerate(frame.masks):
        ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        if not ok:
            raise RuntimeError("PNG encoding failed")
        (out / "masks" / f"{frame.index:06d}_{k}.png").write_bytes(buf.tobytes())
    img_path = out / "images" / f"{frame.index:06d}.jpg"
    tmp = img_path.with_suffix(".jpg.tmp")
    tmp.write_bytes(frame.jpeg_bytes)
    os.replace(tmp, img_path)
    return json.dumps(frame_to_json(frame), separators=(",", ":"))


def _read_labels(path: Path) -> dict[int, dict[str, Any]]:
    """index -> label object; malformed lines (an interrupted write) are skipped."""
    labels: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return labels
    for line in path.read_text().splitlines():
        try:
            obj = json.loads(line)
            labels[int(obj["index"])] = obj
        except (ValueError, KeyError, TypeError):
            continue
    return labels


def _complete(out: Path, obj: dict[str, Any]) -> bool:
    return (out / obj["image"]).exists() and all((out / hd["mask"]).exists() for hd in obj["hands"])


def complete_frames(out_dir: str | os.PathLike) -> set[int]:
    """Indices of the frames in a (perhaps unfinished) dataset folder with their label line, image and
    masks all written: what :func:`write_dataset` skips when it resumes."""
    out = Path(out_dir)
    return {i for i, obj in _read_labels(out / "labels.jsonl").items() if _complete(out, obj)}


def _worker_init() -> None:
    """One thread per pool in each worker process (the workers share the cores): torch, OpenCV and numpy's
    BLAS (``runtime.threads.apply_blas_threads``: OpenBLAS's spinning threads would take cores the other
    workers want)."""
    from wildhands.runtime.threads import apply_blas_threads

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    apply_blas_threads(1)


def _generate_line(args: tuple[SyntheticConfig, int, int, str]) -> tuple[int, str, int]:
    cfg, seed, index, out = args
    frame = generate_frame(cfg, seed, index)
    return index, _write_frame(Path(out), frame), len(frame.hands)


def write_dataset(
    out_dir: str | os.PathLike,
    config: SyntheticConfig,
    n: int,
    seed: int,
    start: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Generate frames ``start .. start + n - 1`` of set ``seed`` into ``out_dir`` (format: module docstring).

    Complete frames already there are skipped (resumable). ``workers > 1`` uses a process pool (each
    process builds its own hand model). Returns the folder.
    """
    if n < 0 or start < 0 or workers < 1:
        raise ValueError(
            f"need n >= 0, start >= 0, workers >= 1, got n={n}, start={start}, workers={workers}"
        )
    backend_for(config.device)  # an unusable device (no CUDA here) fails before anything is written
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    meta_path = out / "meta.json"
    cfg_dict = config.to_dict()
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        stored = dict(meta.get("config") or {})
        stored.setdefault("device", "cpu")  # folders written before the device option
        if stored.get("device") != cfg_dict["device"] and {**stored, "device": None} == {
            **cfg_dict,
            "device": None,
        }:
            raise ValueError(
                f"{out} was rendered with device={stored['device']!r}, not {config.device!r}: resume with "
                "the same device (images differ by float rounding between devices) or use a new folder"
            )
        if meta.get("seed") != seed or stored != cfg_dict:
            raise ValueError(f"{out} holds a dataset with another seed or config; use a new folder")
        if meta.get("generator_version") != GENERATOR_VERSION:
            raise ValueError(
                f"{out} was written by {meta.get('generator_version')}, this is {GENERATOR_VERSION}"
            )

    handler = logging.FileHandler(out / "synth.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    prev_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        labels_path = out / "labels.jsonl"
        labels = _read_labels(labels_path)
        todo = [i for i in range(start, start + n) if not (i in labels and _complete(out, labels[i]))]
        logger.info(
            "write_dataset %s: seed=%d frames %d..%d, %d already complete, %d to generate, workers=%d",
            out, seed, start, start + n - 1, n - len(todo), len(todo), workers,
        )  # fmt: skip
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="synth", unit="frame", disable=not progress)
        jobs = [(config, seed, i, str(out)) for i in todo]
        with labels_path.open("a") as fh:
            if workers == 1:
                results: Iterator = map(_generate_line, jobs)
                pool = None
            else:
                import multiprocessing as mp

                pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init)
                results = pool.imap_unordered(_generate_line, jobs, chunksize=1)
            try:
                for index, line, _nh in results:
                    fh.write(line + "\n")
                    fh.flush()
                    labels[index] = json.loads(line)
                    bar.update(1)
            finally:
                if pool is not None:
                    pool.close()
                    pool.join()
        bar.close()
        count = max(labels) + 1 if labels else 0
        tmp = labels_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(labels[i], separators=(",", ":")) + "\n" for i in sorted(labels)))
        os.replace(tmp, labels_path)
        meta = {
            "format": _FORMAT,
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "count": len(labels),
            "max_index": count - 1,
            "hand_model": OpenHandModel.name,
            "config": cfg_dict,
        }
        meta_path.write_text(json.dumps(meta, indent=1))
        logger.info("write_dataset %s: done, %d frames in the folder", out, len(labels))
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(prev_level)
    return out


def _record_from_json(root: Path, obj: dict[str, Any], hand: dict[str, Any], load_mask: bool) -> HandRecord:
    cam = obj["camera"]
    camera = CameraModel.from_K(cam["K"], cam["width"], cam["height"], cam["D"], cam["distortion_model"])
    extra = {k: v for k, v in hand.items() if k not in _FLOAT_KEYS and k not in ("side", "grasp", "mask")}
    extra["keypoints_visible"] = np.asarray(hand["keypoints_visible"], dtype=bool)
    for key in ("wrist_cam_m", "transl_m"):
        extra[key] = np.asarray(hand[key], dtype=np.float64)
    extra["mask_path"] = root / hand["mask"]
    mask = None
    if load_mask:
        m = cv2.imread(str(root / hand["mask"]), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise ValueError(f"cannot read mask {root / hand['mask']}")
        mask = m > 127
    return HandRecord(
        dataset=DATASET_NAME,
        frame_id=obj["frame_id"],
        camera=camera,
        box_xyxy_px=np.asarray(hand["box_xyxy_px"]),
        side=hand["side"],
        image_path=root / obj["image"],
        keypoints_cam_m=np.asarray(hand["keypoints_cam_m"]),
        keypoints_px=np.asarray(hand["keypoints_px"]),
        keypoints_valid=np.ones(21, bool),
        mask=mask,
        grasp=int(hand["grasp"]),
        global_orient_aa=np.asarray(hand["global_orient_aa"]),
        hand_pose_aa=np.asarray(hand["hand_pose_aa"]),
        betas=np.asarray(hand["betas"]),
        extra=extra,
    )


class SyntheticDataset(Sequence):
    """The hands of a ``write_dataset`` folder as a sequence of ``HandRecord`` (one per hand).

    Images are loaded lazily (``record.load_image()`` reads ``image_path``); masks are read on access when
    ``load_masks`` (else ``record.mask`` is None and ``record.extra['mask_path']`` names the file).
    ``min_visible_fraction``: hands whose visible share of the silhouette is below it are left out (as
    :class:`SyntheticHandStream` passes them over; frames whose hands are all below it add none).
    """

    def __init__(
        self, root: str | os.PathLike, load_masks: bool = True, min_visible_fraction: float = 0.0
    ) -> None:
        if not 0.0 <= min_visible_fraction <= 1.0:
            raise ValueError(f"min_visible_fraction: must be in [0, 1], got {min_visible_fraction}")
        self.root = Path(root)
        if not (self.root / "labels.jsonl").exists():
            raise FileNotFoundError(
                f"{self.root / 'labels.jsonl'} not found: not a synthetic dataset folder; write one with "
                f"`wildhands synth --out {self.root} --n N --seed S`"
            )
        meta_path = self.root / "meta.json"
        self.meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        self.frames = [obj for _, obj in sorted(_read_labels(self.root / "labels.jsonl").items())]
        self._items = [
            (f, h)
            for f, obj in enumerate(self.frames)
            for h, hand in enumerate(obj["hands"])
            if float(hand.get("visible_fraction", 1.0)) >= min_visible_fraction
        ]
        self.load_masks = load_masks

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> HandRecord:  # type: ignore[override]
        if isinstance(i, slice):
            raise TypeError("SyntheticDataset does not support slices")
        f, h = self._items[i]
        obj = self.frames[f]
        return _record_from_json(self.root, obj, obj["hands"][h], self.load_masks)

    def frame_records(self, frame: int) -> list[HandRecord]:
        """All hands of the ``frame``-th frame in the folder (e.g. for MRRPE)."""
        obj = self.frames[frame]
        return [_record_from_json(self.root, obj, hd, self.load_masks) for hd in obj["hands"]]


class SyntheticHandStream(torch.utils.data.Dataset):
    """On-the-fly synthetic data (nothing on disk), deterministic by index.

    ``mode='hand'``: item ``i`` is one ``HandRecord`` from frame ``i`` of set ``seed`` (hand ``i % n_hands``,
    so both hands of two-hand frames are used across the set). ``mode='frame'``: item ``i`` is the list of
    all hands of frame ``i``. Records carry ``image`` and ``mask`` arrays. Use ``collate_records`` (or your
    own) as the DataLoader's ``collate_fn``: records are not tensors.

    ``min_visible_fraction`` (hand mode): hands whose visible share of the silhouette is below it (e.g. a hand
    outside a fisheye's image circle, or hidden by occluders) are passed over for another hand of the frame;
    a frame without such a hand gives its most visible one.
    """

    def __init__(
        self,
        config: SyntheticConfig,
        seed: int,
        length: int,
        mode: str = "hand",
        min_visible_fraction: float = 0.0,
    ) -> None:
        if length < 0:
            raise ValueError(f"length: must be >= 0, got {length}")
        if mode not in ("hand", "frame"):
            raise ValueError(f"mode: {mode!r} not in {{'hand', 'frame'}}")
        if not 0.0 <= min_visible_fraction <= 1.0:
            raise ValueError(f"min_visible_fraction: must be in [0, 1], got {min_visible_fraction}")
        self.config, self.seed, self.length, self.mode = config, int(seed), int(length), mode
        self.min_visible_fraction = float(min_visible_fraction)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> HandRecord | list[HandRecord]:
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for length {self.length}")
        i = i % self.length
        frame = generate_frame(self.config, self.seed, i)
        if self.mode == "frame":
            return frame.hands
        hands = frame.hands
        if self.min_visible_fraction > 0:
            seen = [float(h.extra.get("visible_fraction", 1.0)) for h in hands]
            good = [h for h, f in zip(hands, seen) if f >= self.min_visible_fraction]
            hands = good or [hands[int(np.argmax(seen))]]
        return hands[i % len(hands)]


def collate_records(batch: list[Any]) -> list[Any]:
    """DataLoader ``collate_fn`` that keeps records as a list."""
    return list(batch)
