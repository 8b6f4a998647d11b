"""retarget_node: hands (wildhands_ros/HandArray) -> robot teleoperation commands for one human hand.

Per HandArray, the most confident hand of the chosen ``side`` (at least ``min_confidence``) gives:

* ``retarget/gripper_command``: the parallel-gripper opening from the thumb-index distance, with grasp
  gating (std_msgs/Float64 by default; see ``gripper_msg_type``);
* ``retarget/wrist_pose`` (geometry_msgs/PoseStamped): the wrist as a tool pose in ``robot_frame``
  (through TF unless it is the camera frame of the hands);
* ``retarget/joint_states`` (sensor_msgs/JointState): joint targets of a URDF robot hand by vector
  retargeting (the bundled example hand by default).

All are stamped with the HandArray's stamp. The math is in ``wildhands.retarget``; parameters in
``retarget_params.py`` (``config/retarget.yaml``). A new track id, or a change of hand, resets the
gripper's and the solver's state. No hand of the side: nothing is published (the robot holds).
The work (mostly the joint solve, ~10-20 ms CPU, bench/results/retarget.json) runs in the subscription
callback; the input keeps only the newest HandArray (depth 1), so a slow solve skips hands, never queues them.

    .venv/bin/wildhands_retarget_node --ros-args --params-file config/retarget.yaml -p robot_frame:=base_link
    ros2 run wildhands_ros wildhands_retarget_node --ros-args -p side:=left
"""

from __future__ import annotations

import sys

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from wildhands.retarget.dex import VectorRetargeter, keypoints_in_hand_frame
from wildhands.retarget.gripper import GripperRetargeter
from wildhands.retarget.urdf import load_urdf
from wildhands.retarget.wrist import pose_from_matrix, transform_from_pose, wrist_pose
from wildhands_ros.health import Throttle
from wildhands_ros.msg import Hand, HandArray
from wildhands_ros.params import declare_parameters
from wildhands_ros.process import spin_node
from wildhands_ros.retarget_params import RETARGET_PARAM_SPECS, RetargetParams, on_set_retarget_parameters
from wildhands_ros.tf_buffer import make_tf_buffer, transform_to_matrix

SIDE_CODES = {"left": Hand.SIDE_LEFT, "right": Hand.SIDE_RIGHT}
GRIPPER_TOPIC = "retarget/gripper_command"
WRIST_TOPIC = "retarget/wrist_pose"
JOINTS_TOPIC = "retarget/joint_states"


