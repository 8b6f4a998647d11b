"""retarget_node with real rclpy on loopback (in this process): a published HandArray gives the gripper
command, the wrist pose (camera frame, and a robot frame through /tf_static) and the hand's joint targets with
the right values, frames and stamps; parameters are checked; the fallback TF buffer composes, interpolates
and refuses what it cannot know."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from geometry_msgs.msg import Point, PoseStamped, TransformStamped
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from ros_harness import Harness, spin_in_thread, stop_spinning
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from tf2_msgs.msg import TFMessage

from wildhands.retarget import EXAMPLE_HAND_URDF, VectorRetargeter, keypoints_in_hand_frame, load_urdf
from wildhands.retarget.example_poses import human_hand_poses, human_keypoints, pinch_keypoints
from wildhands.retarget.wrist import make_transform, pose_from_matrix
from wildhands_ros.msg import Hand, HandArray
from wildhands_ros.params import descriptor
from wildhands_ros.retarget_node import GRIPPER_TOPIC, JOINTS_TOPIC, WRIST_TOPIC, RetargetNode
from wildhands_ros.retarget_params import RETARGET_PARAM_SPECS, RetargetParams, check_value
from wildhands_ros.sync import stamp_ns
from wildhands_ros.tf_buffer import TFBuffer, TransformError

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "/retarget_test"  # apart from the session harness's wildhands_node, which publishes /hands
CAMERA = "test_camera_optical_frame"
R_CAM_HAND = Rotation.from_euler("xyz", [0.4, -0.3, 1.2]).as_matrix()  # hand frame -> camera
WRIST_CAM = np.array([0.05, -0.02, 0.45])


def hand_msg(kp_hand: np.ndarray, side: int, confidence: float, track_id: int, R=R_CAM_HAND) -> Hand:
    """A Hand whose keypoints are ``kp_hand`` (hand frame; a left hand given as its right mirror) placed
    in the camera frame by R and WRIST_CAM."""
    h = Hand(side=side, confidence=confidence, track_id=track_id)
    local = kp_hand * ([-1.0, 1.0, 1.0] if side == Hand.SIDE_LEFT else 1.0)
    kp = local @ R.T + WRIST_CAM
    h.keypoints_3d = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in kp]
    q = Rotation.from_matrix(R).as_quat()
    h.wrist_pose.position = Point(x=float(kp[0, 0]), y=float(kp[0, 1]), z=float(kp[0, 2]))
    o = h.wrist_pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    h.grasp_probabilities = [0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1]
    return h


class Rig:
    """One retarget_node + a tester node (publishes hands and /tf_static, records the outputs)."""

    def __init__(self, params: dict | None = None) -> None:
        overrides = [Parameter(k, value=v) for k, v in (params or {}).items()]
        self.node = RetargetNode(namespace=NAMESPACE, parameter_overrides=overrides)
        self.tester = rclpy.create_node("retarget_tester", namespace=NAMESPACE)
        self.hands_pub = self.tester.create_publisher(HandArray, "hands", 10)
        static_qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.static_pub = self.tester.create_publisher(TFMessage, "/tf_static", static_qos)
        self.received: dict[str, dict[int, list]] = {GRIPPER_TOPIC: {}, WRIST_TOPIC: {}, JOINTS_TOPIC: {}}
        self.gripper: list[Float64] = []
        self.tester.create_subscription(Float64, GRIPPER_TOPIC, self.gripper.append, 10)
        for topic, kind in (
            (WRIST_TOPIC, PoseStamped),
            (JOINTS_TOPIC, JointState),
        ):
            self.tester.create_subscription(kind, topic, self._recorder(topic), 10)
        self.logs: list[str] = []
        name = self.node.get_logger().name
        self.tester.create_subscription(
            Log, "/rosout", lambda m: m.name == name and self.logs.append(m.msg), 100
        )
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self._thread = spin_in_thread(self.executor)
        self._sec = 5000
        assert wait(lambda: self.hands_pub.get_subscription_count() > 0, 10.0), (
            "retarget_node did not subscribe"
        )

    def _recorder(self, topic):
        def record(msg) -> None:
            self.received[topic].setdefault(stamp_ns(msg.header), []).append(msg)

        return record

    def send(self, hands: list[Hand], frame_id: str = CAMERA, timeout: float = 10.0) -> HandArray:
        self._sec += 1
        msg = HandArray(hands=hands)
        msg.header.frame_id = frame_id
        msg.header.stamp.sec, msg.header.stamp.nanosec = self._sec, 250_000_000
        n = len(self.gripper)
        self.hands_pub.publish(msg)
        wait(lambda: len(self.gripper) > n and self.received[JOINTS_TOPIC].get(stamp_ns(msg.header)), timeout)
        return msg

    def get(self, topic: str, msg: HandArray, timeout: float = 2.0):
        t = stamp_ns(msg.header)
        wait(lambda: self.received[topic].get(t), timeout)
        got = self.received[topic].get(t)
        return got[0] if got else None

    def close(self) -> None:
        stop_spinning(self.executor, self._thread)
        self.node.destroy_node()
        self.tester.destroy_node()


wait = Harness.wait  # poll a predicate until it holds or the timeout passes


@pytest.fixture(scope="module")
def pinch():
    return pinch_keypoints(0.05)  # thumb and index tips 5 cm apart: half open with the defaults


@pytest.fixture(scope="module")
def rig(ros_context):
    r = Rig()
    yield r
    r.close()


def test_hand_array_gives_gripper_wrist_and_joints(rig, pinch):
    other = human_keypoints(human_hand_poses(1, seed=7))[0]
    hands = [hand_msg(other, Hand.SIDE_LEFT, 0.99, 1), hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 2)]
    msg = rig.send(hands)
    # gripper: 5 cm pinch, linear between 2 and 8 cm onto [0, 0.085] -> 0.0425 (the left hand is ignored)
    assert rig.gripper and rig.gripper[-1].data == pytest.approx(0.0425, abs=1e-3)
    # wrist pose in the camera frame (robot_frame empty): the wrist keypoint and the hand's rotation
    pose = rig.get(WRIST_TOPIC, msg)
    assert pose is not None and pose.header.frame_id == CAMERA and pose.header.stamp == msg.header.stamp
    p, o = pose.pose.position, pose.pose.orientation
    assert np.allclose([p.x, p.y, p.z], WRIST_CAM, atol=1e-9)
    assert np.allclose(Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix(), R_CAM_HAND, atol=1e-6)
    # joint targets: the example hand's 20 joints, the same solution as the library's from a cold start
    js = rig.get(JOINTS_TOPIC, msg)
    assert js is not None and js.header.stamp == msg.header.stamp
    model = load_urdf(EXAMPLE_HAND_URDF)
    assert tuple(js.name) == model.actuated
    q = np.asarray(js.position)
    assert np.all(q >= model.lower - 1e-12) and np.all(q <= model.upper + 1e-12)
    expected = VectorRetargeter(model)(keypoints_in_hand_frame(
        np.array([[k.x, k.y, k.z] for k in hands[1].keypoints_3d]), R_CAM_HAND, "right"))  # fmt: skip
    assert np.abs(q - expected.q).max() < 1e-6
    assert expected.vector_errors.max() < 0.01  # a human pose: within 1 cm on every vector


def test_left_side_and_no_hand(rig, pinch):
    try:
        assert rig.node.set_parameters([Parameter("side", value="left")])[0].successful
        open_hand = human_keypoints(np.zeros((1, 15, 3)))[0]  # flat hand: tips 8.4 cm apart
        rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 3), hand_msg(open_hand, Hand.SIDE_LEFT, 0.5, 4)])
        assert rig.gripper[-1].data == pytest.approx(0.085)  # the left (open) hand drives it now
        n = len(rig.gripper)
        msg = rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 3)], timeout=1.0)  # no left hand: nothing
        assert len(rig.gripper) == n and rig.get(JOINTS_TOPIC, msg, timeout=0.5) is None
    finally:
        rig.node.set_parameters([Parameter("side", value="right")])


def test_wrist_pose_in_a_robot_frame_through_tf_static(rig, pinch):
    T_base_cam = make_transform(Rotation.from_euler("xyz", [-math.pi / 2, 0, -math.pi / 2]).as_matrix(),
                                [0.2, 0.0, 1.1])  # fmt: skip
    t = TransformStamped()
    t.header.frame_id, t.child_frame_id = "test_base_link", CAMERA
    position, q = pose_from_matrix(T_base_cam)
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
        float(v) for v in position
    )
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in q)
    rig.static_pub.publish(TFMessage(transforms=[t]))
    assert rig.node.tf.backend in ("tf2_msgs", "tf2_ros")
    try:
        assert rig.node.set_parameters([Parameter("robot_frame", value="test_base_link")])[0].successful
        assert wait(lambda: _can(rig.node.tf, "test_base_link", CAMERA), 5.0), "no /tf_static received"
        msg = rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 5)])
        pose = rig.get(WRIST_TOPIC, msg)
        assert pose is not None and pose.header.frame_id == "test_base_link"
        assert pose.header.stamp == msg.header.stamp
        p, o = pose.pose.position, pose.pose.orientation
        assert np.allclose([p.x, p.y, p.z], T_base_cam[:3, :3] @ WRIST_CAM + T_base_cam[:3, 3], atol=1e-6)
        R = Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix()
        assert np.allclose(R, T_base_cam[:3, :3] @ R_CAM_HAND, atol=1e-6)
        # a frame TF does not know: no pose, a warning; the gripper and the joints still come
        assert rig.node.set_parameters([Parameter("robot_frame", value="nowhere")])[0].successful
        n = len(rig.gripper)
        msg = rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 5)])
        assert rig.get(WRIST_TOPIC, msg, timeout=0.5) is None
        assert len(rig.gripper) == n + 1 and rig.get(JOINTS_TOPIC, msg) is not None
        assert wait(
            lambda: any("'nowhere'" in line and "wrist pose skipped" in line for line in rig.logs), 2.0
        )
        rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 5)])  # the same cause again: throttled, one line
        time.sleep(0.2)
        assert sum("'nowhere'" in line for line in rig.logs) == 1
    finally:
        rig.node.set_parameters([Parameter("robot_frame", value="")])


def _can(tf, target, source) -> bool:
    try:
        tf.lookup_transform(target, source, Time())
        return True
    except Exception:
        return False


def test_runtime_parameters_and_refusals(rig, pinch):
    try:
        assert rig.node.set_parameters([Parameter("gripper_open", value=0.1)])[0].successful
        rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 6)])
        assert rig.gripper[-1].data == pytest.approx(0.05, abs=1e-3)
    finally:
        rig.node.set_parameters([Parameter("gripper_open", value=0.085)])
    bad = rig.node.set_parameters([Parameter("gripper_close_grasps", value="power_prismatic,pinch")])[0]
    assert not bad.successful and "'pinch' not in" in bad.reason
    bad = rig.node.set_parameters([Parameter("gripper_pinch_open", value=0.01)])[0]  # below pinch_closed
    assert not bad.successful and "pinch_closed_m < pinch_open_m" in bad.reason
    assert not rig.node.set_parameters([Parameter("urdf", value="x.urdf")])[0].successful  # read-only
    # a broken hand (zero quaternion) is skipped with a warning; the next one works
    broken = hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 6)
    broken.wrist_pose.orientation.w = 0.0
    broken.wrist_pose.orientation.x = broken.wrist_pose.orientation.y = broken.wrist_pose.orientation.z = 0.0
    n = len(rig.gripper)
    rig.hands_pub.publish(HandArray(hands=[broken]))
    time.sleep(0.3)
    assert len(rig.gripper) == n
    rig.send([hand_msg(pinch, Hand.SIDE_RIGHT, 0.9, 6)])
    assert len(rig.gripper) == n + 1


def test_params_yaml_and_checks(ros_context):
    data = yaml.safe_load((REPO / "config" / "retarget.yaml").read_text())
    assert data["/**"]["ros__parameters"] == {n: s.default for n, s in RETARGET_PARAM_SPECS.items()}
    assert all(descriptor(n, RETARGET_PARAM_SPECS).description for n in RETARGET_PARAM_SPECS)
    assert "side='up' not in" in check_value("side", "up", RETARGET_PARAM_SPECS)
    with pytest.raises(ValueError, match="'wrist-foo'|'foo'"):
        RetargetParams.defaults().updated({"dex_vectors": "wrist-foo"})
    with pytest.raises(ValueError, match="not of the form"):
        RetargetParams.defaults().updated({"dex_link_map": "wrist"})
    with pytest.raises(ValueError, match="link 'base' not in URDF"):
        RetargetNode(parameter_overrides=[Parameter("dex_link_map", value="wrist:base,index_tip:index_tip"),
                                          Parameter("dex_vectors", value="wrist-index_tip")])  # fmt: skip
    with pytest.raises(ValueError, match="cannot read URDF"):
        RetargetNode(parameter_overrides=[Parameter("urdf", value="/nonexistent/hand.urdf")])
    try:
        import control_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs control_msgs"):
            RetargetNode(parameter_overrides=[Parameter("gripper_msg_type", value="gripper_command")])
    assert rclpy.ok()


# ---------------------------------------------------------------------- the fallback TF buffer, no spinning
def _tf(parent: str, child: str, xyz, rpy=(0, 0, 0), sec: int = 0) -> TransformStamped:
    t = TransformStamped()
    t.header.frame_id, t.child_frame_id = parent, child
    t.header.stamp.sec = sec
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in xyz)
    q = Rotation.from_euler("xyz", rpy).as_quat()
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in q)
    return t


def test_tf_buffer_composes_chains_through_the_tree():
    buf = TFBuffer()
    buf.set_transform(_tf("base", "head", [0, 0, 1.0], (0, 0, math.pi / 2)), static=True)
    buf.set_transform(_tf("head", "camera", [0.1, 0, 0]), static=True)
    buf.set_transform(_tf("base", "hand_mount", [0.5, 0, 0]), static=True)
    T = buf.lookup_matrix("base", "camera")
    assert np.allclose(T[:3, 3], [0.0, 0.1, 1.0])  # yaw 90: head x -> base y
    T2 = buf.lookup_matrix("hand_mount", "camera")  # across the tree, via base
    assert np.allclose(T2[:3, 3], [-0.5, 0.1, 1.0])
    assert np.allclose(buf.lookup_matrix("camera", "hand_mount") @ T2, np.eye(4))
    ts = buf.lookup_transform("base", "camera", Time(seconds=12))  # statics hold at any time
    assert ts.header.frame_id == "base" and ts.child_frame_id == "camera"
    assert ts.transform.translation.y == pytest.approx(0.1)
    with pytest.raises(TransformError, match="'map' does not exist"):
        buf.lookup_matrix("map", "camera")
    buf.set_transform(_tf("odom", "robot", [1, 0, 0]), static=True)
    with pytest.raises(TransformError, match="not connected"):
        buf.lookup_matrix("odom", "camera")
    with pytest.raises(ValueError, match="frame ids"):
        buf.set_transform(_tf("", "x", [0, 0, 0]))


def test_tf_buffer_interpolates_and_does_not_extrapolate():
    buf = TFBuffer()
    buf.set_transform(_tf("base", "arm", [0, 0, 0], (0, 0, 0), sec=10))
    buf.set_transform(_tf("base", "arm", [1.0, 0, 0], (0, 0, math.pi / 2), sec=12))
    T = buf.lookup_matrix("base", "arm", 11 * 10**9)
    assert np.allclose(T[:3, 3], [0.5, 0, 0])
    assert np.allclose(Rotation.from_matrix(T[:3, :3]).as_euler("xyz"), [0, 0, math.pi / 4])
    assert np.allclose(buf.lookup_matrix("base", "arm", 0)[:3, 3], [1.0, 0, 0])  # 0 = latest
    with pytest.raises(TransformError, match="no extrapolation"):
        buf.lookup_matrix("base", "arm", 13 * 10**9)


def test_process_refuses_a_bad_parameter_with_exit_code_1(tmp_path):
    """The node as its own process (what the console script runs): one line, exit code 1, no traceback."""
    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "wildhands_ros.retarget_node", "--ros-args", "-p", "side:=up"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "cannot start:" in out and "side='up' not in" in out
    assert "Traceback" not in result.stderr
