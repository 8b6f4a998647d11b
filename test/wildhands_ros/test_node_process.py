"""The node in its own process (the console script, as `ros2 run` starts it): hands across processes, and a
clean exit on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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

REPO = Path(__file__).resolve().parents[2]


def _node_command() -> list[str]:
    script = Path(sys.executable).with_name("wildhands_node")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "wildhands_ros.node"]
    return base + [
        "--ros-args", "--params-file", str(REPO / "config" / "hands.yaml"),
        "-p", "backbone:=resnet18", "-p", "detector:=none", "-p", "threads:=1",
        "-r", "image:=/xproc/image", "-r", "camera_info:=/xproc/camera_info",
        "-r", "hand_boxes:=/xproc/hand_boxes", "-r", "hands:=/xproc/hands",
    ]  # fmt: skip


@pytest.mark.slow
def test_node_in_its_own_process(ros_context, sample, tmp_path):
    image, camera, boxes = sample
    env = dict(
        os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOG_DIR=str(tmp_path), PYTHONUNBUFFERED="1"
    )
    env.pop("ROS_STATIC_PEERS", None)
    stderr = open(tmp_path / "node.log", "w+")
    proc = subprocess.Popen(_node_command(), env=env, stdout=stderr, stderr=subprocess.STDOUT, cwd=REPO)
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
            assert proc.poll() is None, "node exited early:\n" + (tmp_path / "node.log").read_text()
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
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=15.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
    log = (tmp_path / "node.log").read_text()
    assert rc == 0, f"exit code {rc} after SIGINT:\n{log}"
    assert "Traceback" not in log, log
