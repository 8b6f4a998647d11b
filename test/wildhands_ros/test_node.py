"""The node in this process with real rclpy on loopback: sample image + CameraInfo + 2 boxes -> hands,
TF, markers, points, diagnostics; bad input gives one throttled log line and the node keeps running."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_harness import FRAME, camera_info_msg
from visualization_msgs.msg import Marker

from wildhands.handmodel.keypoints import KEYPOINT_NAMES
from wildhands.runtime.engines.base import EngineOutput
from wildhands_ros.conversions import cloud_to_points, rgb_to_image
from wildhands_ros.msg import Hand
from wildhands_ros.tf import frame_name


def _kp3d(hand: Hand) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in hand.keypoints_3d])


def test_hands_tf_markers_points_diagnostics(h):
    header = h.send()
    msg = h.hands_for(header)
    assert msg is not None
    assert msg.header.stamp == header.stamp and msg.header.frame_id == FRAME
    assert len(msg.hands) == 2 and 0.0 < msg.latency < 10.0
    assert sorted(hand.side for hand in msg.hands) == [Hand.SIDE_LEFT, Hand.SIDE_RIGHT]
    for hand in msg.hands:
        kp = _kp3d(hand)
        assert np.all(kp[:, 2] > 0) and not hand.intrinsics_estimated
        uv = np.asarray(hand.keypoints_2d, dtype=np.float64).reshape(21, 2)
        assert np.abs(h.camera.project(kp) - uv).max() < 1.0
        q = hand.wrist_pose.orientation
        assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-5)
        assert np.allclose([hand.wrist_pose.position.x, hand.wrist_pose.position.y], kp[0, :2], atol=1e-6)

    tf = h.get("/tf", header)
    assert tf is not None and len(tf.transforms) == 42
    by_child = {t.child_frame_id: t for t in tf.transforms}
    for hand in msg.hands:
        side = "left" if hand.side == Hand.SIDE_LEFT else "right"
        for k, p in enumerate(_kp3d(hand)):
            t = by_child[frame_name("hand", side, k)]
            assert t.header.frame_id == FRAME and t.header.stamp == header.stamp
            tr = t.transform.translation
            assert np.allclose([tr.x, tr.y, tr.z], p, atol=1e-5)
        r = by_child[f"hand_{side}_wrist"].transform.rotation
        o = hand.wrist_pose.orientation
        assert np.allclose([r.x, r.y, r.z, r.w], [o.x, o.y, o.z, o.w], atol=1e-6)

    markers = h.get("hands/markers", header)
    assert markers is not None and markers.markers[0].action == Marker.DELETEALL
    meshes = [m for m in markers.markers if m.type == Marker.TRIANGLE_LIST]
    assert len(meshes) == 2 and all(len(m.points) % 3 == 0 and len(m.points) > 0 for m in meshes)
    assert all(m.header.frame_id == FRAME and m.header.stamp == header.stamp for m in markers.markers)

    cloud = h.get("hands/points", header)
    points = cloud_to_points(cloud)
    assert len(points) == 42 and set(points["joint"]) == set(range(21))

    def last_values() -> dict[str, str]:
        return {kv.key: kv.value for kv in h.diagnostics[-1].status[0].values} if h.diagnostics else {}

    # a diagnostics message published before this frame was processed may arrive first: wait for a newer one
    assert h.wait(lambda: int(last_values().get("frames_processed", 0)) >= 1, 5.0), last_values()
    values = last_values()
    assert {"input_rate_hz", "output_rate_hz", "latency_mean_ms", "frames_dropped", "last_error"} <= set(
        values
    )


def test_debug_image(h):
    h.node.set_parameters([Parameter("publish_debug_image", value=True)])
    try:
        header = h.send()
        img = h.get("hands/debug_image", header)
        assert img is not None and (img.width, img.height, img.encoding) == (640, 480, "rgb8")
    finally:
        h.node.set_parameters([Parameter("publish_debug_image", value=False)])


def test_latest_frame_wins_counts_dropped(h, monkeypatch):
    """While the worker is busy, each newer frame replaces the waiting one and the replaced one is counted
    as dropped; the newest is always processed. The worker is held on its first frame, so this does not
    depend on how fast this machine is."""
    busy, release = threading.Event(), threading.Event()
    process = h.node._process

    def held_process(*frame):
        busy.set()
        release.wait(10.0)
        return process(*frame)

    monkeypatch.setattr(h.node, "_process", held_process)
    before = h.node.health.dropped
    try:
        headers = [h.send()]
        assert busy.wait(10.0), "the worker never took the first frame"
        headers += [h.send() for _ in range(5)]
        # frames 2..6 arrive while frame 1 is held: 2, 3, 4, 5 are each replaced by the next one
        assert h.wait(lambda: h.node.health.dropped - before == 4, 10.0), h.node.health.dropped - before
    finally:
        release.set()
    assert h.hands_for(headers[0]) is not None and h.hands_for(headers[-1]) is not None
    assert all(h.hands_for(hd, timeout=0.2) is None for hd in headers[1:-1])
    assert h.node.health.dropped - before == 4


def _bad_image(kind: str, rgb, header):
    msg = rgb_to_image(rgb, header, "rgb8")
    if kind == "encoding":
        msg.encoding = "yuv422_yuy2"
    elif kind == "length":
        msg.data = msg.data[:-7]
    elif kind == "zero":
        msg.height = msg.width = msg.step = 0
        msg.data = []
    return msg


@pytest.mark.parametrize(
    "kind, text",
    [("encoding", "unsupported image encoding 'yuv422_yuy2'"), ("length", "expected step x height"),
     ("zero", "empty image")],
)  # fmt: skip
def test_bad_image_keeps_running(h, kind, text):
    mark = len(h.logs)
    headers = [
        h.send(image=_bad_image(kind, h.image, hd), header=hd) for hd in (h.next_header(), h.next_header())
    ]
    assert h.wait(lambda: h.log_lines(text, mark), 5.0)
    time.sleep(0.3)
    assert all(h.hands_for(hd, timeout=0.1) is None for hd in headers)
    assert len(h.log_lines(text, mark)) == 1  # throttled: two bad frames, one line
    h.valid_frame_works()


def test_bad_image_causes_do_not_hide_each_other(h):
    """Each cause has its own throttle window: a bad length right after a bad encoding is still logged."""
    mark = len(h.logs)
    for kind in ("encoding", "length"):
        hd = h.next_header()
        h.send(image=_bad_image(kind, h.image, hd), header=hd)
    assert h.wait(
        lambda: h.log_lines("unsupported image encoding", mark) and h.log_lines("image data has", mark), 5.0
    )
    h.valid_frame_works()


def test_camera_info_missing_skip_then_estimate(h):
    h.node.set_parameters([Parameter("camera_info_timeout", value=0.05)])
    time.sleep(0.2)
    mark = len(h.logs)
    # the second image arrives after the timeout (counted from the first): it is skipped with one warning
    first = h.send(info=False)
    time.sleep(0.15)
    headers = [first, h.send(info=False)]
    assert h.wait(lambda: h.log_lines("no CameraInfo on", mark), 5.0)
    assert all(h.hands_for(hd, timeout=0.3) is None for hd in headers)
    assert len(h.log_lines("no CameraInfo on", mark)) == 1

    h.node.set_parameters([Parameter("camera_info_policy", value="estimate")])
    msg = h.hands_for(h.send(info=False))
    assert msg is not None and len(msg.hands) == 2
    assert all(hand.intrinsics_estimated for hand in msg.hands)
    h.node.set_parameters(
        [Parameter("camera_info_policy", value="skip"), Parameter("camera_info_timeout", value=1.0)]
    )
    # CameraInfo flows again: the next images use it, not a guess
    h.info_pub.publish(camera_info_msg(h.camera, h.next_header()))
    time.sleep(0.1)
    assert not any(hand.intrinsics_estimated for hand in h.valid_frame_works().hands)


@pytest.mark.parametrize("bad_k, text", [(0.0, "all zeros"), (float("nan"), "non-finite")])
def test_bad_K(h, bad_k, text):
    mark = len(h.logs)
    header = h.next_header()
    info = camera_info_msg(h.camera, header)
    info.k = [bad_k] * 9 if bad_k == 0.0 else [bad_k, 0.0, 319.5, 0.0, bad_k, 239.5, 0.0, 0.0, 1.0]
    h.send(header=header, info=info)
    assert h.wait(lambda: h.log_lines(text, mark), 5.0)
    assert h.hands_for(header, timeout=0.3) is None
    assert "camera_info_policy=skip" in h.log_lines(text, mark)[0]

    h.node.set_parameters([Parameter("camera_info_policy", value="estimate")])
    header = h.next_header()
    info = camera_info_msg(h.camera, header)
    info.k = [bad_k] * 9
    msg = h.hands_for(h.send(header=header, info=info))
    assert msg is not None and all(hand.intrinsics_estimated for hand in msg.hands)
    h.node.set_parameters([Parameter("camera_info_policy", value="skip")])
    h.valid_frame_works()


def test_stamps_too_far_apart(h):
    mark = len(h.logs)
    header = h.next_header()
    info_header = h.next_header()
    info_header.stamp.nanosec = 500_000_000  # camera_info 1.5 s after the image
    h.send(header=header, info=camera_info_msg(h.camera, info_header))
    assert h.wait(lambda: h.log_lines("no camera_info within max_sync_delay", mark), 5.0)
    assert h.hands_for(header, timeout=0.3) is None
    h.valid_frame_works()


def test_empty_frame_id_uses_default(h):
    mark = len(h.logs)
    header = h.send(header=h.next_header(frame_id=""))
    msg = h.hands_for(header)
    assert msg is not None and msg.header.frame_id == "camera_color_optical_frame" and len(msg.hands) == 2
    assert len(h.log_lines("empty frame_id", mark)) == 1
    tf = h.get("/tf", header)
    assert tf.transforms[0].header.frame_id == "camera_color_optical_frame"
    h.valid_frame_works()


def test_nan_from_engine(h, monkeypatch):
    def nan_infer(images, kpe):
        b = images.shape[0]
        return EngineOutput(*(np.full(s, np.nan, np.float32) for s in
                              ((b, 3, 3), (b, 15, 3, 3), (b, 10), (b, 3), (b, 8))))  # fmt: skip

    monkeypatch.setattr(h.node.pipeline.engine, "infer", nan_infer)
    mark = len(h.logs)
    msg = h.hands_for(h.send())
    assert msg is not None and len(msg.hands) == 0  # published, but without the broken hands
    assert len(h.log_lines("non-finite", mark)) == 1
    monkeypatch.undo()
    h.valid_frame_works()


def test_runtime_parameter_updates_are_checked(h):
    result = h.node.set_parameters([Parameter("camera_info_policy", value="guess")])[0]
    assert not result.successful and "camera_info_policy='guess'" in result.reason
    result = h.node.set_parameters([Parameter("engine", value="onnxruntime")])[0]
    assert not result.successful  # read-only: needs a restart
    result = h.node.set_parameters([Parameter("estimate_hfov_deg", value=500.0)])[0]
    assert not result.successful
    assert h.node.params.camera_info_policy == "skip" and h.node.params.estimate_hfov_deg == 90.0
    assert h.node.set_parameters([Parameter("frame_prefix", value="hand")])[0].successful


def test_keypoint_names_in_tf(h):
    assert frame_name("hand", "right", 8) == "hand_right_index_tip" and len(KEYPOINT_NAMES) == 21


def test_the_node_sets_pythons_switch_interval(ros_context):
    """switch_interval_ms: the node's worker and the executor's callbacks share the GIL; the node sets
    Python's switch interval for its process (0: left as it is) and gives it back when destroyed."""
    import sys

    from ros_harness import NODE_PARAMS

    from wildhands_ros.node import WildHandsNode

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        for ms, expected in ((0.25, 0.00025), (0.0, 0.004)):  # 0: the process's own, left as it is
            params = {**NODE_PARAMS, "switch_interval_ms": ms}
            # its own namespace: a second node named like the harness's would take its /rosout logger along
            # when destroyed
            node = WildHandsNode(
                namespace="switch_interval_test",
                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
            )
            try:
                assert sys.getswitchinterval() == pytest.approx(expected)
            finally:
                node.destroy_node()
            assert sys.getswitchinterval() == pytest.approx(0.004)  # restored with the node
    finally:
        sys.setswitchinterval(before)
