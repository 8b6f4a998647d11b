"""The hand-detector interface: ``detect(image_rgb, camera=None) -> list[HandBox]``.

A detector finds hands in a full image and says which side each is; the Pipeline then lifts each box to
3D. Detectors know nothing of ROS; the node may also take boxes from an upstream detector instead.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.runtime.hands import HandBox


class HandDetector(Protocol):
    """What every detector provides."""

    name: str

    def detect(self, image_rgb: np.ndarray, camera: CameraModel | None = None) -> list[HandBox]:
        """Hands in ``image_rgb`` ((H, W, 3) uint8 RGB), highest score first; [] when there are none.
        ``camera``: the image's camera model where the caller wants hands seen through it (MediaPipe's
        landmark passes on rectified views); a detector that has no use for it ignores it."""
        ...
