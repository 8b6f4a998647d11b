"""One-Euro temporal filters (Casiez, Roussel, Vogel, CHI 2012) for hand keypoints, translations and
rotations.

The One-Euro filter is an exponential low-pass whose cutoff grows with the signal's speed: slow motion is
smoothed hard (jitter removed), fast motion is followed closely (little lag). Per sample, with
``dt = t - t_prev`` in seconds::

    alpha(fc) = r / (r + 1),  r = 2 pi fc dt            # = 1 / (1 + tau / dt), tau = 1 / (2 pi fc)
    dx_hat = lowpass(dx_hat, (x - x_hat) / dt, alpha(d_cutoff))
    fc     = min_cutoff + beta * |dx_hat|
    x_hat  = lowpass(x_hat, x, alpha(fc))               # lowpass(prev, new, a) = prev + a (new - prev)

``alpha`` is recomputed from every ``dt``, so irregular and dropped frames are handled; the first sample
(and the first after :meth:`reset`) passes unchanged with zero speed. A sample with the same timestamp as
the previous one returns the previous estimate; a timestamp going backwards (a bag restarted) resets the
filter. Non-finite input raises ValueError so that it cannot poison the state.

    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.5, beta=2.0))
    kp_smooth = f(keypoints_cam_m, t)            # (21, 3) m, t in s; any shape, filtered element-wise
    r = RotationOneEuroFilter(OneEuroConfig(min_cutoff=1.5, beta=0.3))
    R_smooth = r(wrist_rotation, t)              # (3, 3)

Vectorisation: :class:`OneEuroFilter` filters arrays of any fixed shape. With ``vector_speed=True`` the
speed that sets the cutoff is the Euclidean norm over the last axis (one cutoff per 3D point, the same
whichever way the point moves) instead of one cutoff per coordinate (the paper's scalar filter applied
to each element).

Rotations (:class:`RotationOneEuroFilter`) are filtered on SO(3), not on quaternion coefficients: the
residual between the new rotation and the estimate is the rotation vector ``delta = log(R_hat^T R)``
(body frame, |delta| <= pi, so there is no quaternion sign ambiguity to manage), the speed is
``|delta| / dt`` (rad/s) low-passed as a vector, and the estimate moves along the geodesic by the same
``alpha``: ``R_hat <- R_hat exp(alpha delta)``. For small steps this is the One-Euro filter on the rotation
vector; it stays a proper rotation without renormalisation. ``beta`` is in s/rad there (s/m for
positions), so rotations and positions usually want their own :class:`OneEuroConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["OneEuroConfig", "OneEuroFilter", "RotationOneEuroFilter", "smoothing_factor"]


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of a One-Euro filter (ValueError naming a bad one).

    min_cutoff: Hz, cutoff at zero speed; lower = smoother at rest, more lag. > 0.
    beta: speed coefficient, s per signal unit (s/m for positions, s/rad for rotations); higher = less
        lag in fast motion. >= 0 (0 = a plain exponential low-pass at min_cutoff).
    d_cutoff: Hz, cutoff of the low-pass on the speed estimate (1 Hz in the paper). > 0.
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        for name, lo_open in (("min_cutoff", True), ("beta", False), ("d_cutoff", True)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"OneEuroConfig.{name}={value!r} must be a finite number")
            if (value <= 0) if lo_open else (value < 0):
                raise ValueError(f"OneEuroConfig.{name}={value!r} must be {'> 0' if lo_open else '>= 0'}")
            object.__setattr__(self, name, float(value))


def smoothing_factor(cutoff_hz, dt_s: float):
    """``alpha = r / (r + 1)`` with ``r = 2 pi cutoff dt``: the weight of the new sample (array-friendly)."""
    r = 2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64) * dt_s
    return r / (r + 1.0)


def _check_time(t: float) -> float:
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"timestamp must be finite, got {t}")
    return t


class OneEuroFilter:
    """One-Euro filter over arrays of a fixed shape (see the module docstring).

    config: :class:`OneEuroConfig`.
    vector_speed: the speed of the cutoff is the norm over the last axis (one cutoff per point) instead of
        per element.
    """

    def __init__(self, config: OneEuroConfig | None = None, vector_speed: bool = False) -> None:
        self.config = config or OneEuroConfig()
        self.vector_speed = bool(vector_speed)
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next sample passes unchanged."""
        self.x_hat: np.ndarray | None = None
        self.dx_hat: np.ndarray | None = None
        self.t_prev: float | None = None

    def __call__(self, x, t: float) -> np.ndarray:
        """Filter sample ``x`` (array, any shape fixed across calls) taken at time ``t`` (s)."""
        x = np.array(x, dtype=np.float64)  # a copy: the caller's array is never aliased by the state
        t = _check_time(t)
        if not np.all(np.isfinite(x)):
            raise ValueError("OneEuroFilter input must be finite")
        if self.x_hat is not None and x.shape != self.x_hat.shape:
            raise ValueError(f"OneEuroFilter input shape {x.shape} != {self.x_hat.shape} of earlier samples")
        if self.t_prev is not None and t < self.t_prev:
            self.reset()  # time went backwards: start again
        if self.x_hat is None:
            self.x_hat, self.dx_hat, self.t_prev = x, np.zeros_like(x), t
            return x.copy()
        dt = t - self.t_prev
        if dt == 0.0:
            return self.x_hat.copy()
        c = self.config
        dx = (x - self.x_hat) / dt
        self.dx_hat = self.dx_hat + smoothing_factor(c.d_cutoff, dt) * (dx - self.dx_hat)
        if self.vector_speed and x.ndim > 0:
            speed = np.linalg.norm(self.dx_hat, axis=-1, keepdims=True)
        else:
            speed = np.abs(self.dx_hat)
        alpha = smoothing_factor(c.min_cutoff + c.beta * speed, dt)
        self.x_hat = self.x_hat + alpha * (x - self.x_hat)
        self.t_prev = t
        return self.x_hat.copy()


