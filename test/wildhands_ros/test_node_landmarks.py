"""The node with its default estimator (landmarks: landmark network -> lifting head -> refinement), in its
own namespace, real rclpy pub/sub on loopback: hands come out with their fit residual (issue 18)."""

from __future__ import annotations

import math
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import camera_info_msg, spin_in_thread, stop_spinning
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from wildhands_ros.conversions import boxes_to_detections, rgb_to_image
from wildhands_ros.msg import HandArray, HandDetectionArray
from wildhands_ros.node import WildHandsNode
from wildhands_ros.params import PARAM_SPECS

NS = "/landmarks_test"


@pytest.fixture(scope="module")
def landmark_node(ros_context, sample):
    assert PARAM_SPECS["estimator"].default == "landmarks"
    node = WildHandsNode(
        namespace=NS,
        parameter_overrides=[Parameter("detector", value="none"), Parameter("hand_boxes_timeout", value=1.0)],
    )
    tester = rclpy.create_node("landmarks_tester", namespace=NS)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = (
        tester.create_publisher(Image, "image", qos),
        tester.create_publisher(CameraInfo, "camera_info", qos),
        tester.create_publisher(HandDetectionArray, "hand_boxes", qos),
    )
    received: list[HandArray] = []
    tester.create_subscription(HandArray, "hands", received.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(tester)
    thread = spin_in_thread(executor)
    end = time.monotonic() + 10
    while pubs[0].get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.02)
    yield node, pubs, received
    stop_spinning(executor, thread)
    node.destroy_node()
    tester.destroy_node()


def test_default_estimator_gives_fitted_hands(landmark_node, sample):
    node, (image_pub, info_pub, boxes_pub), received = landmark_node
    image, camera, boxes = sample
    assert node.pipeline.landmark_hands is not None and node.pipeline.engine is None
    assert "landmarks: lifting" in node.pipeline.weights_description
    header = Header(frame_id="cam")
    header.stamp.sec = 4242
    boxes_pub.publish(boxes_to_detections(boxes, header))
    info_pub.publish(camera_info_msg(camera, header))
    time.sleep(0.02)
    image_pub.publish(rgb_to_image(image, header, "rgb8"))
    end = time.monotonic() + 20
    while not received and time.monotonic() < end:
        time.sleep(0.05)
    assert received, "no HandArray from the landmark estimator"
    msg = received[-1]
    assert len(msg.hands) == 2 and {h.side for h in msg.hands} == {0, 1}
    for hand in msg.hands:
        assert math.isfinite(hand.fit_residual_px) and hand.fit_residual_px < 5.0
        assert 0.2 < hand.keypoints_3d[0].z < 0.8  # metres in front of the camera
        assert 0.0 < hand.confidence <= 1.0
