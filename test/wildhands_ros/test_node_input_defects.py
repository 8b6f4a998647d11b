"""Issue 17: the node's handling of clumsy input, each case with real rclpy pub/sub on loopback.

CameraInfo after a pause, a far-future image, unknown and mistyped parameters, shutdown while waiting for
hand boxes, the input QoS parameters, absurd intrinsics and an empty frame id.
"""

from __future__ import annotations

import time

import pytest
import rclpy
from rcl_interfaces.msg import Log
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import NODE_PARAMS, camera_info_msg, spin_in_thread, stop_spinning
from sensor_msgs.msg import CameraInfo, Image

from wildhands_ros.conversions import rgb_to_image
from wildhands_ros.node import WildHandsNode


# ---------------------------------------------------------------------------------------- pairing
def test_first_image_after_a_pause_gets_its_late_camera_info(h):
    """Stream with CameraInfo published first; after a pause longer than camera_info_timeout the first
    image arrives 30 ms before its own CameraInfo: it is paired with it (not skipped, not estimated)."""
    h.node.set_parameters([Parameter("camera_info_timeout", value=0.3)])
    for _ in range(4):
        assert h.hands_for(h.send()) is not None  # CameraInfo, then the image
        time.sleep(0.6)  # pause > camera_info_timeout
        mark = len(h.logs)
        header = h.next_header()
        h.image_pub.publish(rgb_to_image(h.image, header, "bgr8"))
        time.sleep(0.03)
        h.info_pub.publish(camera_info_msg(h.camera, header))
        msg = h.hands_for(header, timeout=5.0)
        assert msg is not None, f"image after the pause was dropped: {h.log_lines('', mark)}"
        assert not any(hand.intrinsics_estimated for hand in msg.hands)
        assert not h.log_lines("no CameraInfo", mark)


def test_first_image_after_a_pause_is_not_estimated(h):
    """The same with camera_info_policy=estimate: the real CameraInfo is used, not a guess."""
    h.node.set_parameters(
        [Parameter("camera_info_timeout", value=0.3), Parameter("camera_info_policy", value="estimate")]
    )
    assert h.hands_for(h.send()) is not None
    time.sleep(0.6)
    header = h.next_header()
    h.send(header=header, info=False)  # boxes, then the image
    time.sleep(0.03)
    h.info_pub.publish(camera_info_msg(h.camera, header))
    msg = h.hands_for(header, timeout=5.0)
    assert msg is not None and len(msg.hands) == 2
    assert not any(hand.intrinsics_estimated for hand in msg.hands)


def test_a_far_future_image_does_not_stall_the_stream(h):
    """An image stamped far in the future with no CameraInfo must not hold back the valid frames behind it
    (before: it stayed at the head of the pairing queue until 10 newer images piled up)."""
    assert h.hands_for(h.send()) is not None
    mark = len(h.logs)
    future = h.next_header()
    future.stamp.sec += 1_000_000
    h.image_pub.publish(rgb_to_image(h.image, future, "bgr8"))
    headers = []
    for _ in range(9):  # a 10 Hz stream
        headers.append(h.send())
        time.sleep(0.1)
    got = [h.hands_for(hd, timeout=5.0 if i == len(headers) - 1 else 1.0) for i, hd in enumerate(headers)]
    # latest frame wins: a frame may be replaced while the worker is busy (frames_dropped), never stalled
    assert got[-1] is not None and sum(m is not None for m in got) >= 5, [m is not None for m in got]
    assert h.hands_for(future, timeout=0.1) is None
    assert h.wait(lambda: h.log_lines("has no camera_info within max_sync_delay", mark), 2.0)


def test_no_camera_info_at_all_is_estimated_after_camera_info_wait(h):
    h.node.set_parameters(
        [Parameter("camera_info_policy", value="estimate"), Parameter("camera_info_timeout", value=0.1)]
    )
    time.sleep(0.3)
    msg = h.hands_for(h.send(info=False), timeout=5.0)
    assert msg is not None and all(hand.intrinsics_estimated for hand in msg.hands)


