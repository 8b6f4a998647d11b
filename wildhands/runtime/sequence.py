"""Image sequences: a folder of frames with its camera and ground truth, and what an estimator gave per frame.

What the main job (:mod:`wildhands.apps.demo`) runs the estimator on, whichever runs it (the ROS node over
real topics, ``wildhands_ros.demo``, or the in-process :class:`~wildhands.runtime.pipeline.Pipeline`):

* :func:`load_sequence`: the frames of a folder (``*.png|jpg|jpeg|bmp``, sorted by name, or the bundled
  clip ``wildhands/assets/sequence``) with their time stamps, the camera (a camera_calibration YAML; else the
  images' EXIF focal length; else a field-of-view prior — both marked *estimated*) and the ground truth of
  ``groundtruth.json`` when the folder has one (format: ``scripts/make_sequence.py``).
* :class:`FrameResult`: the hands and latency of one frame; :func:`ground_truth_boxes`: a frame's labelled
  boxes as :class:`~wildhands.runtime.pipeline.HandBox` es (the ``groundtruth`` detector).

Scoring the results against the ground truth is :func:`wildhands.eval.scoring.score_sequence`.

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

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.geometry.exif import camera_from_exif
from wildhands.runtime.hands import HandBox, HandEstimate
from wildhands.runtime.io import DEFAULT_HFOV_RAD, SEQUENCE_DIR, load_image_rgb

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_HFOV_DEG = math.degrees(DEFAULT_HFOV_RAD)  # FoV prior without a calibration or an EXIF focal length

__all__ = [
    "FrameResult",
    "Sequence",
    "SEQUENCE_DIR",
    "ground_truth_boxes",
    "load_sequence",
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
        return load_image_rgb(self.images[i])


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


def ground_truth_boxes(labels: list[dict[str, Any]]) -> list[HandBox]:
    """The labelled hands of one frame (``Sequence.ground_truth[i]``) as boxes with their true sides."""
    return [HandBox(tuple(h["box_xyxy"]), h["side"]) for h in labels]
