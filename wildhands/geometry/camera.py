"""Camera model: intrinsics, lens distortion, pixel <-> ray conversions, weak-perspective <-> metric.

Conventions (used everywhere in :mod:`wildhands.geometry`):

* Units: metres, radians, pixels. Names carry the unit (``uv_px``, ``points_cam_m``, ``box_size_px``).
* Frames: right-handed camera **optical** frame, x right, y down, z forward (REP-103).
* Pixels: ``(u, v)`` = (column, row). The **centre** of the top-left pixel is ``(0, 0)``; pixel ``i``
  covers the continuous interval ``[i - 0.5, i + 0.5]``. This is the convention of ``sensor_msgs/CameraInfo``
  and of OpenCV (``projectPoints``, ``warpAffine``), so K is used as published, with no half-pixel shifts.
* Distortion models follow ``sensor_msgs/CameraInfo``: ``plumb_bob`` (k1, k2, p1, p2, k3),
  ``rational_polynomial`` (k1, k2, p1, p2, k3, k4, k5, k6), ``equidistant`` (fisheye k1..k4, angle
  model ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``). An empty
  ``distortion_model`` string means no distortion.

The numpy paths call OpenCV (``cv2.undistortPoints`` with a termination criterion, ``cv2.projectPoints``)
where OpenCV does the job; the two places that are hand-written say why (Newton refinement of the inverse
of strong radial distortion, and the equidistant model beyond 90 degrees, which OpenCV's x/z formulation
cannot express).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = [
    "DistortionModel",
    "CameraModel",
    "pinhole_focal_px",
    "project_torch",
    "weak_perspective_to_translation",
    "weak_perspective_to_translation_np",
    "translation_to_weak_perspective",
    "translation_to_weak_perspective_np",
]

# Smallest weak-perspective scale accepted by the torch conversion (it is clamped to this, 1/m).
WP_SCALE_EPS = 1e-4

# Plausible intrinsics (CameraModel.check_plausible): field of view in degrees, largest fx/fy ratio.
MIN_FOV_DEG = 1.0
MAX_FOV_DEG = 175.0  # pinhole-type models (none, plumb_bob, rational_polynomial)
MAX_FISHEYE_FOV_DEG = 280.0  # equidistant
MAX_PIXEL_ASPECT = 4.0


class DistortionModel(str, enum.Enum):
    """Lens distortion model, spelled as in ``sensor_msgs/CameraInfo.distortion_model``."""

    NONE = "none"
    PLUMB_BOB = "plumb_bob"
    RATIONAL_POLYNOMIAL = "rational_polynomial"
    EQUIDISTANT = "equidistant"

    @classmethod
    def _missing_(cls, value: object) -> DistortionModel:
        if isinstance(value, str):
            v = value.strip().lower()
            if v == "":
                return cls.NONE
            for member in cls:
                if member.value == v:
                    return member
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"distortion_model must be one of {{{allowed}}} ('' means none), got {value!r}")

    @property
    def num_coeffs(self) -> int:
        """Number of distortion coefficients the model uses."""
        return _NUM_COEFFS[self]


_NUM_COEFFS = {
    DistortionModel.NONE: 0,
    DistortionModel.PLUMB_BOB: 5,
    DistortionModel.RATIONAL_POLYNOMIAL: 8,
    DistortionModel.EQUIDISTANT: 4,
}

# Undistortion settings: OpenCV's iterative solver, then Newton steps on OpenCV's forward model.
_CV_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14)
_NEWTON_STEPS = 8
_NEWTON_TOL_NORM = 1e-12  # in normalized image units; ~1e-9 px at f = 1000 px


def _cv_undistort_points_iter(xy_d: np.ndarray, D: np.ndarray) -> np.ndarray:
    """OpenCV's iterative undistortion of (N, 1, 2) normalized points with :data:`_CV_UNDISTORT_CRITERIA`.

    OpenCV 4 names the overload with a criterion ``undistortPointsIter``; OpenCV 5 dropped that name and
    gave ``undistortPoints`` the ``criteria`` argument (same algorithm)."""
    if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4
        return cv2.undistortPointsIter(xy_d, np.eye(3), D, None, None, _CV_UNDISTORT_CRITERIA)
    return cv2.undistortPoints(xy_d, np.eye(3), D, R=None, P=None, criteria=_CV_UNDISTORT_CRITERIA)


def _as_points(arr: Any, dim: int, name: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] == dim:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {a.shape}")
    return a


def _get(info: Any, *names: str, default: Any = None) -> Any:
    """Read the first present key/attribute of ``names`` from a mapping or an object."""
    for n in names:
        if isinstance(info, Mapping):
            if n in info:
                return info[n]
        elif hasattr(info, n):
            return getattr(info, n)
    return default


def pinhole_focal_px(size_px: float, fov_rad: float) -> float:
    """The focal length (px) at which a pinhole image ``size_px`` wide spans ``fov_rad`` across its outer
    pixel edges, principal point centred: ``(size / 2) / tan(fov / 2)`` (``CameraModel.nominal_fov_rad`` is
    its inverse)."""
    return (size_px / 2.0) / math.tan(fov_rad / 2.0)


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics and distortion of one camera (the raw, distorted image a ``CameraInfo`` describes).

    Attributes:
        width, height: image size in pixels.
        K: (3, 3) float64 camera matrix in pixels ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``; the pixel
            centre convention is the module's (top-left pixel centre at (0, 0)).
        distortion_model: a :class:`DistortionModel` (strings are accepted and converted).
        D: float64 distortion coefficients, length 0 (none), 5 (plumb_bob), 8 (rational_polynomial) or
            4 (equidistant). Longer vectors (OpenCV's 12/14 coefficient forms, a 5-vector for
            equidistant) are accepted for every model when each extra coefficient is zero.
        estimated: True when the intrinsics were guessed (e.g. :meth:`from_fov`), not calibrated.

    The arrays are stored as read-only copies.
    """

    width: int
    height: int
    K: np.ndarray
    distortion_model: DistortionModel = DistortionModel.NONE
    D: np.ndarray = field(default_factory=lambda: np.zeros(0))
    estimated: bool = False

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        for name in ("width", "height"):
            val = getattr(self, name)
            if isinstance(val, bool) or not float(val).is_integer() or int(val) <= 0:
                raise ValueError(f"{name} must be an integer > 0, got {val!r}")
            object.__setattr__(self, name, int(val))
        model = DistortionModel(self.distortion_model)
        object.__setattr__(self, "distortion_model", model)

        K = np.array(self.K, dtype=np.float64)
        if K.shape == (9,):
            K = K.reshape(3, 3)
        if K.shape != (3, 3):
            raise ValueError(f"K must have shape (3, 3), got {K.shape}")
        if not np.all(np.isfinite(K)):
            bad = ", ".join(f"K[{i},{j}]={K[i, j]}" for i, j in zip(*np.nonzero(~np.isfinite(K))))
            if not np.isfinite(K[0, 0]):
                raise ValueError(f"fx must be finite and > 0, got {K[0, 0]}")
            if not np.isfinite(K[1, 1]):
                raise ValueError(f"fy must be finite and > 0, got {K[1, 1]}")
            raise ValueError(f"K must be finite, got {bad}")
        if not K[0, 0] > 0:
            raise ValueError(f"fx must be finite and > 0, got {K[0, 0]}")
        if not K[1, 1] > 0:
            raise ValueError(f"fy must be finite and > 0, got {K[1, 1]}")
        if K[1, 0] != 0.0 or not np.array_equal(K[2], [0.0, 0.0, 1.0]):
            raise ValueError(f"K rows 2 and 3 must be [0, fy, cy] and [0, 0, 1], got {K[1].tolist()}, {K[2]}")
        K.setflags(write=False)
        object.__setattr__(self, "K", K)

        D = np.array(self.D if self.D is not None else [], dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(D)):
            raise ValueError(f"D must be finite, got {D.tolist()}")
        n = model.num_coeffs
        if model is DistortionModel.NONE:
            if np.any(D != 0):
                raise ValueError(
                    f"D must be empty (or all zero) for distortion_model 'none', got {D.tolist()}"
                )
            D = np.zeros(0)
        elif D.size > n:  # e.g. OpenCV's 12/14-coefficient rational forms, a 5-vector for equidistant
            if np.any(D[n:] != 0):
                raise ValueError(
                    f"D for {model.value} uses {n} coefficients; the extra ones must be zero, "
                    f"got D={D.tolist()}"
                )
            D = D[:n].copy()
        elif D.size != n:
            raise ValueError(
                f"D must have {n} coefficients for distortion_model '{model.value}', got {D.size}"
            )
        D.setflags(write=False)
        object.__setattr__(self, "D", D)
        object.__setattr__(self, "estimated", bool(self.estimated))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraModel):
            return NotImplemented
        return (
            self.width == other.width
            and self.height == other.height
            and self.distortion_model is other.distortion_model
            and np.array_equal(self.K, other.K)
            and np.array_equal(self.D, other.D)
            and self.estimated == other.estimated
        )

    def __hash__(self) -> int:
        return hash((self.width, self.height, self.K.tobytes(), self.distortion_model, self.D.tobytes()))

    # ------------------------------------------------------------------ properties
    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def skew(self) -> float:
        return float(self.K[0, 1])

    @property
    def is_fisheye(self) -> bool:
        return self.distortion_model is DistortionModel.EQUIDISTANT

    def nominal_fov_rad(self) -> tuple[float, float]:
        """Horizontal and vertical field of view (rad) that K implies over the image, lens coefficients
        ignored: the pinhole angles for none/plumb_bob/rational_polynomial, the equidistant ones
        (``theta = r / f``) for fisheye. A plausibility measure, not a calibration result."""
        edges = (
            (self.cx + 0.5, self.width - 0.5 - self.cx, self.fx),
            (self.cy + 0.5, self.height - 0.5 - self.cy, self.fy),
        )
        if self.is_fisheye:
            return tuple((a + b) / f for a, b, f in edges)  # type: ignore[return-value]
        return tuple(math.atan(a / f) + math.atan(b / f) for a, b, f in edges)  # type: ignore[return-value]

    def check_plausible(self) -> None:
        """ValueError when these intrinsics cannot be a real camera's: a field of view outside
        [MIN_FOV_DEG, MAX_FOV_DEG] (MAX_FISHEYE_FOV_DEG for equidistant), a principal point outside the
        image, or pixels more than MAX_PIXEL_ASPECT times taller than wide (or wider than tall).

        A CameraInfo can be valid to the message yet absurd (fx = 1e12 puts a hand at z ~ 1e9 m, fx = 1e-6
        at z ~ 0); calibrated intrinsics always pass."""
        if not (-0.5 <= self.cx <= self.width - 0.5 and -0.5 <= self.cy <= self.height - 0.5):
            raise ValueError(
                f"principal point ({self.cx:g}, {self.cy:g}) px lies outside the "
                f"{self.width}x{self.height} image"
            )
        if not 1.0 / MAX_PIXEL_ASPECT <= self.fx / self.fy <= MAX_PIXEL_ASPECT:
            raise ValueError(
                f"fx / fy = {self.fx / self.fy:.3g} is outside [1/{MAX_PIXEL_ASPECT}, {MAX_PIXEL_ASPECT}]"
            )
        high = MAX_FISHEYE_FOV_DEG if self.is_fisheye else MAX_FOV_DEG
        for axis, fov in zip(("horizontal", "vertical"), self.nominal_fov_rad()):
            deg = math.degrees(fov)
            if not MIN_FOV_DEG <= deg <= high:
                raise ValueError(
                    f"K (fx={self.fx:g}, fy={self.fy:g}) implies a {axis} field of view of {deg:.3g} deg, "
                    f"outside [{MIN_FOV_DEG:g}, {high:g}] deg for {self.distortion_model.value}"
                )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_K(
        cls,
        K: Any,
        width: int,
        height: int,
        D: Any = None,
        distortion_model: DistortionModel | str = "none",
        estimated: bool = False,
    ) -> CameraModel:
        """Build from a (3, 3) (or 9-element row-major) camera matrix in pixels."""
        return cls(
            width=width,
            height=height,
            K=np.asarray(K, dtype=np.float64),
            distortion_model=DistortionModel(distortion_model),
            D=np.zeros(0) if D is None else np.asarray(D, dtype=np.float64),
            estimated=estimated,
        )

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_rad: float) -> CameraModel:
        """Pinhole guess: square pixels, principal point at the image centre, ``estimated=True``.

        The horizontal field of view spans the outer pixel edges: ``fx = (width / 2) / tan(hfov / 2)``,
        ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2`` (pixel-centre convention).
        """
        if not (math.isfinite(hfov_rad) and 0.0 < hfov_rad < math.pi):
            raise ValueError(f"hfov_rad must be finite and in (0, pi), got {hfov_rad}")
        if not (width > 0 and height > 0):
            raise ValueError(f"width and height must be > 0, got width={width}, height={height}")
        f = pinhole_focal_px(width, hfov_rad)
        K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(width=width, height=height, K=K, estimated=True)

    @classmethod
    def from_camera_info(cls, info: Any) -> CameraModel:
        """Build from a ``sensor_msgs/CameraInfo`` message or a dict with the same fields (duck-typed).

        Reads ``width``, ``height``, ``k`` (9 numbers, row-major; ``K`` also accepted), ``d`` (or ``D``),
        ``distortion_model``, and, when present, ``binning_x``/``binning_y`` and ``roi``. With binning or a
        region of interest the returned model describes the published (binned/cropped) image:
        ``fx' = fx / bx``, ``cx' = (cx - x_offset - (bx - 1) / 2) / bx`` (pixel-centre convention).
        The model describes the *raw* image (K, D); for an already rectified image build the camera from
        ``P[:, :3]`` with :meth:`from_K` instead.
        """
        width = _get(info, "width")
        height = _get(info, "height")
        if width is None or height is None:
            raise ValueError("CameraInfo needs 'width' and 'height'")
        k = _get(info, "k", "K")
        if k is None:
            raise ValueError("CameraInfo needs 'k' (9 numbers, row-major)")
        k = np.asarray(k, dtype=np.float64).reshape(-1)
        if k.size != 9:
            raise ValueError(f"CameraInfo k must have 9 numbers, got {k.size}")
        if np.all(k == 0):
            raise ValueError(
                "CameraInfo K is all zeros (uncalibrated camera): calibrate it, or give intrinsics "
                "explicitly / a field-of-view estimate (CameraModel.from_fov)"
            )
        d = _get(info, "d", "D")
        d = np.zeros(0) if d is None else np.asarray(d, dtype=np.float64).reshape(-1)
        model_str = _get(info, "distortion_model", default="")
        model = DistortionModel(model_str if model_str is not None else "")
        K = k.reshape(3, 3).copy()
        width, height = int(width), int(height)

        bx = int(_get(info, "binning_x", default=0) or 0)
        by = int(_get(info, "binning_y", default=0) or 0)
        roi = _get(info, "roi")
        ox = int(_get(roi, "x_offset", default=0) or 0) if roi is not None else 0
        oy = int(_get(roi, "y_offset", default=0) or 0) if roi is not None else 0
        rw = int(_get(roi, "width", default=0) or 0) if roi is not None else 0
        rh = int(_get(roi, "height", default=0) or 0) if roi is not None else 0
        if bx < 0 or by < 0:
            raise ValueError(f"CameraInfo binning must be >= 0, got binning_x={bx}, binning_y={by}")
        bx, by = max(bx, 1), max(by, 1)
        if (rw == 0) != (rh == 0):
            raise ValueError(f"CameraInfo roi must set both width and height or neither, got {rw}x{rh}")
        if rw > 0:
            width, height = rw, rh
        if bx > 1 or by > 1 or ox or oy:
            K[0, 0] /= bx
            K[0, 1] /= bx
            K[0, 2] = (K[0, 2] - ox - (bx - 1) / 2.0) / bx
            K[1, 1] /= by
            K[1, 2] = (K[1, 2] - oy - (by - 1) / 2.0) / by
            width, height = width // bx, height // by
            logger.debug("CameraInfo binning %dx%d, roi offset (%d, %d): K adjusted", bx, by, ox, oy)
        return cls(width=width, height=height, K=K, distortion_model=model, D=d)

    def to_camera_info_dict(self) -> dict[str, Any]:
        """The ``sensor_msgs/CameraInfo`` fields as a dict (``k``, ``d``, ``r``, ``p`` as flat lists).

        No distortion is written as ``distortion_model=''`` with an empty ``d``; ``r`` is the identity
        and ``p = [K | 0]``. ``estimated`` is not part of CameraInfo and is not written.
        """
        P = np.zeros((3, 4))
        P[:, :3] = self.K
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": ""
            if self.distortion_model is DistortionModel.NONE
            else self.distortion_model.value,
            "d": self.D.tolist(),
            "k": self.K.reshape(-1).tolist(),
            "r": np.eye(3).reshape(-1).tolist(),
            "p": P.reshape(-1).tolist(),
            "binning_x": 0,
            "binning_y": 0,
        }

    def mirrored(self) -> CameraModel:
        """The camera of the horizontally flipped image (u -> width - 1 - u).

        ``cx' = width - 1 - cx``, skew and the tangential coefficient p2 change sign (x -> -x in the
        normalized plane); fisheye and radial coefficients are unchanged.
        """
        K = self.K.copy()
        K[0, 2] = self.width - 1 - K[0, 2]
        K[0, 1] = -K[0, 1]
        D = self.D.copy()
        if self.distortion_model in (DistortionModel.PLUMB_BOB, DistortionModel.RATIONAL_POLYNOMIAL):
            D[3] = -D[3]
        return CameraModel(self.width, self.height, K, self.distortion_model, D, self.estimated)

    def turned_clockwise(self) -> CameraModel:
        """The camera of the image turned by 90 deg clockwise on the screen (``np.rot90(image, k=-1)``: pixel
        (u, v) -> (height - 1 - v, u); width and height swap): the same lens rolled about its optical axis,
        a camera-frame point (X, Y, Z) seen at (-Y, X, Z). ``fx' = fy``, ``fy' = fx``, ``cx' = height - 1 -
        cy``, ``cy' = cx``; radial and fisheye coefficients are unchanged, the tangential ones become
        (p1', p2') = (p2, -p1). Needs zero skew (ValueError otherwise)."""
        if self.K[0, 1] != 0.0:
            raise ValueError(f"turned_clockwise needs zero skew, got {self.K[0, 1]}")
        K = np.array(
            [
                [self.K[1, 1], 0.0, self.height - 1 - self.K[1, 2]],
                [0.0, self.K[0, 0], self.K[0, 2]],
                [0, 0, 1.0],
            ]
        )
        D = self.D.copy()
        if self.distortion_model in (DistortionModel.PLUMB_BOB, DistortionModel.RATIONAL_POLYNOMIAL):
            D[2], D[3] = self.D[3], -self.D[2]
        return CameraModel(self.height, self.width, K, self.distortion_model, D, self.estimated)

    def scaled(self, factor: float) -> CameraModel:
        """The camera of the image resized by ``factor`` (pixel-centre convention: c' = (c + 0.5) f - 0.5)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor must be finite and > 0, got {factor}")
        K = self.K.copy()
        K[:2, :2] *= factor
        K[:2, 2] = (K[:2, 2] + 0.5) * factor - 0.5
        w, h = round(self.width * factor), round(self.height * factor)
        return CameraModel(w, h, K, self.distortion_model, self.D, self.estimated)

    # ------------------------------------------------------------------ K on the normalized plane
    def _pixels_to_distorted_norm(self, uv_px: np.ndarray) -> np.ndarray:
        """Apply K^-1 (with skew): pixels -> distorted normalized coordinates (N, 2)."""
        yd = (uv_px[:, 1] - self.cy) / self.fy
        xd = (uv_px[:, 0] - self.cx - self.skew * yd) / self.fx
        return np.stack([xd, yd], axis=1)

    def _distorted_norm_to_pixels(self, xy_d: np.ndarray) -> np.ndarray:
        u = self.fx * xy_d[:, 0] + self.skew * xy_d[:, 1] + self.cx
        v = self.fy * xy_d[:, 1] + self.cy
        return np.stack([u, v], axis=1)

    # OpenCV ignores the skew term of K in projectPoints/undistortPoints, so K is applied here and
    # OpenCV only sees the distortion, on the normalized plane (camera matrix = identity).
    def _distort_norm(self, xy: np.ndarray, with_jacobian: bool = False) -> Any:
        """Forward radial-tangential distortion on the normalized plane: OpenCV's model (plumb_bob's 5 or the
        rational polynomial's 8 coefficients), evaluated in numpy (the same values as ``cv2.projectPoints``
        to rounding, ~10x faster on the ~50 k rays of a rectified crop), or through ``cv2.projectPoints``
        with its Jacobian (``with_jacobian``: d(xy_d)/d(xy), (N, 2, 2))."""
        if not with_jacobian:
            k = np.zeros(8)
            k[: self.D.size] = self.D
            k1, k2, p1, p2, k3, k4, k5, k6 = k
            x, y = xy[:, 0], xy[:, 1]
            r2 = x * x + y * y
            radial = (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
            xy_x = 2.0 * x * y
            return np.stack(
                [
                    x * radial + p1 * xy_x + p2 * (r2 + 2.0 * x * x),
                    y * radial + p1 * (r2 + 2.0 * y * y) + p2 * xy_x,
                ],
                axis=1,
            )
        n = xy.shape[0]
        pts = np.concatenate([xy, np.ones((n, 1))], axis=1).reshape(-1, 1, 3)
        out, jac = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), np.eye(3), self.D)
        xy_d = out.reshape(n, 2)
        # Columns 3:6 of the Jacobian are d(uv)/d(tvec), i.e. d(uv)/d(point); at z = 1 the x, y columns
        # are d(xy_d)/d(xy) of each point.
        J = jac[:, 3:5].reshape(n, 2, 2)
        return xy_d, J

    def _undistort_norm(self, xy_d: np.ndarray) -> np.ndarray:
        """Inverse radial-tangential distortion: OpenCV's iteration, then Newton on OpenCV's forward model.

        OpenCV's undistortion is a fixed-point iteration that converges slowly (or stalls) for strong
        distortion near the image corners; a few Newton steps with the exact Jacobian from
        ``cv2.projectPoints`` bring the round trip to ~1e-9 px.
        """
        xy = _cv_undistort_points_iter(xy_d.reshape(-1, 1, 2), self.D).reshape(-1, 2)
        bad = ~np.all(np.isfinite(xy), axis=1)
        xy[bad] = xy_d[bad]
        for _ in range(_NEWTON_STEPS):
            f, J = self._distort_norm(xy, with_jacobian=True)
            r = f - xy_d
            if not np.any(np.abs(r) >= _NEWTON_TOL_NORM):  # NaN rows do not block the exit
                break
            det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
            det = np.where(np.abs(det) < 1e-12, np.nan, det)
            dx = (J[:, 1, 1] * r[:, 0] - J[:, 0, 1] * r[:, 1]) / det
            dy = (-J[:, 1, 0] * r[:, 0] + J[:, 0, 0] * r[:, 1]) / det
            xy = xy - np.stack([dx, dy], axis=1)
        # Where the forward model folds over (no valid inverse), mark the point invalid.
        resid = np.linalg.norm(self._distort_norm(np.nan_to_num(xy)) - xy_d, axis=1)
        invalid = ~np.isfinite(resid) | (resid > 1e-6) | ~np.all(np.isfinite(xy), axis=1)
        if np.any(invalid):
            logger.debug("undistortion did not converge for %d of %d points", int(invalid.sum()), len(xy))
            xy[invalid] = np.nan
        return xy

    # equidistant: theta_d = theta * (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8), r_d = |xy_d|.
    # Hand-written because cv2.fisheye works with x/z, i.e. only for rays less than 90 degrees off-axis.
    def _fisheye_theta_d(self, theta: np.ndarray) -> np.ndarray:
        k1, k2, k3, k4 = self.D
        t2 = theta * theta
        return theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))

    def _fisheye_dtheta_d(self, theta: np.ndarray) -> np.ndarray:
        k1, k2, k3, k4 = self.D
        t2 = theta * theta
        return 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))

    def _fisheye_solve_theta(self, theta_d: np.ndarray) -> np.ndarray:
        """Invert theta_d(theta) by safeguarded Newton on [0, pi]; NaN where no monotone inverse exists."""
        theta = theta_d.copy()
        for _ in range(50):
            f = self._fisheye_theta_d(theta) - theta_d
            df = self._fisheye_dtheta_d(theta)
            step = f / np.where(np.abs(df) < 1e-9, 1e-9, df)
            theta = np.clip(theta - step, 0.0, math.pi)
            if np.max(np.abs(step), initial=0.0) < 1e-14:
                break
        ok = (np.abs(self._fisheye_theta_d(theta) - theta_d) < 1e-9) & (self._fisheye_dtheta_d(theta) > 0)
        return np.where(ok, theta, np.nan)

    # ------------------------------------------------------------------ public numpy API
    def pixels_to_rays(self, uv_px: Any) -> np.ndarray:
        """Unit rays (N, 3) in the optical frame through pixels ``uv_px`` (N, 2) of the distorted image.

        For ``equidistant`` the ray comes from the fisheye angle, so pixels more than 90 degrees off-axis
        give rays with z <= 0. Pixels outside the model's valid domain give NaN rows.
        """
        uv = _as_points(uv_px, 2, "uv_px")
        xy_d = self._pixels_to_distorted_norm(uv)
        if self.is_fisheye:
            r_d = np.linalg.norm(xy_d, axis=1)
            theta = self._fisheye_solve_theta(r_d)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(r_d > 1e-15, np.sin(theta) / np.where(r_d > 1e-15, r_d, 1.0), 1.0)
            rays = np.stack([xy_d[:, 0] * scale, xy_d[:, 1] * scale, np.cos(theta)], axis=1)
            return rays
        xy = self.undistort_points(uv)
        rays = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def undistort_points(self, uv_px: Any) -> np.ndarray:
        """Normalized undistorted image coordinates ``(x/z, y/z)`` (N, 2) of pixels ``uv_px`` (N, 2).

        For ``equidistant``, rays at or beyond 90 degrees off-axis have no x/z: those rows are NaN
        (use :meth:`pixels_to_rays`).
        """
        uv = _as_points(uv_px, 2, "uv_px")
        if uv.shape[0] == 0:
            return np.zeros((0, 2))
        xy_d = self._pixels_to_distorted_norm(uv)
        if self.distortion_model is DistortionModel.NONE:
            return xy_d
        if self.is_fisheye:
            rays = self.pixels_to_rays(uv)
            with np.errstate(invalid="ignore", divide="ignore"):
                xy = rays[:, :2] / rays[:, 2:3]
            xy[~(rays[:, 2] > 1e-12)] = np.nan
            return xy
        return self._undistort_norm(xy_d)

    def project(self, points_cam_m: Any) -> np.ndarray:
        """Pixels (N, 2) of 3-D points (N, 3) in the optical frame, distortion applied.

        Non-fisheye models: rows with z <= 0 (behind the camera) are NaN. Equidistant: any direction
        except the exact backward axis projects (the fisheye angle may exceed 90 degrees).
        """
        p = _as_points(points_cam_m, 3, "points_cam_m")
        n = p.shape[0]
        if n == 0:
            return np.zeros((0, 2))
        if self.is_fisheye:
            # Hand-written: cv2.fisheye.projectPoints uses theta = atan(r / z), wrong for z <= 0.
            r = np.linalg.norm(p[:, :2], axis=1)
            theta = np.arctan2(r, p[:, 2])
            theta_d = self._fisheye_theta_d(theta)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(r > 1e-15, theta_d / np.where(r > 1e-15, r, 1.0), 1.0 / p[:, 2])
            xy_d = p[:, :2] * scale[:, None]
            bad = (r <= 1e-15) & (p[:, 2] <= 0)
            xy_d[bad] = np.nan
            return self._distorted_norm_to_pixels(xy_d)
        front = p[:, 2] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = p[:, :2] / p[:, 2:3]
        if not front.all():
            xy[~front] = np.nan  # NaN rows stay NaN through the distortion polynomial
        xy_d = xy if self.distortion_model is DistortionModel.NONE else self._distort_norm(xy)
        return self._distorted_norm_to_pixels(xy_d)

    def rays_to_pixels(self, rays: Any) -> np.ndarray:
        """Pixels (N, 2) of ray directions (N, 3) (need not be unit); same as :meth:`project`."""
        return self.project(rays)

    def pixels_to_angles(self, uv_px: Any) -> np.ndarray:
        """KPE angles (N, 2) in radians of pixels ``uv_px`` (N, 2): the undistorted ray's direction.

        ``theta_x = atan2(ray_x, ray_z)``, ``theta_y = atan2(ray_y, ray_z)``. For a pinhole camera without
        distortion or skew this is ``atan((u - cx) / fx)``, ``atan((v - cy) / fy)`` (WildHands' KPE).
        """
        rays = self.pixels_to_rays(uv_px)
        return np.stack([np.arctan2(rays[:, 0], rays[:, 2]), np.arctan2(rays[:, 1], rays[:, 2])], axis=1)


# ====================================================================== torch
def project_torch(points_cam_m: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Differentiable pinhole projection **without distortion**: (B, N, 3) m, (B, 3, 3) px -> (B, N, 2) px.

    ``u = (fx x + skew y) / z + cx``, ``v = fy y / z + cy``. Depths are clamped to >= 1e-6 m so points
    behind the camera give large but finite values; mask them yourself when it matters.
    """
    if points_cam_m.shape[-1] != 3:
        raise ValueError(f"points_cam_m must have shape (B, N, 3), got {tuple(points_cam_m.shape)}")
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K must have shape (B, 3, 3), got {tuple(K.shape)}")
    z = points_cam_m[..., 2:3].clamp(min=1e-6)
    xy1 = torch.cat([points_cam_m[..., :2] / z, torch.ones_like(z)], dim=-1)  # (B, N, 3)
    uvw = xy1 @ K.transpose(-1, -2)  # (B, N, 3)
    return uvw[..., :2]


def _t(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    dtype = like.dtype if like is not None else torch.float64
    device = like.device if like is not None else None
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)


def weak_perspective_to_translation(
    cam_wp: torch.Tensor,
    box_center_px: torch.Tensor,
    box_size_px: torch.Tensor,
    fx: torch.Tensor,
    fy: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
) -> torch.Tensor:
    """Metric root translation (B, 3) in m from the network's weak-perspective crop camera (differentiable).

    Convention: the weak-perspective camera ``cam_wp = (s, tx, ty)`` (s in 1/m, tx, ty in m) maps a
    root-relative hand point P (metres, optical frame) to normalized crop coordinates in [-1, 1]:
    ``u_n = s (P_x + tx)``, ``v_n = s (P_y + ty)``. u_n = -1 / +1 are the left / right *edges* of the crop;
    crop pixel ``u_crop = (u_n + 1) / 2 * crop_size - 0.5`` and original pixel
    ``u = box_cx + u_n * box_size_px / 2`` (box_cx = centre of the square box, pixel-centre convention,
    see :class:`wildhands.geometry.crop.CropBox`).
    Full perspective of the same point with the root at translation T:
    ``u = fx (P_x + T_x) / (P_z + T_z) + cx``. Matching the two at the root (value and first derivative):

        f   = (fx + fy) / 2                          (arithmetic mean: one isotropic s for both axes)
        T_z = 2 f / (s * box_size_px)
        T_x = tx * f / fx + (box_cx - cx) * T_z / fx
        T_y = ty * f / fy + (box_cy - cy) * T_z / fy

    For square pixels (fx = fy) this is ``T_x = tx + (box_cx - cx) T_z / fx``. The root projects exactly
    where the weak-perspective model puts it. s <= 0 is clamped to ``WP_SCALE_EPS`` (very far away).
    For a mirrored (left-hand) crop pass the mirrored box and the mirrored camera (``CameraModel.mirrored``)
    and mirror the resulting translation back (``T_x -> -T_x`` relative to the mirrored camera's frame).

    Shapes: cam_wp (B, 3); box_center_px (B, 2); box_size_px, fx, fy, cx, cy (B,) (broadcastable).
    """
    if cam_wp.shape[-1] != 3:
        raise ValueError(f"cam_wp must have shape (B, 3), got {tuple(cam_wp.shape)}")
    box_center_px = _t(box_center_px, cam_wp)
    box_size_px, fx, fy, cx, cy = (_t(v, cam_wp) for v in (box_size_px, fx, fy, cx, cy))
    s = cam_wp[..., 0].clamp(min=WP_SCALE_EPS)
    f = 0.5 * (fx + fy)
    tz = 2.0 * f / (s * box_size_px)
    tx_m = cam_wp[..., 1] * f / fx + (box_center_px[..., 0] - cx) * tz / fx
    ty_m = cam_wp[..., 2] * f / fy + (box_center_px[..., 1] - cy) * tz / fy
    return torch.stack([tx_m, ty_m, tz], dim=-1)


def translation_to_weak_perspective(
    transl_m: torch.Tensor,
    box_center_px: torch.Tensor,
    box_size_px: torch.Tensor,
    fx: torch.Tensor,
    fy: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
) -> torch.Tensor:
    """Inverse of :func:`weak_perspective_to_translation`: (B, 3) m -> cam_wp (B, 3) = (s, tx, ty).

    ``s = 2 f / (T_z box_size_px)``, ``tx = (T_x - (box_cx - cx) T_z / fx) fx / f`` (same for y) with
    ``f = (fx + fy) / 2``. T_z is clamped to >= 1e-6 m.
    """
    if transl_m.shape[-1] != 3:
        raise ValueError(f"transl_m must have shape (B, 3), got {tuple(transl_m.shape)}")
    box_center_px = _t(box_center_px, transl_m)
    box_size_px, fx, fy, cx, cy = (_t(v, transl_m) for v in (box_size_px, fx, fy, cx, cy))
    tz = transl_m[..., 2].clamp(min=1e-6)
    f = 0.5 * (fx + fy)
    s = 2.0 * f / (tz * box_size_px)
    tx = (transl_m[..., 0] - (box_center_px[..., 0] - cx) * tz / fx) * fx / f
    ty = (transl_m[..., 1] - (box_center_px[..., 1] - cy) * tz / fy) * fy / f
    return torch.stack([s, tx, ty], dim=-1)


def _np_batch(name: str, value: Any, ndim: int, positive: bool = False) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a.tolist()}")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got {a.tolist()}")
    if a.ndim > ndim + 1:
        raise ValueError(f"{name} has an unexpected shape {a.shape}")
    return a