def hand_arrays(hand: Hand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints (21, 3) m and wrist rotation (3, 3) (hand -> camera) and grasp probabilities (8,)."""
    kp = np.array([[p.x, p.y, p.z] for p in hand.keypoints_3d], dtype=np.float64)
    o = hand.wrist_pose.orientation
    R = transform_from_pose((0.0, 0.0, 0.0), (o.x, o.y, o.z, o.w))[:3, :3]
    return kp, R, np.asarray(hand.grasp_probabilities, dtype=np.float64)


class RetargetNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__("retarget_node", **kwargs)
        try:
            self._setup()
        except BaseException:
            super().destroy_node()
            raise

    def _setup(self) -> None:
        self.params: RetargetParams | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameters(self, RETARGET_PARAM_SPECS)
        p = self.params = RetargetParams.from_node(self)  # ValueError naming a bad parameter
        self.throttle = Throttle(p.log_throttle_sec)
        self.gripper = GripperRetargeter(p.gripper_config())
        self.robot = load_urdf(p.urdf_path())  # ValueError: unreadable or unsupported URDF
        self.dex = VectorRetargeter(self.robot, p.dex_config())  # ValueError: a link not in the URDF
        self._track: int | None = None  # track id of the hand followed (-1: tracking off upstream)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.gripper_pub = self.create_publisher(self._gripper_type(p), GRIPPER_TOPIC, 10)
        self.wrist_pub = self.create_publisher(PoseStamped, WRIST_TOPIC, 10)
        self.joints_pub = self.create_publisher(JointState, JOINTS_TOPIC, 10)
        self.tf = make_tf_buffer(self)
        self.create_subscription(HandArray, "hands", self._on_hands, qos)  # latest wins: depth 1
        self.get_logger().info(
            f"ready: side={p.side}, robot hand {self.robot.name!r} ({self.robot.num_actuated} joints), "
            f"robot_frame={p.robot_frame or '(camera frame)'}, tf={self.tf.backend}"
        )

    def _gripper_type(self, p: RetargetParams):
        if p.gripper_msg_type == "float64":
            return Float64
        if p.gripper_msg_type == "float64_array":
            return Float64MultiArray
        try:
            from control_msgs.msg import GripperCommand
        except ImportError:
            raise ValueError(
                "gripper_msg_type='gripper_command' needs control_msgs, which is not installed"
            ) from None
        return GripperCommand

    def _on_set_parameters(self, params):
        result = on_set_retarget_parameters(self.params, params)
        if result.successful and self.params is not None:
            changes = {q.name: q.value for q in params if q.name in RETARGET_PARAM_SPECS}
            old, self.params = self.params, self.params.updated(changes)
            self.throttle.period = self.params.log_throttle_sec
            if self.params.gripper_config() != old.gripper_config():
                self.gripper = GripperRetargeter(self.params.gripper_config())
        return result

    def _warn(self, key: str, message: str) -> None:
        if self.throttle.ready(key):
            self.get_logger().warning(message)

    # ------------------------------------------------------------------ processing
    @staticmethod
    def _select(msg: HandArray, p: RetargetParams) -> Hand | None:
        """The most confident hand of the chosen side with confidence >= min_confidence."""
        side = SIDE_CODES[p.side]
        candidates = [h for h in msg.hands if h.side == side and h.confidence >= p.min_confidence]
        return max(candidates, key=lambda h: h.confidence, default=None)

    def _on_hands(self, msg: HandArray) -> None:
        try:
            self._process(msg)
        except Exception as exc:  # one bad message must not stop the node
            self._warn(f"error:{type(exc).__name__}", f"hands message skipped: {type(exc).__name__}: {exc}")

    def _process(self, msg: HandArray) -> None:
        p = self.params
        chosen = self._select(msg, p)
        if chosen is None:
            return
        hand = chosen
        if hand.track_id != self._track:  # another hand: start from a clean state
            self.gripper.reset()
            self.dex.reset()
            self._track = int(hand.track_id)
        kp, R_cam_hand, grasp = hand_arrays(hand)
        if not (np.all(np.isfinite(kp)) and np.all(np.isfinite(R_cam_hand)) and np.all(np.isfinite(grasp))):
            return self._warn(
                "nan", "hand with non-finite keypoints, wrist pose or grasp probabilities skipped"
            )
        if p.publish_gripper:
            self._publish_gripper(self.gripper(kp, grasp).command, p)
        if p.publish_wrist_pose:
            self._publish_wrist(msg, kp, R_cam_hand, p)
        if p.publish_joint_states:
            side = "left" if hand.side == Hand.SIDE_LEFT else "right"
            result = self.dex(keypoints_in_hand_frame(kp, R_cam_hand, side))
            js = JointState()
            js.header.stamp = msg.header.stamp
            js.name = list(self.dex.joint_names)
            js.position = [float(v) for v in result.q]
            self.joints_pub.publish(js)

    def _publish_gripper(self, command: float, p: RetargetParams) -> None:
        kind = self.gripper_pub.msg_type
        if kind is Float64:
            out = Float64(data=float(command))
        elif kind is Float64MultiArray:
            out = Float64MultiArray(data=[float(command)])
        else:  # control_msgs/GripperCommand
            out = kind(position=float(command), max_effort=float(p.gripper_max_effort))
        self.gripper_pub.publish(out)

    def _publish_wrist(
        self, msg: HandArray, kp: np.ndarray, R_cam_hand: np.ndarray, p: RetargetParams
    ) -> None:
        camera_frame = msg.header.frame_id
        frame = p.robot_frame or camera_frame
        T_robot_cam = None
        if frame != camera_frame:
            when = Time() if p.transform_time == "latest" else Time.from_msg(msg.header.stamp)
            try:
                T_robot_cam = transform_to_matrix(self.tf.lookup_transform(frame, camera_frame, when))
            except Exception as exc:  # tf2's exceptions or ours: no pose this time
                return self._warn(
                    "tf", f"no transform {camera_frame!r} -> {frame!r}: {exc}; wrist pose skipped"
                )
        T = wrist_pose(kp[0], R_cam_hand, T_robot_cam, p.tool_rotation())
        position, q = pose_from_matrix(T)
        out = PoseStamped()
        out.header.stamp = msg.header.stamp
        out.header.frame_id = frame
        out.pose.position.x, out.pose.position.y, out.pose.position.z = (float(v) for v in position)
        o = out.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
        self.wrist_pub.publish(out)


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; exit code 1 with one line for bad parameters."""
    return spin_node(RetargetNode, "retarget_node", args)


if __name__ == "__main__":
    sys.exit(main())
