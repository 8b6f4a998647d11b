"""Square hand crops: boxes, the affine warp into the network's input, and the KPE inputs of a crop.

Conventions (see :mod:`wildhands.geometry.camera`): pixel ``(u, v)``, centre of the top-left pixel at
``(0, 0)``, pixel ``i`` covers ``[i - 0.5, i + 0.5]``. Boxes use *index* semantics: a box starting at
``x0`` with side ``size`` covers the continuous interval ``[x0 - 0.5, x0 + size - 0.5]``, i.e. pixels
``x0 .. x0 + size - 1`` when those are integers; ``xyxy`` boxes likewise cover ``[x0 - 0.5, x1 - 0.5]``
(so ``(0, 0, W, H)`` is the whole image, as detectors report it). The crop is ``out_size`` pixels wide and
its outer edges are the box edges:

    u_crop = (u - x0 + 0.5) * out_size / size - 0.5        (no mirror)
    u_crop = out_size - 1 - [the above]                       (mirror: the crop is flipped left-right)

``v`` maps the same way and is never flipped. Normalized crop coordinates (the weak-perspective camera's,
see :func:`wildhands.geometry.camera.weak_perspective_to_translation`) are
``u_n = 2 (u_crop + 0.5) / out_size - 1`` in [-1, 1] from the left to the right crop edge.

Left hands are mirrored to right hands before the network (``mirror=True``): the network then sees the
horizontally flipped crop, and the KPE inputs are those of the flipped world (theta_x negated).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel

logger = logging.getLogger(__name__)

#: Seconds between two "outside the lens model" warnings (training hits it often on wide-angle crops).
_LENS_WARNING_PERIOD_S = 30.0
_lens_warning = {"last": -math.inf, "suppressed": 0}


def _warn_outside_lens(n_bad: int, n: int) -> None:
    """Log the KPE pinhole fallback at most once per ``_LENS_WARNING_PERIOD_S``, counting the silent ones."""
    now = time.monotonic()
    if now - _lens_warning["last"] < _LENS_WARNING_PERIOD_S:
        _lens_warning["suppressed"] += 1
        return
    logger.warning(
        "KPE: %d of %d sample points outside the lens model; pinhole angles used (%d similar warnings "
        "suppressed in the last %.0f s)",
        n_bad,
        n,
        _lens_warning["suppressed"],
        _LENS_WARNING_PERIOD_S,
    )
    _lens_warning.update(last=now, suppressed=0)


__all__ = [
    "BORDER_MODES",
    "KPE_VARIANTS",
    "CropBox",
    "square_box_from_xyxy",
    "square_box_from_points",
    "crop_affine",
    "warp_crop",
    "image_to_crop",
    "crop_to_image",
    "mirror_box",
    "up_angle",
    "kpe_sample_points",
    "kpe_inputs",
]

BORDER_MODES = ("zero_pad", "clamp")
KPE_VARIANTS = ("sparse", "dense", "free", "none")
_WARP_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def up_angle(from_px: Any, to_px: Any) -> float:
    """Angle (rad, in [-pi, pi)) of the image direction ``from_px -> to_px`` measured from the image's up
    (-v), positive towards +u (clockwise on the screen, y being down): 0 straight up, pi/2 to the right.

    For wrist -> middle MCP it is MediaPipe's hand-rect rotation (``mediapipe_palm``); its negative turns
    a crop so that the direction points up (``perspective_crop.upright_roll``).
    """
    dx, dy = float(to_px[0] - from_px[0]), float(to_px[1] - from_px[1])
    angle = math.pi / 2 - math.atan2(-dy, dx)
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


@dataclass(frozen=True)
class CropBox:
    """A square box in original-image pixels: first pixel ``(x0, y0)``, side ``size`` px.

    Covers ``[x0 - 0.5, x0 + size - 0.5] x [y0 - 0.5, y0 + size - 0.5]``; may extend past the image border.
    """

    x0: float
    y0: float
    size: float

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "size"):
            val = float(getattr(self, name))
            if not math.isfinite(val):
                raise ValueError(f"CropBox.{name} must be finite, got {val}")
            object.__setattr__(self, name, val)
        if not self.size > 0:
            raise ValueError(f"CropBox.size must be > 0, got {self.size}")

    @property
    def x1(self) -> float:
        """One past the last pixel column (exclusive, index semantics)."""
        return self.x0 + self.size

    @property
    def y1(self) -> float:
        return self.y0 + self.size

    @property
    def center(self) -> tuple[float, float]:
        """Centre ``(cx, cy)`` in pixels (pixel-centre convention): ``x0 + (size - 1) / 2``."""
        return (self.x0 + (self.size - 1.0) / 2.0, self.y0 + (self.size - 1.0) / 2.0)

    def as_xyxy(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` with index semantics (x1, y1 exclusive)."""
        return (self.x0, self.y0, self.x1, self.y1)

    @classmethod
    def from_center(cls, center_px: Any, size: float) -> CropBox:
        """Box of side ``size`` whose centre (pixel-centre convention) is ``center_px``."""
        c = np.asarray(center_px, dtype=np.float64).reshape(-1)
        if c.shape != (2,):
            raise ValueError(f"center_px must have 2 numbers, got {c.shape}")
        return cls(c[0] - (size - 1.0) / 2.0, c[1] - (size - 1.0) / 2.0, size)


