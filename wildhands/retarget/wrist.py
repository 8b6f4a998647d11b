"""Wrist pose for teleoperation: the hand's wrist frame, as a tool pose in a robot frame.

The hand frame (``T_cam_hand``) has its origin at the wrist keypoint and the hand model's axes (fingers
along −x, palm normal −y, thumb towards +z for a right hand; a left hand's x axis is mirrored, see
``wildhands.handmodel.open_hand``); its rotation is ``HandEstimate.wrist_rotation`` (= ``Hand.wrist_pose``),
hand frame -> camera optical frame. A fixed rotation ``R_hand_tool`` (``tool_rpy``) turns it into the
frame a robot controller expects for its tool (e.g. approach axis +z along the fingers). The output::

    T_robot_tool = T_robot_cam @ T_cam_hand @ [R_hand_tool, 0]

with ``T_robot_cam`` (4, 4) the camera optical frame in the robot frame (from TF; the identity when the
robot frame is the camera frame). Positions in metres.

    T = wrist_pose(hand.keypoints_cam_m[0], hand.wrist_rotation, T_robot_cam, rpy_to_matrix(0, -pi/2, 0))
    position, quaternion_xyzw = pose_from_matrix(T)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from wildhands.retarget.urdf import rpy_to_matrix

__all__ = [
    "invert_transform",
    "make_transform",
    "pose_from_matrix",
    "rpy_to_matrix",
    "transform_from_pose",
    "wrist_pose",
]


def _rotation(R, name: str) -> np.ndarray:
    Rn = np.asarray(R, dtype=np.float64)
    if Rn.shape != (3, 3) or not np.all(np.isfinite(Rn)):
        raise ValueError(f"{name} must be a finite (3, 3) matrix, got shape {Rn.shape}")
    if not np.allclose(Rn @ Rn.T, np.eye(3), atol=1e-4) or np.linalg.det(Rn) < 0:
        raise ValueError(f"{name} is not a rotation matrix")
    return Rn


def _transform(T, name: str) -> np.ndarray:
    Tn = np.asarray(T, dtype=np.float64)
    if Tn.shape != (4, 4) or not np.all(np.isfinite(Tn)) or not np.allclose(Tn[3], (0, 0, 0, 1)):
        raise ValueError(f"{name} must be a finite homogeneous (4, 4) transform")
    _rotation(Tn[:3, :3], f"{name}[:3, :3]")
    return Tn


def make_transform(R, t) -> np.ndarray:
    """(4, 4) from a rotation (3, 3) and a translation (3,) m."""
    T = np.eye(4)
    T[:3, :3] = _rotation(R, "R")
    tn = np.asarray(t, dtype=np.float64)
    if tn.shape != (3,) or not np.all(np.isfinite(tn)):
        raise ValueError(f"t must be 3 finite values, got {tn.shape}")
    T[:3, 3] = tn
    return T


def invert_transform(T) -> np.ndarray:
    """Inverse of a rigid (4, 4) transform."""
    Tn = _transform(T, "T")
    out = np.eye(4)
    out[:3, :3] = Tn[:3, :3].T
    out[:3, 3] = -Tn[:3, :3].T @ Tn[:3, 3]
    return out


def transform_from_pose(position, quaternion_xyzw) -> np.ndarray:
    """(4, 4) from a position (3,) m and a quaternion (x, y, z, w) (ROS order; normalised here)."""
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"quaternion must be 4 finite values, not all zero, got {quaternion_xyzw!r}")
    return make_transform(Rotation.from_quat(q).as_matrix(), position)


def pose_from_matrix(T) -> tuple[np.ndarray, np.ndarray]:
    """(position (3,) m, quaternion (4,) x, y, z, w with w >= 0) of a (4, 4) transform."""
    Tn = _transform(T, "T")
    q = Rotation.from_matrix(Tn[:3, :3]).as_quat()
    return Tn[:3, 3].copy(), (q if q[3] >= 0 else -q)


def wrist_pose(wrist_position_cam_m, wrist_rotation, T_robot_cam=None, R_hand_tool=None) -> np.ndarray:
    """``T_robot_tool`` (4, 4): see the module docstring.

    wrist_position_cam_m: (3,) m, the wrist keypoint in the camera optical frame.
    wrist_rotation: (3, 3), hand frame -> camera optical frame.
    T_robot_cam: (4, 4), camera optical frame -> robot frame; None = the identity.
    R_hand_tool: (3, 3), tool frame -> hand frame (the tool's axes in the hand frame); None = identity.
    """
    T = make_transform(wrist_rotation, wrist_position_cam_m)
    if R_hand_tool is not None:
        T = T @ make_transform(R_hand_tool, np.zeros(3))
    if T_robot_cam is not None:
        T = _transform(T_robot_cam, "T_robot_cam") @ T
    return T
