"""Parameters of retarget_node: one table of specs (declared with descriptors by the helpers of params.py),
read into a frozen dataclass that builds the wildhands.retarget configurations.

    p = RetargetParams.from_node(node)     # ValueError: gripper_close_grasps: 'pinch' not in {...}
    p.gripper_config(), p.dex_config(), p.tool_rotation()

``config/retarget.yaml`` mirrors the defaults (a test checks they agree). Lists are comma-separated strings
(``gripper_close_grasps``, ``dex_link_map`` as ``keypoint:link`` pairs, ``dex_vectors`` as
``origin-task`` keypoint pairs), so that they pass through launch arguments and ``ros2 param set`` alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rcl_interfaces.msg import SetParametersResult

from wildhands.model.grasp import GRASP_CLASSES
from wildhands.retarget.dex import DEFAULT_VECTORS, VectorRetargetConfig
from wildhands.retarget.example_hand import EXAMPLE_HAND_LINK_MAP, EXAMPLE_HAND_URDF
from wildhands.retarget.gripper import GRIPPER_MODES, GripperConfig
from wildhands.retarget.urdf import rpy_to_matrix
from wildhands_ros.params import ParamSpec, SpecParams, check_value

SIDES = ("right", "left")
TRANSFORM_TIMES = ("stamp", "latest")
GRIPPER_MSG_TYPES = ("float64", "float64_array", "gripper_command")
_ANGLE = (-2 * math.pi, 2 * math.pi)

RETARGET_PARAM_SPECS: dict[str, ParamSpec] = {
    # --- which hand ---
    "side": ParamSpec("right", "Which human hand drives the robot.", SIDES),
    "min_confidence": ParamSpec(0.0, "Hands with Hand.confidence below this are ignored.", range=(0.0, 1.0)),
    # --- parallel gripper (wildhands.retarget.gripper) ---
    "publish_gripper": ParamSpec(True, "Publish the gripper command on retarget/gripper_command."),
    "gripper_msg_type": ParamSpec(
        "float64",
        "Message of retarget/gripper_command: float64 (std_msgs/Float64), float64_array "
        "(std_msgs/Float64MultiArray, for a forward_command_controller) or gripper_command "
        "(control_msgs/GripperCommand, where control_msgs is installed).",
        GRIPPER_MSG_TYPES,
        read_only=True,
    ),
    "gripper_mode": ParamSpec(
        "linear", "linear: opening follows the pinch; binary: open or closed with hysteresis.", GRIPPER_MODES
    ),
    "gripper_pinch_closed": ParamSpec(
        0.02, "m, thumb-index tip distance at and below which the gripper is fully closed.", range=(0.0, 0.5)
    ),
    "gripper_pinch_open": ParamSpec(
        0.08, "m, thumb-index tip distance at and above which the gripper is fully open.", range=(0.001, 0.5)
    ),
    "gripper_closed": ParamSpec(
        0.0,
        "Command of the fully closed gripper (controller unit, e.g. m of jaw opening).",
        range=(-1e3, 1e3),
    ),
    "gripper_open": ParamSpec(
        0.085,
        "Command of the fully open gripper (controller unit, e.g. m of jaw opening).",
        range=(-1e3, 1e3),
    ),
    "gripper_hysteresis": ParamSpec(
        0.01, "m, binary mode: width of the band around the middle pinch distance.", range=(0.0, 0.5)
    ),
    "gripper_close_grasps": ParamSpec(
        "",
        "Comma-separated grasp classes allowed to close the gripper (e.g. power_prismatic,lateral); "
        "empty = no grasp gating.",
    ),
    "gripper_min_grasp_probability": ParamSpec(
        0.5, "Summed probability of gripper_close_grasps that lets the gripper close.", range=(0.01, 1.0)
    ),
    "gripper_grasp_hysteresis": ParamSpec(
        0.1, "The gate shuts again below gripper_min_grasp_probability minus this.", range=(0.0, 0.99)
    ),
    "gripper_max_effort": ParamSpec(
        0.0, "N, max_effort of control_msgs/GripperCommand (0 = the controller's default).", range=(0.0, 1e4)
    ),
    # --- wrist pose (wildhands.retarget.wrist) ---
    "publish_wrist_pose": ParamSpec(True, "Publish the wrist pose on retarget/wrist_pose (PoseStamped)."),
    "robot_frame": ParamSpec(
        "", "Frame of retarget/wrist_pose, looked up through TF; empty = the camera frame of the hands."
    ),
    "transform_time": ParamSpec(
        "stamp", "TF lookup at the hands' stamp, or the latest transform.", TRANSFORM_TIMES
    ),
    "tool_roll": ParamSpec(
        0.0, "rad, fixed rotation hand frame -> tool frame: roll (URDF rpy).", range=_ANGLE
    ),
    "tool_pitch": ParamSpec(0.0, "rad, fixed rotation hand frame -> tool frame: pitch.", range=_ANGLE),
    "tool_yaw": ParamSpec(0.0, "rad, fixed rotation hand frame -> tool frame: yaw.", range=_ANGLE),
    # --- dexterous hand (wildhands.retarget.dex) ---
    "publish_joint_states": ParamSpec(
        True, "Publish dexterous hand joint targets on retarget/joint_states (JointState)."
    ),
    "urdf": ParamSpec(
        "", "Robot hand URDF file; empty = the bundled example hand (human-sized).", read_only=True
    ),
    "dex_link_map": ParamSpec(
        ",".join(f"{k}:{v}" for k, v in EXAMPLE_HAND_LINK_MAP.items()),
        "Comma-separated keypoint:link pairs: the robot link of each human keypoint used.",
        read_only=True,
    ),
    "dex_vectors": ParamSpec(
        ",".join(f"{a}-{b}" for a, b in DEFAULT_VECTORS),
        "Comma-separated origin-task keypoint pairs: the vectors matched.",
        read_only=True,
    ),
    "dex_scale": ParamSpec(1.0, "Robot / human hand size ratio.", range=(0.1, 10.0), read_only=True),
    "dex_hand_roll": ParamSpec(
        0.0, "rad, hand frame in the URDF's base link: roll (URDF rpy).", range=_ANGLE, read_only=True
    ),
    "dex_hand_pitch": ParamSpec(
        0.0, "rad, hand frame in the URDF's base link: pitch.", range=_ANGLE, read_only=True
    ),
    "dex_hand_yaw": ParamSpec(
        0.0, "rad, hand frame in the URDF's base link: yaw.", range=_ANGLE, read_only=True
    ),
    "dex_smoothness": ParamSpec(
        1e-6, "m^2/rad^2, weight of ||q - q_prev||^2 in the fit.", range=(0.0, 1.0), read_only=True
    ),
    "dex_max_iterations": ParamSpec(
        100, "Most solver evaluations per frame.", range=(1, 10000), read_only=True
    ),
    "log_throttle_sec": ParamSpec(5.0, "s between repeats of the same warning.", range=(0.0, 3600.0)),
}


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _pairs(text: str, sep: str, name: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in _names(text):
        parts = item.split(sep)
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise ValueError(f"{name}: {item!r} is not of the form a{sep}b")
        out.append((parts[0].strip(), parts[1].strip()))
    return tuple(out)


@dataclass(frozen=True)
class RetargetParams(SpecParams):
    SPECS: ClassVar[dict[str, ParamSpec]] = RETARGET_PARAM_SPECS

    side: str
    min_confidence: float
    publish_gripper: bool
    gripper_msg_type: str
    gripper_mode: str
    gripper_pinch_closed: float
    gripper_pinch_open: float
    gripper_closed: float
    gripper_open: float
    gripper_hysteresis: float
    gripper_close_grasps: str
    gripper_min_grasp_probability: float
    gripper_grasp_hysteresis: float
    gripper_max_effort: float
    publish_wrist_pose: bool
    robot_frame: str
    transform_time: str
    tool_roll: float
    tool_pitch: float
    tool_yaw: float
    publish_joint_states: bool
    urdf: str
    dex_link_map: str
    dex_vectors: str
    dex_scale: float
    dex_hand_roll: float
    dex_hand_pitch: float
    dex_hand_yaw: float
    dex_smoothness: float
    dex_max_iterations: int
    log_throttle_sec: float

    def check_together(self) -> None:
        for build in (self.gripper_config, self.dex_config):  # cross-field checks, named
            build()

    def gripper_config(self) -> GripperConfig:
        try:
            return GripperConfig(
                pinch_closed_m=self.gripper_pinch_closed,
                pinch_open_m=self.gripper_pinch_open,
                closed=self.gripper_closed,
                open=self.gripper_open,
                mode=self.gripper_mode,
                hysteresis_m=self.gripper_hysteresis,
                close_grasps=_names(self.gripper_close_grasps),
                min_grasp_probability=self.gripper_min_grasp_probability,
                grasp_hysteresis=self.gripper_grasp_hysteresis,
            )
        except ValueError as exc:
            raise ValueError(
                f"gripper parameters: {exc} (grasp classes: {', '.join(GRASP_CLASSES)})"
            ) from None

    def dex_config(self) -> VectorRetargetConfig:
        try:
            return VectorRetargetConfig(
                link_map=_pairs(self.dex_link_map, ":", "dex_link_map"),
                vectors=_pairs(self.dex_vectors, "-", "dex_vectors"),
                scale=self.dex_scale,
                hand_rpy=(self.dex_hand_roll, self.dex_hand_pitch, self.dex_hand_yaw),
                smoothness=self.dex_smoothness,
                max_iterations=self.dex_max_iterations,
            )
        except ValueError as exc:
            raise ValueError(f"dex parameters: {exc}") from None

    def urdf_path(self) -> Path:
        return Path(self.urdf) if self.urdf else EXAMPLE_HAND_URDF

    def tool_rotation(self):
        """(3, 3): the tool frame's axes in the hand frame (tool_roll/pitch/yaw)."""
        return rpy_to_matrix(self.tool_roll, self.tool_pitch, self.tool_yaw)


def on_set_retarget_parameters(current: RetargetParams | None, params: list) -> SetParametersResult:
    """Refuse values that fail their spec or make an invalid configuration together, with the reason."""
    changes = {}
    for p in params:
        if p.name not in RETARGET_PARAM_SPECS:
            continue  # e.g. use_sim_time: rclpy's own
        reason = check_value(p.name, p.value, RETARGET_PARAM_SPECS)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        changes[p.name] = p.value
    if current is not None and changes:
        try:
            current.updated(changes)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
    return SetParametersResult(successful=True)