# ---------------------------------------------------------------------------------------- intrinsics
@pytest.mark.parametrize(
    "k, text",
    [
        ([1e12, 0.0, 319.5, 0.0, 1e12, 239.5, 0.0, 0.0, 1.0], "field of view"),
        ([1e-6, 0.0, 319.5, 0.0, 1e-6, 239.5, 0.0, 0.0, 1.0], "field of view"),
        ([600.0, 0.0, 5000.0, 0.0, 600.0, -3000.0, 0.0, 0.0, 1.0], "principal point"),
    ],
)
def test_absurd_intrinsics_are_not_used_as_calibrated(h, k, text):
    mark = len(h.logs)
    header = h.next_header()
    info = camera_info_msg(h.camera, header)
    info.k = [k[0], 0.0, k[2], 0.0, k[4], k[5], 0.0, 0.0, 1.0]
    info.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    h.send(header=header, info=info)
    assert h.wait(lambda: h.log_lines(text, mark), 5.0), h.log_lines("", mark)
    assert h.hands_for(header, timeout=0.3) is None  # camera_info_policy=skip
    h.node.set_parameters([Parameter("camera_info_policy", value="estimate")])
    header = h.next_header()
    info.header = header
    msg = h.hands_for(h.send(header=header, info=info))
    assert msg is not None and all(hand.intrinsics_estimated for hand in msg.hands)


def test_empty_frame_ids_are_refused(h):
    result = h.node.set_parameters([Parameter("default_frame_id", value="")])[0]
    assert not result.successful and "default_frame_id='' must not be empty" in result.reason
    result = h.node.set_parameters([Parameter("frame_prefix", value="")])[0]
    assert not result.successful and "must not be empty" in result.reason
    assert h.node.params.default_frame_id and h.node.params.frame_prefix


def test_runtime_type_errors_name_the_types(h):
    result = h.node.set_parameters([Parameter("tracking", value=1)])[0]
    assert not result.successful and result.reason == "tracking=1 (int) must be of type bool"
    result = h.node.set_parameters([Parameter("one_euro_beta", value="fast")])[0]
    assert not result.successful and "(str) must be of type float" in result.reason
    assert h.node.params.tracking is True
    assert h.node.set_parameters([Parameter("one_euro_beta", value=5)])[0].successful  # int for a float


# ---------------------------------------------------------------------------------------- parameters
@pytest.fixture()
def rosout(ros_context):
    """Log lines of wildhands_node seen on /rosout (a separate listener node, spun in a thread)."""
    node = rclpy.create_node("wildhands_rosout_listener")
    lines: list[str] = []
    node.create_subscription(
        Log, "/rosout", lambda m: lines.append(m.msg) if m.name.endswith("wildhands_node") else None, 100
    )
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    thread = spin_in_thread(executor)
    yield lines
    stop_spinning(executor, thread)
    node.destroy_node()


def _params_file(tmp_path, **values) -> str:
    body = "\n".join(f"    {k}: {v}" for k, v in values.items())
    path = tmp_path / "params.yaml"
    path.write_text(f"/**:\n  ros__parameters:\n{body}\n")
    return str(path)


def _node(cli_args: list[str]) -> WildHandsNode:
    base = [a for k, v in NODE_PARAMS.items() for a in ("-p", f"{k}:={v}")]
    return WildHandsNode(cli_args=["--ros-args", *base, *cli_args])


def test_unknown_parameters_are_named_with_the_closest_known_one(tmp_path, rosout):
    path = _params_file(tmp_path, detecter="none", max_hands=1)
    node = _node(["--params-file", path, "-p", "not_a_param:=3"])
    try:
        assert node.params.max_hands == 1  # the file's known values apply
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not (
            any("'detecter'" in x for x in rosout) and any("'not_a_param'" in x for x in rosout)
        ):
            time.sleep(0.05)
        detecter = [x for x in rosout if "'detecter'" in x]
        assert detecter and "unknown parameter 'detecter' ignored (did you mean 'detector'?)" in detecter[0]
        assert any("unknown parameter 'not_a_param' ignored" in x for x in rosout)
        assert not any("use_sim_time" in x for x in rosout)
    finally:
        node.destroy_node()


