"""Wrist pose in a robot frame: a hand-computed case, round trips through known transforms, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from wildhands.retarget.wrist import (
    invert_transform,
    make_transform,
    pose_from_matrix,
    rpy_to_matrix,
    transform_from_pose,
    wrist_pose,
)


def test_hand_computed_pose_in_a_robot_frame():
    T_robot_cam = make_transform(rpy_to_matrix(0, 0, math.pi / 2), [1.0, 2.0, 3.0])  # yaw 90 deg
    T = wrist_pose([0.1, 0.0, 0.5], np.eye(3), T_robot_cam)
    assert np.allclose(T[:3, 3], [1.0, 2.1, 3.5])  # Rz(90) (x, y, z) = (-y, x, z)
    position, q = pose_from_matrix(T)
    assert np.allclose(q, [0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    assert np.allclose(wrist_pose([0.1, 0.2, 0.3], np.eye(3))[:3, 3], [0.1, 0.2, 0.3])  # no transform


def test_round_trip_through_a_known_transform():
    rng = np.random.default_rng(3)
    R_cam_hand = Rotation.random(random_state=4).as_matrix()
    wrist = rng.uniform(-0.3, 0.3, 3) + [0, 0, 0.6]
    T_robot_cam = make_transform(Rotation.random(random_state=5).as_matrix(), rng.uniform(-1, 1, 3))
    R_tool = rpy_to_matrix(0.0, -math.pi / 2, 0.0)
    T = wrist_pose(wrist, R_cam_hand, T_robot_cam, R_tool)
    back = invert_transform(T_robot_cam) @ T  # tool in the camera frame
    assert np.allclose(back[:3, 3], wrist)
    assert np.allclose(back[:3, :3], R_cam_hand @ R_tool)
    # pitch -90 deg about y: the tool's z axis is the hand's -x axis, the direction of the fingers
    assert np.allclose(back[:3, 2], -R_cam_hand[:, 0])
    position, q = pose_from_matrix(T)
    assert q[3] >= 0 and np.allclose(transform_from_pose(position, q), T)
    assert np.allclose(invert_transform(T) @ T, np.eye(4))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="not a rotation"):
        wrist_pose([0, 0, 1], np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="t must be 3 finite"):
        wrist_pose([0, np.nan, 1], np.eye(3))
    with pytest.raises(ValueError, match="homogeneous"):
        wrist_pose([0, 0, 1], np.eye(3), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="quaternion"):
        transform_from_pose([0, 0, 0], [0, 0, 0, 0])