def _np_crop_camera(
    box_center_px: Any, box_size_px: Any, fx: Any, fy: Any, cx: Any, cy: Any
) -> list[torch.Tensor]:
    """The crop box and intrinsics arguments of the numpy wrappers, checked, as float64 tensors."""
    return [
        torch.from_numpy(_np_batch("box_center_px", box_center_px, 1)),
        torch.from_numpy(_np_batch("box_size_px", box_size_px, 0, positive=True)),
        torch.from_numpy(_np_batch("fx", fx, 0, positive=True)),
        torch.from_numpy(_np_batch("fy", fy, 0, positive=True)),
        torch.from_numpy(_np_batch("cx", cx, 0)),
        torch.from_numpy(_np_batch("cy", cy, 0)),
    ]


def weak_perspective_to_translation_np(
    cam_wp: Any, box_center_px: Any, box_size_px: Any, fx: Any, fy: Any, cx: Any, cy: Any
) -> np.ndarray:
    """Numpy wrapper of :func:`weak_perspective_to_translation` (same convention); raises on s <= 0.

    Accepts a single camera (3,) or a batch (B, 3); returns (3,) or (B, 3) float64 metres.
    """
    wp = _np_batch("cam_wp", cam_wp, 1)
    if wp.shape[-1] != 3:
        raise ValueError(f"cam_wp must have shape (B, 3), got {wp.shape}")
    if np.any(wp[..., 0] <= 0):
        raise ValueError(f"cam_wp scale s must be > 0, got {wp[..., 0].tolist()}")
    args = _np_crop_camera(box_center_px, box_size_px, fx, fy, cx, cy)
    out = weak_perspective_to_translation(torch.from_numpy(wp), *args)
    return out.numpy()


def translation_to_weak_perspective_np(
    transl_m: Any, box_center_px: Any, box_size_px: Any, fx: Any, fy: Any, cx: Any, cy: Any
) -> np.ndarray:
    """Numpy wrapper of :func:`translation_to_weak_perspective`; raises on T_z <= 0."""
    t = _np_batch("transl_m", transl_m, 1)
    if t.shape[-1] != 3:
        raise ValueError(f"transl_m must have shape (B, 3), got {t.shape}")
    if np.any(t[..., 2] <= 0):
        raise ValueError(f"transl_m z must be > 0 (in front of the camera), got {t[..., 2].tolist()}")
    args = _np_crop_camera(box_center_px, box_size_px, fx, fy, cx, cy)
    out = translation_to_weak_perspective(torch.from_numpy(t), *args)
    return out.numpy()
