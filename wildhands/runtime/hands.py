"""The pipeline's input and output types: a hand box to look at (:class:`HandBox`) and a hand found in 3D
(:class:`HandEstimate`). Their own module, so that detectors, trackers and the estimators use them without
importing the pipeline. Positions in metres in the camera optical frame; pixels of the source image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wildhands.geometry.crop import CropBox
from wildhands.geometry.perspective_crop import RectifiedCrop
from wildhands.model.grasp import GRASP_CLASSES

__all__ = ["SIDES", "CONTINUOUS_TO_CENTRE_PX", "HandBox", "HandEstimate", "landmarks_centre_px"]

SIDES = ("left", "right")
#: half a pixel: the detector's continuous pixel coordinates -> CameraModel's pixel centres
CONTINUOUS_TO_CENTRE_PX = 0.5


def landmarks_centre_px(detection: Any) -> np.ndarray | None:
    """(21, 2) px: the 2D landmarks of a landmark detection (``HandBox.landmarks``; its ``landmarks_px``
    are in the detector's continuous coordinates) in ``CameraModel``'s pixel-centre coordinates, as
    ``HandEstimate.landmarks_px`` holds them; None for None."""
    landmarks = getattr(detection, "landmarks_px", None)
    if landmarks is None:
        return None
    return np.asarray(landmarks, dtype=np.float64)[:, :2] - CONTINUOUS_TO_CENTRE_PX


@dataclass(frozen=True)
class HandBox:
    """A hand found by a detector (or given by the user).

    xyxy_px: (x0, y0, x1, y1) in source-image pixels (x1, y1 exclusive, as detectors report them).
    side: ``'left'`` or ``'right'``.
    score: detector confidence in [0, 1].
    side_score: confidence in [0, 1] that ``side`` is correct.
    landmarks: the hand-landmark network's detection of this hand (``mediapipe_palm.HandDetection``) when
        the detector made the box (or tracked it: ``MediaPipeHandDetector.track``); the landmark estimator
        then uses it instead of a new landmark pass, and the image model with upright crops takes the
        hand's direction from it instead of a first pass (and passes it on: ``HandEstimate.landmarks_px``).
    betas: (10,) the shape β this hand is known to have (its track's, ``HandTracker.shape_for_box``); the
        landmark estimator's fit keeps the hand near it. None: unknown.
    landmark_rect: (centre x, centre y, side, rotation rad): the rotated square where the hand-landmark
        pass should look, in the detector's continuous pixel coordinates (a tracked hand's rect from its
        previous frame's keypoints, ``tracking.boxes_from_previous``, as MediaPipe's VIDEO mode tracks):
        the landmark estimator then runs one landmark pass there instead of two on the box, and the image
        model with upright crops takes the hand's direction from its rotation. None: unknown.
    landmark_rect_from: (21, 2) the landmarks (continuous px) ``landmark_rect`` was drawn from: a detector
        that sees hands through the camera draws the rect in their view instead
        (``mediapipe_palm.view_from_landmarks``). None: unknown.
    previous: the :class:`HandEstimate` of this hand in the previous frame, where the tracker carried the
        box over from it (``tracking.boxes_from_previous``): the landmark estimator may start its fit
        there instead of at the lifting head's answer (``LandmarkHandsConfig.tracked_steps``). None: a
        fresh detection or a given box.
    """

    xyxy_px: tuple[float, float, float, float]
    side: str
    score: float = 1.0
    side_score: float = 1.0
    landmarks: Any = field(default=None, compare=False, repr=False)
    betas: Any = field(default=None, compare=False, repr=False)
    landmark_rect: tuple[float, float, float, float] | None = field(default=None, compare=False, repr=False)
    landmark_rect_from: Any = field(default=None, compare=False, repr=False)
    previous: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"HandBox.side={self.side!r} not in {set(SIDES)}")
        box = np.asarray(self.xyxy_px, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(
                f"HandBox.xyxy_px={self.xyxy_px!r} must be 4 finite numbers with x1 > x0, y1 > y0"
            )
        for name in ("score", "side_score"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"HandBox.{name}={value!r} must be in [0, 1]")


@dataclass
class HandEstimate:
    """One hand in 3D. Positions in metres in the camera optical frame; pixels of the source image."""

    side: str
    side_confidence: float
    detection_confidence: float
    confidence: float
    crop_box: CropBox
    keypoints_cam_m: np.ndarray  # (21, 3)
    keypoints_px: np.ndarray  # (21, 2), projection of keypoints_cam_m through the camera (with distortion)
    vertices_cam_m: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3), counter-clockwise seen from outside
    wrist_rotation: np.ndarray  # (3, 3), hand-model frame -> camera optical frame
    joint_rotations_aa: np.ndarray  # (15, 3) rad, parent-relative, MANO joint order (this hand's side)
    betas: np.ndarray  # (10,)
    grasp_probabilities: np.ndarray  # (8,)
    intrinsics_estimated: bool
    hand_model: str
    #: the virtual camera of a rectified crop (``crop_mode`` 'rectified' / 'auto', or weights reading
    #: turned crops: ``ModelConfig.crop_roll``); None for box crops
    rectified_crop: RectifiedCrop | None = None
    #: px, mean distance of the projected keypoints to the landmark network's 2D landmarks after the fit
    #: (landmark estimator); NaN where nothing was fitted (image estimator)
    fit_residual_px: float = float("nan")
    #: (21, 2) px (pixel centres), the landmark network's 2D landmarks of this hand: those the fit used
    #: (landmark estimator), those its box carried (image estimator, a box from MediaPipe's detector or its
    #: ``track``); None without. A tracked hand's next landmark rect comes from them.
    landmarks_px: np.ndarray | None = None

    @property
    def wrist_position_m(self) -> np.ndarray:
        return self.keypoints_cam_m[0]

    def is_finite(self) -> bool:
        """Keypoints (3D and 2D) and wrist rotation are all finite numbers."""
        return bool(
            np.all(np.isfinite(self.keypoints_cam_m))
            and np.all(np.isfinite(self.keypoints_px))
            and np.all(np.isfinite(self.wrist_rotation))
        )

    @property
    def grasp_id(self) -> int:
        return int(np.argmax(self.grasp_probabilities))

    @property
    def grasp_label(self) -> str:
        return GRASP_CLASSES[self.grasp_id]