class RotationOneEuroFilter:
    """One-Euro filter on SO(3) for rotation matrices (..., 3, 3) (see the module docstring).

    The speed is the norm of the filtered angular velocity (rad/s) of each rotation, so ``beta`` is in
    s/rad. Input must be proper rotations (ValueError for non-finite input; scipy orthonormalises).
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next rotation passes unchanged."""
        self.R_hat: Rotation | None = None
        self.w_hat: np.ndarray | None = None  # (M, 3) rad/s, body frame
        self.t_prev: float | None = None
        self._shape: tuple[int, ...] | None = None

    def __call__(self, R, t: float) -> np.ndarray:
        """Filter rotation matrices ``R`` (..., 3, 3) taken at time ``t`` (s); returns (..., 3, 3)."""
        Rn = np.asarray(R, dtype=np.float64)
        t = _check_time(t)
        if Rn.shape[-2:] != (3, 3):
            raise ValueError(f"R must have shape (..., 3, 3), got {Rn.shape}")
        if not np.all(np.isfinite(Rn)):
            raise ValueError("RotationOneEuroFilter input must be finite")
        if self._shape is not None and Rn.shape != self._shape:
            raise ValueError(f"rotation shape {Rn.shape} != {self._shape} of earlier samples")
        meas = Rotation.from_matrix(Rn.reshape(-1, 3, 3))
        if self.t_prev is not None and t < self.t_prev:
            self.reset()
        if self.R_hat is None:
            self.R_hat, self.w_hat, self.t_prev, self._shape = meas, np.zeros((len(meas), 3)), t, Rn.shape
            return meas.as_matrix().reshape(Rn.shape)
        dt = t - self.t_prev
        if dt > 0.0:
            c = self.config
            delta = (self.R_hat.inv() * meas).as_rotvec()  # (M, 3) rad, body frame, |delta| <= pi
            self.w_hat = self.w_hat + smoothing_factor(c.d_cutoff, dt) * (delta / dt - self.w_hat)
            speed = np.linalg.norm(self.w_hat, axis=-1, keepdims=True)
            alpha = smoothing_factor(c.min_cutoff + c.beta * speed, dt)
            self.R_hat = self.R_hat * Rotation.from_rotvec(alpha * delta)
            self.t_prev = t
        return self.R_hat.as_matrix().reshape(self._shape)
