"""Rotation conversions (torch, differentiable; numpy where noted) and left/right hand mirroring; numpy
Rodrigues and the SO(3) left Jacobian for small least-squares fits.

Conventions: right-handed, radians. Axis-angle (rotation vector) ``aa``: direction = axis, norm = angle.
Rotation matrices act on column vectors (``p' = R p``). Quaternions are in ROS order ``(x, y, z, w)``
(``roma`` and ``scipy`` use the same order; ``transforms3d`` uses (w, x, y, z)), canonicalised to w >= 0.

6D rotation (Zhou et al., CVPR 2019): the 6 numbers are the first two **columns** of the matrix,
``rot6d = (R[:, 0], R[:, 1])`` concatenated (contiguous layout, as in HaMeR). SPIN/ARCTIC code reads the
6 numbers as ``x.view(3, 2)`` (interleaved: R00, R01, R10, R11, R20, R21); pass ``interleaved=True`` to
use that layout, e.g. for weights trained with it.

Mirroring a hand about the ``x = 0`` plane (S = diag(-1, 1, 1), left <-> right): ``R -> S R S`` and
``aa = (x, y, z) -> (x, -y, -z)``.

``roma`` (MIT) does the numerics (robust near 0 and pi); scipy serves numpy quaternions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import roma
import torch
from scipy.spatial.transform import Rotation

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "rot6d_to_matrix",
    "matrix_to_rot6d",
    "matrix_to_quaternion_xyzw",
    "quaternion_multiply_xyzw",
    "mirror_axis_angle",
    "mirror_matrix",
    "skew",
    "rodrigues",
    "so3_left_jacobian",
]


def _check_last(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[-len(shape) :]) != shape:
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) rad -> rotation matrix (..., 3, 3) (Rodrigues)."""
    _check_last(aa, (3,), "aa")
    return roma.rotvec_to_rotmat(aa)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi]."""
    _check_last(R, (3, 3), "R")
    return roma.rotmat_to_rotvec(R)


def rot6d_to_matrix(x: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    """6D rotation (..., 6) -> rotation matrix (..., 3, 3) by Gram-Schmidt on the two columns.

    ``b1 = a1 / |a1|``, ``b2 = normalize(a2 - (b1 . a2) b1)``, ``b3 = b1 x b2``; ``R = [b1 b2 b3]``.
    """
    _check_last(x, (6,), "rot6d")
    if interleaved:
        cols = x.reshape(*x.shape[:-1], 3, 2)  # (..., 3, 2): columns a1, a2
    else:
        cols = x.reshape(*x.shape[:-1], 2, 3).transpose(-1, -2)  # (..., 3, 2)
    return roma.special_gramschmidt(cols, epsilon=1e-12)


def matrix_to_rot6d(R: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> 6D rotation (..., 6): its first two columns."""
    _check_last(R, (3, 3), "R")
    cols = R[..., :, :2]  # (..., 3, 2)
    if interleaved:
        return cols.reshape(*R.shape[:-2], 6)
    return cols.transpose(-1, -2).reshape(*R.shape[:-2], 6)


