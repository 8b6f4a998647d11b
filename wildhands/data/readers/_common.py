"""Helpers shared by the dataset readers: required files, boxes, joint reordering, estimated cameras."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from wildhands.geometry.camera import CameraModel

logger = logging.getLogger(__name__)

#: Boxes made from 2D keypoints are grown on every side by this fraction of the longer side of the tight
#: keypoint box: keypoints are joint centres, the skin (fingertip pads, palm edge) lies beyond them. Boxes
#: made from masks or taken from the dataset are used as they are (margin 0).
KEYPOINT_BOX_MARGIN = 0.1

#: Focal length (px, full-resolution image) assumed where a dataset publishes no intrinsics (EPIC-KITCHENS
#: VISOR, Ego4D/EPIC grasp labels). It is the value the WildHands code uses for those images
#: (``args.focal_length = 1000`` at full resolution, principal point at the image centre); the camera is
#: flagged ``estimated=True``.
DEFAULT_FOCAL_PX = 1000.0


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else ``FileNotFoundError`` naming it and what it should hold."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected file {path} does not exist")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: expected directory {path} does not exist")
    return path


def load_json(path: Path, what: str) -> Any:
    require_file(path, what)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def reorder(points: np.ndarray, index_map: tuple[int, ...]) -> np.ndarray:
    """``points[index_map]`` (the repo-wide rule ``target = source[MAP]``)."""
    return np.asarray(points, dtype=np.float64)[list(index_map)]


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array(
        [
            min(max(x0, 0.0), width),
            min(max(y0, 0.0), height),
            min(max(x1, 0.0), width),
            min(max(y1, 0.0), height),
        ]
    )


def box_area(box: np.ndarray) -> float:
    return max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))


def box_from_points(
    uv_px: np.ndarray,
    width: int,
    height: int,
    valid: np.ndarray | None = None,
    margin: float = KEYPOINT_BOX_MARGIN,
) -> np.ndarray | None:
    """Box (x0, y0, x1, y1) around the (valid, finite) keypoints, grown by ``margin`` x the longer side on
    every side, clipped to the image. ``None`` when no keypoint is usable or the box has no area."""
    uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 2)
    ok = np.all(np.isfinite(uv), axis=1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    if not ok.any():
        return None
    lo = uv[ok].min(axis=0)
    hi = uv[ok].max(axis=0)
    pad = margin * float(max(hi - lo))
    box = clip_box(np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad]), width, height)
    return box if box_area(box) > 0 else None


def box_from_mask(mask: np.ndarray) -> np.ndarray | None:
    """Tight box of a mask's set pixels: pixel i covers [i - 0.5, i + 0.5], so (x0, y0) = (min - 0.5) and
    (x1, y1) = (max + 0.5) in the pixel-centre convention of ``geometry.camera``. ``None`` if empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return np.array([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5], dtype=np.float64)


def estimated_camera(width: int, height: int, focal_px: float = DEFAULT_FOCAL_PX) -> CameraModel:
    """Pinhole guess for images without intrinsics: ``fx = fy = focal_px``, principal point at the centre
    of the image (pixel-centre convention), ``estimated=True``."""
    if not (math.isfinite(focal_px) and focal_px > 0):
        raise ValueError(f"focal_px={focal_px!r} must be finite and > 0")
    K = [[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
    return CameraModel.from_K(K, width, height, estimated=True)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header only (PIL), without decoding the pixels."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with matplotlib/torchvision; decode as a fallback
        import cv2

        img = cv2.imread(str(require_file(path, "image")), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"cannot read image {path}") from None
        return int(img.shape[1]), int(img.shape[0])
    require_file(path, "image")
    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])