def _check_image_size(image_size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in image_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"image_size must be (width, height), got {image_size!r}") from exc
    if w <= 0 or h <= 0:
        raise ValueError(f"image_size must be (width, height) > 0, got {image_size!r}")
    return w, h


def _check_border(border: str) -> None:
    if border not in BORDER_MODES:
        raise ValueError(f"border must be one of {BORDER_MODES}, got {border!r}")


def _square(center: np.ndarray, side: float, image_size: tuple[int, int], border: str) -> CropBox:
    """The square of side ``side`` centred on ``center``; with 'clamp', shifted/shrunk into the image."""
    w, h = image_size
    box = CropBox.from_center(center, side)
    if border == "zero_pad":
        return box
    size = min(side, float(w), float(h))
    if size < side:
        logger.debug("clamp: box side %.1f px shrunk to %.1f px to fit a %dx%d image", side, size, w, h)
    box = CropBox.from_center(center, size)
    x0 = min(max(box.x0, 0.0), w - size)
    y0 = min(max(box.y0, 0.0), h - size)
    return CropBox(x0, y0, size)


def square_box_from_xyxy(
    xyxy: Any,
    image_size: Any,
    scale: float = 1.0,
    border: str = "zero_pad",
    min_size_px: float = 8.0,
) -> CropBox:
    """Square box around a tight box ``xyxy`` = (x0, y0, x1, y1) (index semantics, x1/y1 exclusive).

    Side = ``max(scale * max(w, h), min_size_px)``, same centre. ``border='clamp'`` shifts the square (and
    shrinks it if it is larger than the image) to lie inside the image; ``'zero_pad'`` keeps it where it
    is (``warp_crop`` pads with zeros). ``image_size`` is (width, height). Raises ValueError for non-finite
    or degenerate boxes and for boxes fully outside the image.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        raise ValueError(f"xyxy must have 4 numbers (x0, y0, x1, y1), got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"xyxy must be finite, got {b.tolist()}")
    if not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"xyxy must have x1 > x0 and y1 > y0, got {b.tolist()}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    _check_border(border)
    size_wh = _check_image_size(image_size)
    w, h = size_wh
    if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
        raise ValueError(f"xyxy {b.tolist()} lies fully outside the {w}x{h} image")
    side = max(scale * max(b[2] - b[0], b[3] - b[1]), float(min_size_px))
    center = np.array([(b[0] + b[2]) / 2.0 - 0.5, (b[1] + b[3]) / 2.0 - 0.5])
    return _square(center, side, size_wh, border)


def square_box_from_points(
    uv_px: Any,
    image_size: Any,
    scale: float = 1.5,
    border: str = "zero_pad",
    min_size_px: float = 8.0,
) -> CropBox:
    """Square box around pixel positions ``uv_px`` (N, 2), e.g. projected keypoints.

    Centre = midpoint of the extremes; side = ``max(scale * max(u_max - u_min, v_max - v_min), min_size_px)``.
    NaN rows are ignored; no finite point, or all points outside the image, raises ValueError.
    """
    p = np.asarray(uv_px, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"uv_px must have shape (N, 2), got {p.shape}")
    p = p[np.all(np.isfinite(p), axis=1)]
    if p.shape[0] == 0:
        raise ValueError("uv_px has no finite point")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    _check_border(border)
    size_wh = _check_image_size(image_size)
    w, h = size_wh
    inside = (p[:, 0] > -0.5) & (p[:, 0] < w - 0.5) & (p[:, 1] > -0.5) & (p[:, 1] < h - 0.5)
    if not np.any(inside):
        raise ValueError(f"all uv_px lie outside the {w}x{h} image")
    lo, hi = p.min(axis=0), p.max(axis=0)
    side = max(scale * float(np.max(hi - lo)), float(min_size_px))
    return _square((lo + hi) / 2.0, side, size_wh, border)


def _check_out_size(out_size: int) -> int:
    if isinstance(out_size, bool) or int(out_size) != out_size or out_size <= 0:
        raise ValueError(f"out_size must be an integer > 0, got {out_size!r}")
    return int(out_size)


def crop_affine(box: CropBox, out_size: int = 224, mirror: bool = False) -> np.ndarray:
    """(2, 3) float64 affine matrix mapping original pixels to crop pixels (module conventions)."""
    out_size = _check_out_size(out_size)
    a = out_size / box.size
    M = np.array(
        [
            [a, 0.0, a * (0.5 - box.x0) - 0.5],
            [0.0, a, a * (0.5 - box.y0) - 0.5],
        ]
    )
    if mirror:
        M[0] = -M[0]
        M[0, 2] += out_size - 1
    return M


def _points(uv: Any, name: str) -> np.ndarray:
    p = np.asarray(uv, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {p.shape}")
    return p


def image_to_crop(uv_px: Any, box: CropBox, out_size: int = 224, mirror: bool = False) -> np.ndarray:
    """Original pixels (N, 2) -> crop pixels (N, 2); the inverse of :func:`crop_to_image`."""
    p = _points(uv_px, "uv_px")
    M = crop_affine(box, out_size, mirror)
    return p @ M[:, :2].T + M[:, 2]


def crop_to_image(uv_crop: Any, box: CropBox, out_size: int = 224, mirror: bool = False) -> np.ndarray:
    """Crop pixels (N, 2) -> original pixels (N, 2); the inverse of :func:`image_to_crop`."""
    p = _points(uv_crop, "uv_crop")
    out_size = _check_out_size(out_size)
    u = p[:, 0]
    if mirror:
        u = out_size - 1 - u
    k = box.size / out_size
    return np.stack([(u + 0.5) * k - 0.5 + box.x0, (p[:, 1] + 0.5) * k - 0.5 + box.y0], axis=1)


def warp_crop(
    image: np.ndarray,
    box: CropBox,
    out_size: int = 224,
    mirror: bool = False,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Cut the square ``box`` out of ``image`` (H, W) or (H, W, C), resized to ``out_size``, via
    ``cv2.warpAffine``; outside the image is zero. Returns (out, out) or (out, out, C), same dtype.

    For boxes much larger than the output, ``INTER_LINEAR`` aliases; blur first or pass ``INTER_AREA``-like
    pre-resized images if that matters.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have shape (H, W) or (H, W, C) with H, W > 0, got {image.shape}")
    if image.ndim == 3 and image.shape[2] == 0:
        raise ValueError(f"image has no channels, shape {image.shape}")
    if image.dtype.type not in _WARP_DTYPES:
        allowed = ", ".join(np.dtype(t).name for t in _WARP_DTYPES)
        raise ValueError(f"image dtype must be one of {{{allowed}}}, got {image.dtype}")
    out_size = _check_out_size(out_size)
    M = crop_affine(box, out_size, mirror)

    def warp(img: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(
            np.ascontiguousarray(img),
            M,
            (out_size, out_size),
            flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    if image.ndim == 2:
        return warp(image)
    c = image.shape[2]
    if c <= 4:
        out = warp(image)
        return out.reshape(out_size, out_size, c)
    return np.stack([warp(image[:, :, i]) for i in range(c)], axis=2)


def mirror_box(box: CropBox, cx: float) -> CropBox:
    """The box in the image mirrored about the vertical line ``u = cx`` (u -> 2 cx - u).

    The covered interval ``[x0 - 0.5, x1 - 0.5]`` maps to ``[2cx - x1 + 0.5, 2cx - x0 + 0.5]``, so
    ``x0' = 2 cx - x1 + 1``. Flipping a W-pixel-wide image is ``cx = (W - 1) / 2``. Self-inverse.
    """
    if not math.isfinite(cx):
        raise ValueError(f"cx must be finite, got {cx}")
    return CropBox(2.0 * cx - box.x1 + 1.0, box.y0, box.size)


def _variant(variant: Any) -> str:
    v = getattr(variant, "value", variant)
    if not isinstance(v, str) or v.lower() not in KPE_VARIANTS:
        raise ValueError(f"variant must be one of {KPE_VARIANTS}, got {variant!r}")
    return v.lower()


def kpe_sample_points(
    box: CropBox,
    variant: Any,
    grid: int = 7,
    out_size: int = 224,
    mirror: bool = False,
) -> np.ndarray:
    """Original-image pixel positions (P, 2) where the KPE angles of a crop are taken.

    'sparse' / 'free': 5 points, the crop's outer corners then its centre, in the order top-left, top-right,
    bottom-left, bottom-right, centre (crop positions (-0.5, -0.5), (out - 0.5, -0.5), (-0.5, out - 0.5),
    (out - 0.5, out - 0.5), ((out - 1) / 2, (out - 1) / 2), i.e. the box edges). 'dense': the centres of
    the ``grid x grid`` cells of the crop, row-major (P = grid^2). With ``mirror=True`` the positions are
    those of the flipped crop (its top-left corner is the original top-right, ...). The result does not
    depend on ``out_size`` (kept for symmetry with the other crop functions). 'none' has no points.
    """
    v = _variant(variant)
    out_size = _check_out_size(out_size)
    o = float(out_size)
    if v in ("sparse", "free"):
        crop_pts = np.array([[-0.5, -0.5], [o - 0.5, -0.5], [-0.5, o - 0.5], [o - 0.5, o - 0.5]])
        crop_pts = np.concatenate([crop_pts, [[(o - 1) / 2.0, (o - 1) / 2.0]]], axis=0)
    elif v == "dense":
        if isinstance(grid, bool) or int(grid) != grid or grid <= 0:
            raise ValueError(f"grid must be an integer > 0, got {grid!r}")
        c = (np.arange(grid) + 0.5) * o / grid - 0.5  # cell centres in crop pixels
        vv, uu = np.meshgrid(c, c, indexing="ij")  # row-major: v outer, u inner
        crop_pts = np.stack([uu.ravel(), vv.ravel()], axis=1)
    else:
        return np.zeros((0, 2))
    return crop_to_image(crop_pts, box, out_size, mirror)


def kpe_inputs(
    camera: CameraModel,
    box: CropBox,
    variant: Any,
    mirror: bool = False,
    grid: int = 7,
) -> np.ndarray:
    """THE function that feeds the network's ``kpe`` input: (P, 2) float32 for one crop.

    * 'sparse' (P = 5) / 'dense' (P = grid^2): ``camera.pixels_to_angles`` (radians, undistorted rays) at
      :func:`kpe_sample_points`; with ``mirror=True`` theta_x is negated (the flipped crop sees a mirrored
      world), so a mirrored left hand gets the encoding of the right hand it looks like.
    * 'free' (P = 5): normalized pixel coordinates ``(u / (W - 1) * 2 - 1, v / (H - 1) * 2 - 1)`` of the
      same points as 'sparse' (intrinsics-free ablation); mirror negates the u coordinate likewise.
    * 'none': zeros (5, 2).

    ``variant`` may be a string or an Enum whose ``.value`` is one of those strings. The sinusoidal
    encoding of these values is the model's job (``wildhands.model.kpe``).
    """
    v = _variant(variant)
    if v == "none":
        return np.zeros((5, 2), dtype=np.float32)
    pts = kpe_sample_points(box, v, grid=grid, mirror=mirror)
    if v == "free":
        w, h = camera.width, camera.height
        vals = np.stack([pts[:, 0] / max(w - 1, 1) * 2 - 1, pts[:, 1] / max(h - 1, 1) * 2 - 1], axis=1)
    else:
        vals = camera.pixels_to_angles(pts)
        bad = ~np.all(np.isfinite(vals), axis=1)
        if np.any(bad):
            # Outside the distortion model's valid domain (e.g. far past the image border of a strong
            # lens): fall back to the undistorted pinhole angles rather than feed NaN to the network.
            _warn_outside_lens(int(bad.sum()), len(bad))
            pin = CameraModel(camera.width, camera.height, camera.K)
            vals[bad] = pin.pixels_to_angles(pts[bad])
    if mirror:
        vals[:, 0] = -vals[:, 0]
    return vals.astype(np.float32)
