"""Input checks and pose conversions shared by the hand models (private).

Both ``OpenHandModel`` and ``ManoHandModel`` accept the same inputs; this module turns them into what
``smplx.lbs.lbs`` wants and refuses bad input with a ``ValueError`` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from smplx.lbs import batch_rodrigues

from wildhands.geometry.rotations import mirror_axis_angle, mirror_matrix

NUM_POSE_JOINTS = 15
NUM_BETAS = 10

_ROTMAT_TOL = 1e-3  # max |R^T R - I| entry accepted for a rotation matrix


@dataclass
class PreparedInputs:
    """Checked inputs for ``smplx.lbs.lbs``.

    Attributes:
        betas: (B, 10).
        full_pose: (B, 48) axis-angle (``pose2rot=True``) or (B, 16, 3, 3) rotation matrices.
        pose2rot: whether ``full_pose`` is axis-angle.
        transl: (B, 3) m or None.
    """

    betas: torch.Tensor
    full_pose: torch.Tensor
    pose2rot: bool
    transl: torch.Tensor | None


def _to_tensor(name: str, value: object, like: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(value):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name}: expected a tensor, got {type(value).__name__}") from exc
    if not (value.is_floating_point()):
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")
    value = value.to(device=like.device, dtype=like.dtype)
    if not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name}: {bad} non-finite value(s) (NaN/inf) in a tensor of shape {tuple(value.shape)}"
        )
    return value


def _check_rotmats(name: str, rot: torch.Tensor) -> None:
    with torch.no_grad():
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        err = (rot.transpose(-1, -2) @ rot - eye).abs().amax() if rot.numel() else torch.tensor(0.0)
        if float(err) > _ROTMAT_TOL:
            raise ValueError(f"{name}: not rotation matrices (max |R^T R - I| = {float(err):.3g})")
        if rot.numel() and float(torch.linalg.det(rot).min()) <= 0.0:
            raise ValueError(f"{name}: rotation matrices with non-positive determinant (reflections)")


def _parse_global_orient(value: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(B, 3) | (B, 1, 3) axis-angle -> ((B, 1, 3), True); (B, 3, 3) | (B, 1, 3, 3) -> ((B,1,3,3), False)"""
    shape = tuple(value.shape)
    if value.dim() == 2 and shape[1] == 3:
        return value[:, None, :], True
    if value.dim() == 3 and shape[1:] == (1, 3):
        return value, True
    if value.dim() == 3 and shape[1:] == (3, 3):
        return value[:, None], False
    if value.dim() == 4 and shape[1:] == (1, 3, 3):
        return value, False
    raise ValueError(
        f"global_orient: shape {shape} not one of (B, 3) or (B, 1, 3) axis-angle, "
        "(B, 3, 3) or (B, 1, 3, 3) rotation matrices"
    )


