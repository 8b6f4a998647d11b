"""The node in its own process (the console script, as `ros2 run` starts it): hands across processes, and a
clean exit on SIGINT."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import camera_info_msg
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from wildhands_ros.conversions import boxes_to_detections, rgb_to_image
from wildhands_ros.msg import HandArray, HandDetectionArray
from wildhands_ros.testing import NodeProcess, node_command

REPO = Path(__file__).resolve().parents[2]


def _node_command() -> list[str]:
    topics = ("image", "camera_info", "hand_boxes", "hands")
    return node_command(
        params={"backbone": "resnet18", "detector": "none", "threads": 1},
        remap={topic: f"/xproc/{topic}" for topic in topics},
    )


@pytest.mark.slow
def test_node_in_its_own_process(ros_context, sample, tmp_path):
    image, camera, boxes = sample
    node = NodeProcess(_node_command(), tmp_path / "node.log")  # loopback env, ROS logs in tmp_path
    tester = rclpy.create_node("xproc_tester")
    executor = SingleThreadedExecutor()
    executor.add_node(tester)
    try:
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        pub_img = tester.create_publisher(Image, "/xproc/image", qos)
        pub_info = tester.create_publisher(CameraInfo, "/xproc/camera_info", qos)
        pub_boxes = tester.create_publisher(HandDetectionArray, "/xproc/hand_boxes", qos)
        got: list[HandArray] = []
        tester.create_subscription(HandArray, "/xproc/hands", got.append, 10)
        deadline = time.monotonic() + 90.0
        while pub_img.get_subscription_count() == 0 and time.monotonic() < deadline:
            assert node.alive(), "node exited early:\n" + node.log()
            executor.spin_once(timeout_sec=0.1)
        assert pub_img.get_subscription_count() > 0, "node never subscribed"
        sent = {}
        sec = 500
        while (
            not got and time.monotonic() < deadline
        ):  # republish until one frame made it (best-effort input)
            sec += 1
            h = Header(frame_id="xproc_optical")
            h.stamp.sec = sec
            pub_boxes.publish(boxes_to_detections(boxes, h))
            pub_info.publish(camera_info_msg(camera, h))
            executor.spin_once(timeout_sec=0.05)
            pub_img.publish(rgb_to_image(image, h, "rgb8"))
            sent[sec] = h
            end = time.monotonic() + 2.0
            while not got and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
        assert got, "no HandArray from the node process:\n" + (tmp_path / "node.log").read_text()
        msg = got[0]
        assert msg.header.stamp.sec in sent and msg.header.frame_id == "xproc_optical"
        assert len(msg.hands) == 2
        for hand in msg.hands:
            kp = np.array([[p.x, p.y, p.z] for p in hand.keypoints_3d])
            assert np.abs(camera.project(kp) - np.asarray(hand.keypoints_2d).reshape(21, 2)).max() < 1.0
    finally:
        executor.shutdown()
        tester.destroy_node()
        rc, _ = node.stop(signal.SIGINT, timeout=15.0)
    log = node.log()
    assert rc == 0, f"exit code {rc} after SIGINT:\n{log}"
    assert "Traceback" not in log, log
