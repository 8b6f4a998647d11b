"""The common sample record every dataset reader and the synthetic generator produce.

One record = one hand in one image, with whatever labels its dataset has (``None`` where absent).
Training turns records into crops + KPE inputs + targets; evaluation groups records of one image by
``frame_id`` (MRRPE needs the left and right hand of the same frame).

Frames and units: 3D in the camera optical frame of ``camera`` (x right, y down, z forward), metres;
2D in pixels of the full image, (u, v) = (column, row), centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wildhands.geometry.camera import CameraModel

SIDES = ("left", "right")


@dataclass
class HandRecord:
    """One hand of one image.

    dataset: name of the source (``'synthetic'``, ``'arctic'``, ``'assemblyhands'``, ``'h2o'``,
        ``'visor'``, ``'ego4d_grasp'``, ``'freihand'``, ...): selects the per-dataset loss weights.
    frame_id: identifies the image; the hands of one image share it.
    image: (H, W, 3) uint8 RGB, or None when ``image_path`` is given (loaded lazily by :meth:`load_image`).
    camera: intrinsics (and distortion) of the image; ``camera.estimated`` when the dataset has none.
    box_xyxy_px: (4,) tight hand box (x0, y0, x1, y1), x1/y1 exclusive.
    side: ``'left'`` or ``'right'``.
    keypoints_cam_m: (21, 3) 3D keypoints in our order (``handmodel.keypoints``), or None.
    keypoints_px: (21, 2) 2D keypoints, or None.
    keypoints_valid: (21,) bool, which keypoints are labelled (all when None and keypoints exist).
    mask: (H, W) bool/uint8 silhouette of THIS hand, or None.
    grasp: grasp class id (``model.grasp.GRASP_CLASSES``), or None.
    global_orient_aa: (3,) rad, hand-model frame -> camera, or None.
    hand_pose_aa: (15, 3) rad, MANO joint order, or None.
    betas: (10,) or None.
    extra: anything else a reader wants to keep (source paths, sequence ids).
    """

    dataset: str
    frame_id: str
    camera: CameraModel
    box_xyxy_px: np.ndarray
    side: str
    image: np.ndarray | None = None
    image_path: Path | None = None
    keypoints_cam_m: np.ndarray | None = None
    keypoints_px: np.ndarray | None = None
    keypoints_valid: np.ndarray | None = None
    mask: np.ndarray | None = None
    grasp: int | None = None
    global_orient_aa: np.ndarray | None = None
    hand_pose_aa: np.ndarray | None = None
    betas: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"HandRecord.side={self.side!r} not in {SIDES}")
        if self.image is None and self.image_path is None:
            raise ValueError("HandRecord needs an image or an image_path")
        self.box_xyxy_px = np.asarray(self.box_xyxy_px, dtype=np.float64)
        if self.box_xyxy_px.shape != (4,) or not np.all(np.isfinite(self.box_xyxy_px)):
            raise ValueError(f"HandRecord.box_xyxy_px must be 4 finite numbers, got {self.box_xyxy_px}")
        for name, shape in (
            ("keypoints_cam_m", (21, 3)),
            ("keypoints_px", (21, 2)),
            ("keypoints_valid", (21,)),
            ("global_orient_aa", (3,)),
            ("hand_pose_aa", (15, 3)),
            ("betas", (10,)),
        ):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=bool if name == "keypoints_valid" else np.float64)
                if value.shape != shape:
                    raise ValueError(f"HandRecord.{name} must have shape {shape}, got {value.shape}")
                setattr(self, name, value)

    @property
    def has_3d(self) -> bool:
        return self.keypoints_cam_m is not None

    def load_image(self) -> np.ndarray:
        """The RGB image (loaded from ``image_path`` on first use, not cached)."""
        if self.image is not None:
            return self.image
        import cv2

        bgr = cv2.imread(str(self.image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {self.image_path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