def _parse_hand_pose(value: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(B, 45) | (B, 15, 3) axis-angle -> ((B, 15, 3), True); (B, 15, 3, 3) -> (same, False)."""
    shape = tuple(value.shape)
    n = NUM_POSE_JOINTS
    if value.dim() == 2 and shape[1] == 3 * n:
        return value.reshape(shape[0], n, 3), True
    if value.dim() == 3 and shape[1:] == (n, 3):
        return value, True
    if value.dim() == 4 and shape[1:] == (n, 3, 3):
        return value, False
    raise ValueError(
        f"hand_pose: shape {shape} not one of (B, 45), (B, 15, 3) axis-angle or (B, 15, 3, 3) rotmat"
    )


def prepare_inputs(
    betas: torch.Tensor | None,
    global_orient: torch.Tensor | None,
    hand_pose: torch.Tensor | None,
    transl: torch.Tensor | None,
    like: torch.Tensor,
    num_betas: int = NUM_BETAS,
) -> PreparedInputs:
    """Check the hand-model inputs and assemble the full pose for ``smplx.lbs.lbs``.

    Args:
        betas: (B, num_betas) or (1, num_betas) (broadcast), or None for zeros.
        global_orient: (B, 3) axis-angle rad, or (B, 3, 3) rotation matrices, or None for identity.
        hand_pose: (B, 45) / (B, 15, 3) axis-angle rad, or (B, 15, 3, 3) rotation matrices, or None for zeros.
        transl: (B, 3) m, or None.
        like: a tensor whose dtype and device the inputs are moved to.
        num_betas: expected number of shape coefficients.

    Raises:
        ValueError: a wrong shape, a batch-size mismatch, a non-finite value or a non-rotation matrix; the
            message names the field.
    """
    go = (
        None
        if global_orient is None
        else _parse_global_orient(_to_tensor("global_orient", global_orient, like))
    )
    hp = None if hand_pose is None else _parse_hand_pose(_to_tensor("hand_pose", hand_pose, like))
    b = None if betas is None else _to_tensor("betas", betas, like)
    t = None if transl is None else _to_tensor("transl", transl, like)

    if b is not None and (b.dim() != 2 or b.shape[1] != num_betas):
        raise ValueError(f"betas: shape {tuple(b.shape)}, expected (B, {num_betas})")
    if t is not None and (t.dim() != 2 or t.shape[1] != 3):
        raise ValueError(f"transl: shape {tuple(t.shape)}, expected (B, 3)")

    sizes = {
        name: int(x.shape[0])
        for name, x in (("global_orient", go and go[0]), ("hand_pose", hp and hp[0]), ("transl", t))
        if x is not None
    }
    batch = max(sizes.values()) if sizes else (int(b.shape[0]) if b is not None else 1)
    for name, size in sizes.items():
        if size != batch:
            raise ValueError(f"{name}: batch size {size} differs from {batch} ({sizes})")
    if b is None:
        b = like.new_zeros(batch, num_betas)
    elif b.shape[0] == 1 and batch > 1:
        b = b.expand(batch, -1)
    elif b.shape[0] != batch:
        raise ValueError(f"betas: batch size {b.shape[0]} differs from {batch} ({sizes})")

    if go is None:
        go = (like.new_zeros(batch, 1, 3), True)
    if hp is None:
        hp = (like.new_zeros(batch, NUM_POSE_JOINTS, 3), True)

    if go[1] and hp[1]:
        full_pose = torch.cat([go[0], hp[0]], dim=1).reshape(batch, -1)  # (B, 48)
        return PreparedInputs(b, full_pose, True, t)
    mats = []
    for name, (value, is_aa) in (("global_orient", go), ("hand_pose", hp)):
        if is_aa:
            mats.append(batch_rodrigues(value.reshape(-1, 3)).reshape(batch, -1, 3, 3))
        else:
            _check_rotmats(name, value)
            mats.append(value)
    return PreparedInputs(b, torch.cat(mats, dim=1), False, t)  # (B, 16, 3, 3)


def mirror_pose_axis_angle(aa: torch.Tensor) -> torch.Tensor:
    """Mirror axis-angle rotations about the x = 0 plane of the model frame (right <-> left hand).

    :func:`wildhands.geometry.rotations.mirror_axis_angle` ((x, y, z) -> (x, -y, -z)) on any (..., 3k)
    tensor, e.g. (B, 3), (B, 45), (B, 15, 3), (B, 48).
    """
    if aa.shape[-1] % 3 != 0:
        raise ValueError(f"aa: last dimension {aa.shape[-1]} is not a multiple of 3")
    return mirror_axis_angle(aa.reshape(*aa.shape[:-1], -1, 3)).reshape(aa.shape)


def mirror_pose_rotmat(rot: torch.Tensor) -> torch.Tensor:
    """Mirror rotation matrices (..., 3, 3) about the x = 0 plane: R -> M R M with M = diag(-1, 1, 1)."""
    return mirror_matrix(rot)
