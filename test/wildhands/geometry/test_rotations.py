"""Tests for wildhands.geometry.rotations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from wildhands.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion_xyzw,
    matrix_to_rot6d,
    mirror_axis_angle,
    mirror_matrix,
    rot6d_to_matrix,
)


def _random_aa(n: int = 64) -> torch.Tensor:
    axis = torch.nn.functional.normalize(torch.randn(n, 3, dtype=torch.float64), dim=-1)
    angle = torch.rand(n, 1, dtype=torch.float64) * (math.pi - 1e-3)
    return axis * angle


def test_axis_angle_round_trip_and_scipy() -> None:
    aa = _random_aa()
    R = axis_angle_to_matrix(aa)
    torch.testing.assert_close(matrix_to_axis_angle(R), aa)
    np.testing.assert_allclose(R.numpy(), Rotation.from_rotvec(aa.numpy()).as_matrix(), atol=1e-12)
    assert axis_angle_to_matrix(torch.zeros(2, 5, 3)).shape == (2, 5, 3, 3)
    with pytest.raises(ValueError, match="aa"):
        axis_angle_to_matrix(torch.zeros(4, 4))


def test_rot6d_round_trip_and_orthonormal() -> None:
    R = axis_angle_to_matrix(_random_aa())
    x = matrix_to_rot6d(R)
    torch.testing.assert_close(x[..., :3], R[..., :, 0])  # the first two COLUMNS, contiguous
    torch.testing.assert_close(x[..., 3:], R[..., :, 1])
    torch.testing.assert_close(rot6d_to_matrix(x), R)
    torch.testing.assert_close(rot6d_to_matrix(matrix_to_rot6d(R, interleaved=True), interleaved=True), R)
    # any 6 numbers give a rotation; Gram-Schmidt keeps the first column's direction
    raw = torch.randn(100, 6, dtype=torch.float64)
    M = rot6d_to_matrix(raw)
    eye = torch.eye(3, dtype=torch.float64).expand(100, 3, 3)
    torch.testing.assert_close(M.transpose(-1, -2) @ M, eye)
    torch.testing.assert_close(torch.det(M), torch.ones(100, dtype=torch.float64))
    torch.testing.assert_close(M[:, :, 0], torch.nn.functional.normalize(raw[:, :3], dim=-1))


def test_rot6d_is_differentiable() -> None:
    raw = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot6d_to_matrix, (raw,))


def test_quaternion_xyzw_order() -> None:
    Rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    s = math.sqrt(0.5)
    np.testing.assert_allclose(matrix_to_quaternion_xyzw(Rz90), [0.0, 0.0, s, s], atol=1e-12)
    qt = matrix_to_quaternion_xyzw(torch.tensor(Rz90))
    assert isinstance(qt, torch.Tensor)
    np.testing.assert_allclose(qt.numpy(), [0.0, 0.0, s, s], atol=1e-12)
    # batches, canonical w >= 0, torch == numpy
    R = axis_angle_to_matrix(_random_aa(20))
    qn = matrix_to_quaternion_xyzw(R.numpy())
    assert qn.shape == (20, 4) and np.all(qn[:, 3] >= 0)
    np.testing.assert_allclose(matrix_to_quaternion_xyzw(R).numpy(), qn, atol=1e-10)


def test_mirroring() -> None:
    aa = _random_aa()
    torch.testing.assert_close(mirror_axis_angle(mirror_axis_angle(aa)), aa)
    R = axis_angle_to_matrix(aa)
    torch.testing.assert_close(mirror_matrix(mirror_matrix(R)), R)
    # both mirrorings agree: S R(aa) S = R(mirror(aa))
    torch.testing.assert_close(mirror_matrix(R), axis_angle_to_matrix(mirror_axis_angle(aa)))
    S = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirror_matrix(R.numpy()), S @ R.numpy() @ S, atol=1e-12)
    np.testing.assert_allclose(mirror_axis_angle(np.array([0.1, 0.2, 0.3])), [0.1, -0.2, -0.3])
    # a mirrored rotation applied to a mirrored point is the mirror of the rotated point
    p = torch.randn(64, 3, dtype=torch.float64)
    Sp = p * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    lhs = (mirror_matrix(R) @ Sp[..., None])[..., 0]
    rhs = (R @ p[..., None])[..., 0] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(lhs, rhs)


def test_quaternion_product_composes_rotations():
    from wildhands.geometry.rotations import quaternion_multiply_xyzw

    a, b = Rotation.random(5, random_state=1), Rotation.random(5, random_state=2)
    q = quaternion_multiply_xyzw(a.as_quat(), b.as_quat())  # a * b: first b, then a
    np.testing.assert_allclose(Rotation.from_quat(q).as_matrix(), (a * b).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