def matrix_to_quaternion_xyzw(R: Any) -> Any:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) in ROS order (x, y, z, w), w >= 0.

    numpy in -> numpy out (scipy); torch in -> torch out (roma, differentiable).
    """
    if isinstance(R, torch.Tensor):
        _check_last(R, (3, 3), "R")
        q = roma.rotmat_to_unitquat(R)
        return torch.where(q[..., 3:4] < 0, -q, q)
    Rn = np.asarray(R, dtype=np.float64)
    if Rn.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {Rn.shape}")
    if not np.all(np.isfinite(Rn)):
        raise ValueError("R must be finite")
    q = Rotation.from_matrix(Rn.reshape(-1, 3, 3)).as_quat()  # (M, 4) xyzw
    q = np.where(q[:, 3:4] < 0, -q, q)
    return q.reshape(*Rn.shape[:-2], 4)


def quaternion_multiply_xyzw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of quaternions (..., 4) in ROS order (x, y, z, w), numpy; broadcasts."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        -1,
    )


def mirror_axis_angle(aa: Any) -> Any:
    """Mirror axis-angle (..., 3) about the x = 0 plane (left <-> right hand): (x, y, z) -> (x, -y, -z)."""
    sign = (1.0, -1.0, -1.0)
    if isinstance(aa, torch.Tensor):
        _check_last(aa, (3,), "aa")
        return aa * aa.new_tensor(sign)
    a = np.asarray(aa, dtype=np.float64)
    if a.shape[-1:] != (3,):
        raise ValueError(f"aa must have shape (..., 3), got {a.shape}")
    return a * np.array(sign)


def mirror_matrix(R: Any) -> Any:
    """Mirror a rotation matrix (..., 3, 3) about the x = 0 plane: ``S R S`` with S = diag(-1, 1, 1)."""
    if isinstance(R, torch.Tensor):
        _check_last(R, (3, 3), "R")
        s = R.new_tensor((-1.0, 1.0, 1.0))
        return R * s[:, None] * s[None, :]
    Rn = np.asarray(R, dtype=np.float64)
    if Rn.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {Rn.shape}")
    s = np.array((-1.0, 1.0, 1.0))
    return Rn * s[:, None] * s[None, :]


# -- numpy, batched, float64: for small fits where torch's per-call overhead dominates -------------------


#: skew(v) = (v @ _SKEW_BASIS).reshape(3, 3): the cross-product matrix as one small matrix product
_SKEW_BASIS = np.array(
    [[0, 0, 0, 0, 0, -1, 0, 1, 0], [0, 0, 1, 0, 0, 0, -1, 0, 0], [0, -1, 0, 1, 0, 0, 0, 0, 0]],
    dtype=np.float64,
)


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrix (..., 3, 3) of vectors (..., 3): ``skew(a) @ b == cross(a, b)``."""
    v = np.asarray(v, dtype=np.float64)
    return (v @ _SKEW_BASIS).reshape(*v.shape[:-1], 3, 3)


def _angle(aa: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta^2, theta (1 where theta is ~0, so that it divides safely) and the ~0 mask, each (..., 1, 1)."""
    theta2 = (aa * aa).sum(-1)[..., None, None]
    small = theta2 < 1e-8
    return theta2, np.sqrt(np.where(small, 1.0, theta2)), small


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) rad -> rotation matrix (..., 3, 3), numpy float64; smooth at 0.

    ``R = I + a K + b K^2`` with ``K = skew(aa)``, ``K^2 = aa aa^T - theta^2 I``."""
    aa = np.asarray(aa, dtype=np.float64)
    theta2, theta, small = _angle(aa)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(theta) / theta)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / (theta * theta))
    return (1.0 - b * theta2) * np.eye(3) + a * skew(aa) + b * (aa[..., :, None] * aa[..., None, :])


def so3_left_jacobian(aa: np.ndarray) -> np.ndarray:
    """Left Jacobian J_l (..., 3, 3) of SO(3) at axis-angle ``aa``: ``exp(aa + d) ~ exp(J_l d) exp(aa)``,
    so ``dR/d aa_k = skew(J_l e_k) R`` and ``d(R v)/d aa = -skew(R v) J_l``. numpy float64; smooth at 0.

    ``J_l = I + b K + c K^2``, ``b = (1 - cos theta) / theta^2``, ``c = (theta - sin theta) / theta^3``."""
    aa = np.asarray(aa, dtype=np.float64)
    theta2, theta, small = _angle(aa)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / (theta * theta))
    c = np.where(small, 1.0 / 6.0 - theta2 / 120.0, (theta - np.sin(theta)) / (theta * theta * theta))
    return (1.0 - c * theta2) * np.eye(3) + b * skew(aa) + c * (aa[..., :, None] * aa[..., None, :])
