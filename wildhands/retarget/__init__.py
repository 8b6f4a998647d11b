"""Teleoperation retargeting: human hand estimates -> robot commands (no ROS here).

* :mod:`~wildhands.retarget.gripper`: parallel-gripper opening from the thumb–index distance, with grasp
  gating and hysteresis.
* :mod:`~wildhands.retarget.wrist`: the wrist as a tool pose in a robot frame (4x4 transforms).
* :mod:`~wildhands.retarget.dex`: dexterous-hand joint targets by vector retargeting onto a URDF hand.
* :mod:`~wildhands.retarget.urdf`: a minimal URDF reader with batched forward kinematics and Jacobians.
* :mod:`~wildhands.retarget.example_hand`: the bundled example hand (``assets/urdf``), human-sized.

The ROS adapter is ``wildhands_ros/retarget_node.py``.
"""

from wildhands.retarget.dex import (
    DEFAULT_VECTORS,
    RetargetResult,
    VectorRetargetConfig,
    VectorRetargeter,
    keypoints_in_hand_frame,
)
from wildhands.retarget.example_hand import EXAMPLE_HAND_LINK_MAP, EXAMPLE_HAND_URDF
from wildhands.retarget.gripper import GripperCommand, GripperConfig, GripperRetargeter, pinch_distance
from wildhands.retarget.urdf import RobotModel, load_urdf, parse_urdf, rpy_to_matrix
from wildhands.retarget.wrist import pose_from_matrix, transform_from_pose, wrist_pose

__all__ = [
    "DEFAULT_VECTORS",
    "EXAMPLE_HAND_LINK_MAP",
    "EXAMPLE_HAND_URDF",
    "GripperCommand",
    "GripperConfig",
    "GripperRetargeter",
    "RetargetResult",
    "RobotModel",
    "VectorRetargetConfig",
    "VectorRetargeter",
    "keypoints_in_hand_frame",
    "load_urdf",
    "parse_urdf",
    "pinch_distance",
    "pose_from_matrix",
    "rpy_to_matrix",
    "transform_from_pose",
    "wrist_pose",
]
