"""The node with ``tracked_steps``: its own detector and tracker (VIDEO mode), real rclpy pub/sub on loopback,
in its own namespace. The palm detector's frame starts each hand from the lifting head; the next frames'
tracked hands start from their previous hand (``HandBox.previous`` through the node's box step), so the
lifting head runs on the detector's frame only, and the hands stay fitted."""

from __future__ import annotations

import math
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import camera_info_msg
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from wildhands_ros.conversions import rgb_to_image
from wildhands_ros.msg import HandArray
from wildhands_ros.node import WildHandsNode

NS = "/tracked_start_test"
FRAMES = 3


def test_tracked_hands_start_from_their_previous_hand(ros_context, sample):
    image, camera, _ = sample
    node = WildHandsNode(
        namespace=NS,
        parameter_overrides=[Parameter("tracked_steps", value=2), Parameter("redetect_every", value=10)],
    )
    lh = node.pipeline.landmark_hands
    assert lh.config.tracked_steps == 2 and "previous fit in 2 steps" in node.pipeline.weights_description
    lifted: list[int] = []
    lift = lh.lift
    lh.lift = lambda evidence, cameras: lifted.append(len(evidence)) or lift(evidence, cameras)
    tester = rclpy.create_node("tracked_start_tester", namespace=NS)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = tester.create_publisher(Image, "image", qos)
    info_pub = tester.create_publisher(CameraInfo, "camera_info", qos)
    received: list[HandArray] = []
    tester.create_subscription(HandArray, "hands", received.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(tester)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        end = time.monotonic() + 10
        while image_pub.get_subscription_count() == 0 and time.monotonic() < end:
            time.sleep(0.02)
        for k in range(FRAMES):  # one frame at a time: each answered before the next is sent
            header = Header(frame_id="cam")
            header.stamp.sec = 5000 + k
            info_pub.publish(camera_info_msg(camera, header))
            time.sleep(0.02)
            image_pub.publish(rgb_to_image(image, header, "rgb8"))
            end = time.monotonic() + 20
            while len(received) <= k and time.monotonic() < end:
                time.sleep(0.05)
        assert len(received) == FRAMES, f"{len(received)} HandArrays for {FRAMES} frames"
        for msg in received:
            assert len(msg.hands) == 2 and {h.side for h in msg.hands} == {0, 1}
            for hand in msg.hands:
                assert math.isfinite(hand.fit_residual_px) and hand.fit_residual_px < 5.0
                assert 0.2 < hand.keypoints_3d[0].z < 0.8
        assert lifted == [2], f"the lifting head ran on {lifted} hands per frame, not on the detector's only"
    finally:
        executor.shutdown()
        node.destroy_node()
        tester.destroy_node()