@pytest.mark.parametrize(
    "item, text",
    [
        ("tracking:=1", "tracking=1 (int) must be of type bool"),
        ("max_hands:=two", "max_hands='two' (str) must be of type int"),
        ("box_scale:=big", "box_scale='big' (str) must be of type float"),
    ],
)
def test_mistyped_cli_parameters_after_a_params_file_are_refused(tmp_path, ros_context, item, text):
    """rcl drops a -p whose type differs from the same key in an earlier --params-file; the node would
    silently run with the file's value. It refuses to start instead, naming the argument."""
    path = _params_file(tmp_path, tracking="true", max_hands=2, box_scale=1.5)
    with pytest.raises(ValueError, match=f"-p {item}: {text}".replace("(", r"\(").replace(")", r"\)")):
        _node(["--params-file", path, "-p", item])
    assert rclpy.ok()


def test_an_empty_frame_id_is_refused_at_start(ros_context):
    with pytest.raises((ValueError, ParameterException), match="default_frame_id='' must not be empty"):
        _node(["-p", "default_frame_id:=''"])


def test_mistyped_values_in_a_params_file_are_refused_with_names(tmp_path, ros_context):
    path = _params_file(tmp_path, max_hands='"two"')
    with pytest.raises(
        (ValueError, ParameterException), match=r"max_hands='two' \(str\) must be of type int"
    ):
        _node(["--params-file", path])


def test_parameters_for_another_node_are_not_checked(tmp_path, ros_context):
    node = _node(["-p", "other_node:tracking:=1"])
    try:
        assert node.params.tracking is True
    finally:
        node.destroy_node()


# ---------------------------------------------------------------------------------------- QoS
def test_input_qos_parameters(ros_context, rosout):
    probe = rclpy.create_node("wildhands_qos_probe")
    node = _node([])
    try:
        infos = probe.get_subscriptions_info_by_topic(node.resolve_topic_name("image"))
        assert infos and infos[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert infos[0].qos_profile.depth in (0, 5)  # depth is not always reported in graph info
    finally:
        node.destroy_node()
    node = _node(["-p", "input_qos_reliability:=reliable", "-p", "input_qos_depth:=2"])
    try:
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            infos = probe.get_subscriptions_info_by_topic(node.resolve_topic_name("image"))
            if infos and infos[-1].qos_profile.reliability == ReliabilityPolicy.RELIABLE:
                break
            time.sleep(0.05)
        assert infos[-1].qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert node.params.input_qos().depth == 2
        # a best-effort camera cannot connect to a reliable subscription: the node says so
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        thread = spin_in_thread(executor)
        probe.create_publisher(Image, node.resolve_topic_name("image"), qos_profile_sensor_data)
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not any("incompatible QoS" in x for x in rosout):
            time.sleep(0.05)
        stop_spinning(executor, thread)
        assert any("incompatible QoS (RELIABILITY)" in x and "publish RELIABLE" in x for x in rosout), rosout
    finally:
        node.destroy_node()
        probe.destroy_node()


# ---------------------------------------------------------------------------------------- shutdown
def test_shutdown_wakes_a_worker_waiting_for_hand_boxes(ros_context, sample):
    """hand_boxes_timeout=5 s, an image without boxes: destroy_node must not wait for the timeout."""
    image, camera, _ = sample
    node = _node(["-p", "hand_boxes_timeout:=5.0"])
    pub_node = rclpy.create_node("wildhands_boxes_probe")
    try:
        image_pub = pub_node.create_publisher(Image, "image", 10)
        info_pub = pub_node.create_publisher(CameraInfo, "camera_info", 10)
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        thread = spin_in_thread(executor)
        end = time.monotonic() + 10.0
        while image_pub.get_subscription_count() == 0 and time.monotonic() < end:
            time.sleep(0.02)
        msg = rgb_to_image(image, None, "rgb8")
        msg.header.stamp.sec, msg.header.frame_id = 77, "cam"
        info_pub.publish(camera_info_msg(camera, msg.header))
        time.sleep(0.02)
        image_pub.publish(msg)
        end = time.monotonic() + 5.0
        while not (node.health.received and node._slot is None) and time.monotonic() < end:
            time.sleep(0.02)  # received, paired and taken by the worker
        assert node.health.received == 1 and node._slot is None
        time.sleep(0.3)  # the worker is now waiting for boxes (up to 5 s)
        stop_spinning(executor, thread)
        t0 = time.monotonic()
        node.destroy_node()
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0, f"destroy_node took {elapsed:.2f} s with hand_boxes_timeout=5 s"
        assert not node._worker.is_alive()
    finally:
        pub_node.destroy_node()
