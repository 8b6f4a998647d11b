"""Files in and out of the runtime: images, hand-box files, hands as JSON, the bundled assets, defaults.

* :func:`load_image_rgb`: an image file as (H, W, 3) uint8 RGB.
* :func:`load_hand_boxes`: a hand-box file ``{"hands": [{"box_xyxy": [...], "side": ...}, ...]}`` as
  :class:`~wildhands.runtime.pipeline.HandBox` es (plus the raw entries, which may carry ground truth).
* :func:`hands_to_json`: :class:`~wildhands.runtime.pipeline.HandEstimate` s as JSON-ready dicts.
* :data:`SAMPLE_DIR` (one rendered image with intrinsics, boxes and ground truth) and :data:`SEQUENCE_DIR`
  (the 36-frame rendered clip of the main job) in ``wildhands/assets``.
* :data:`DEFAULT_HFOV_RAD`: the field-of-view prior of the intrinsics estimate when no calibration is given.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from wildhands.runtime.hands import HandBox, HandEstimate

__all__ = [
    "ASSETS_DIR",
    "SAMPLE_DIR",
    "SEQUENCE_DIR",
    "DEFAULT_HFOV_RAD",
    "load_image_rgb",
    "load_hand_boxes",
    "hands_to_json",
]

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
#: The bundled sample: ``image.png``, ``camera_info.yaml``, ``hands.json`` (boxes + ground truth).
SAMPLE_DIR = ASSETS_DIR / "sample"
#: The bundled clip (36 frames, 640x480, 60 hands with 2D/3D truth and intrinsics): the main job's default.
SEQUENCE_DIR = ASSETS_DIR / "sequence"
DEFAULT_HFOV_RAD = math.radians(90.0)  # wide egocentric camera, used only when no intrinsics are given


def load_image_rgb(path: str | Path) -> np.ndarray:
    path = Path(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path} (missing or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_hand_boxes(path: str | Path) -> tuple[list[HandBox], list[dict[str, Any]]]:
    """Read ``{"hands": [{"box_xyxy": [x0, y0, x1, y1], "side": "left"|"right", ...}, ...]}``.

    Returns the boxes and the raw entries (which may carry ground truth, e.g. ``keypoints_cam_m``).
    """
    from wildhands.runtime.hands import HandBox  # here: reading images and assets needs no torch

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read hand boxes from {path}: {exc}") from exc
    entries = data.get("hands") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected {{'hands': [...]}}")
    boxes = [
        HandBox(tuple(e["box_xyxy"]), e["side"], float(e.get("score", 1.0)), float(e.get("side_score", 1.0)))
        for e in entries
    ]
    return boxes, entries


def hands_to_json(hands: list[HandEstimate]) -> list[dict[str, Any]]:
    return [
        {
            "side": h.side,
            "confidence": h.confidence,
            "crop_box_xys": [h.crop_box.x0, h.crop_box.y0, h.crop_box.size],
            "keypoints_cam_m": np.round(h.keypoints_cam_m, 5).tolist(),
            "keypoints_px": np.round(h.keypoints_px, 2).tolist(),
            "grasp": h.grasp_label,
            "grasp_probabilities": np.round(h.grasp_probabilities, 4).tolist(),
            "intrinsics_estimated": h.intrinsics_estimated,
            "hand_model": h.hand_model,
        }
        for h in hands
    ]
