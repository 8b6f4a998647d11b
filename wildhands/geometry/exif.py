"""Intrinsics from an image file's EXIF focal length (photos from phones and cameras), marked *estimated*.

Used when a user runs the demo on their own images without a calibration. The result is a pinhole camera
(principal point at the image centre, square pixels, no distortion) with ``estimated=True``: EXIF gives the
lens' nominal focal length, not a calibration, and says nothing of distortion or cropping.

Two EXIF routes, in order:

1. ``FocalLengthIn35mmFilm`` (tag 0xA405): the focal length giving the same *diagonal* field of view on a
   36 x 24 mm frame (diagonal 43.27 mm): ``f_px = f35 / 43.27 * diagonal_px``.
2. ``FocalLength`` (0x920A, mm) with ``FocalPlaneXResolution`` (0xA20E, pixels per unit) and
   ``FocalPlaneResolutionUnit`` (0xA210: 2 inch, 3 cm, 4 mm): ``f_px = f_mm * px_per_mm``, scaled by
   ``image width / ExifImageWidth`` (0xA002) when the image was resized after capture.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from wildhands.geometry.camera import CameraModel

logger = logging.getLogger(__name__)

__all__ = ["camera_from_exif", "focal_px_from_exif"]

EXIF_IFD = 0x8769
TAG_FOCAL_LENGTH = 0x920A
TAG_FOCAL_35MM = 0xA405
TAG_FOCAL_PLANE_X_RES = 0xA20E
TAG_FOCAL_PLANE_UNIT = 0xA210
TAG_EXIF_IMAGE_WIDTH = 0xA002
DIAGONAL_35MM = math.hypot(36.0, 24.0)  # mm
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0}


def _number(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def focal_px_from_exif(path: str | Path, width: int, height: int) -> tuple[float | None, str]:
    """Focal length in pixels of an image ``width`` x ``height`` from its EXIF, and which route gave it.

    ``(None, reason)`` when the file has no usable EXIF focal length (or Pillow is missing).
    """
    try:
        from PIL import Image
    except ImportError:
        return None, "Pillow not installed"
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            tags = dict(exif.get_ifd(EXIF_IFD))
    except (OSError, ValueError, SyntaxError) as e:  # unreadable file or broken EXIF block
        return None, f"EXIF unreadable: {e}"
    f35 = _number(tags.get(TAG_FOCAL_35MM))
    if f35 is not None:
        return f35 / DIAGONAL_35MM * math.hypot(width, height), f"EXIF FocalLengthIn35mmFilm {f35:g} mm"
    f_mm = _number(tags.get(TAG_FOCAL_LENGTH))
    res = _number(tags.get(TAG_FOCAL_PLANE_X_RES))
    unit = tags.get(TAG_FOCAL_PLANE_UNIT, 2)
    if f_mm is not None and res is not None and unit in _MM_PER_UNIT:
        fx = f_mm * res / _MM_PER_UNIT[unit]
        exif_width = _number(tags.get(TAG_EXIF_IMAGE_WIDTH))
        if exif_width is not None:
            fx *= width / exif_width
        unit_name = {2: "inch", 3: "cm", 4: "mm"}[unit]
        return fx, f"EXIF FocalLength {f_mm:g} mm, focal plane {res:g} px per {unit_name}"
    return None, "no EXIF focal length"


def camera_from_exif(path: str | Path, width: int, height: int) -> tuple[CameraModel | None, str]:
    """A pinhole :class:`CameraModel` (``estimated=True``) from the EXIF focal length, with its source."""
    fx, source = focal_px_from_exif(path, width, height)
    if fx is None:
        return None, source
    if not 0.05 * max(width, height) < fx < 20 * max(width, height):
        logger.warning(
            "%s: EXIF focal length %.0f px is implausible for %dx%d; ignored", path, fx, width, height
        )
        return None, f"implausible EXIF focal length ({fx:.0f} px)"
    K = np.array([[fx, 0.0, (width - 1) / 2], [0.0, fx, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return CameraModel(width=width, height=height, K=K, estimated=True), source
