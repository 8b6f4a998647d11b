"""Test harness: an in-process wildhands_node and a tester node that publishes frames and records outputs."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from wildhands_ros.conversions import boxes_to_detections, camera_to_info, rgb_to_image
from wildhands_ros.msg import HandArray, HandDetectionArray
from wildhands_ros.node import WildHandsNode
from wildhands_ros.sync import stamp_ns
from wildhands_ros.tf import TF_QOS_DEPTH, TF_TOPIC

FRAME = "test_camera_optical_frame"
NODE_PARAMS = {
    "estimator": "image",  # the ROS plumbing tests run the image model (test_node_landmarks.py: the default)
    "backbone": "resnet18",
    "detector": "none",
    "log_throttle_sec": 30.0,
    "hand_boxes_timeout": 0.5,
}


camera_info_msg = camera_to_info  # the name the tests use


def spin_in_thread(executor) -> threading.Thread:
    """Spin ``executor`` in a daemon thread (started) until :func:`stop_spinning`. It spins in short
    ``spin_once`` steps and checks a stop flag between them: ``executor.shutdown()`` while another thread is
    inside ``spin()`` races with it (rclpy raises InvalidHandle in that thread)."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    thread = threading.Thread(target=spin, daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread


def stop_spinning(executor, thread: threading.Thread) -> None:
    """End the spin thread, then shut ``executor`` down: no callback runs while the caller destroys the
    nodes."""
    thread.stop.set()  # type: ignore[attr-defined]
    thread.join(timeout=5.0)
    executor.shutdown(timeout_sec=5.0)


class Harness:
    """``namespace`` (required, one per harness): the node's and the tester's (their topics are relative).
    rcl keeps one /rosout publisher per logger name in a process, and destroying any other node named like
    this one (``wildhands_node`` in the same namespace; tests build such nodes to check start-up errors)
    takes it away, so this node's log lines would stop reaching :meth:`log_lines`."""

    def __init__(self, sample, node_params: dict | None = None, *, namespace: str) -> None:
        self.image, self.camera, self.boxes = sample
        self.namespace = namespace
        params = {**NODE_PARAMS, **(node_params or {})}
        self.node = WildHandsNode(
            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()], namespace=namespace
        )
        self.tester = rclpy.create_node("wildhands_tester", namespace=namespace)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.tester.create_publisher(Image, "image", qos)
        self.info_pub = self.tester.create_publisher(CameraInfo, "camera_info", qos)
        self.boxes_pub = self.tester.create_publisher(HandDetectionArray, "hand_boxes", qos)
        self.received: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        self.diagnostics: list[DiagnosticArray] = []
        self.logs: list[Log] = []
        for topic, kind in (
            ("hands", HandArray), ("hands/markers", MarkerArray), ("hands/points", PointCloud2),
            ("hands/debug_image", Image),
        ):  # fmt: skip
            self.tester.create_subscription(kind, topic, self._recorder(topic), 10)
        self.tester.create_subscription(TFMessage, TF_TOPIC, self._on_tf, TF_QOS_DEPTH)
        self.tester.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.tester.create_subscription(Log, "/rosout", self._on_log, 100)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self._thread = spin_in_thread(self.executor)
        self._sec = 1000
        assert self.wait(lambda: self.image_pub.get_subscription_count() > 0, 10.0), "node did not subscribe"

    def _recorder(self, topic: str):
        def record(msg) -> None:
            header = msg.markers[-1].header if isinstance(msg, MarkerArray) else msg.header
            self.received[topic][stamp_ns(header)].append(msg)

        return record

    def _on_tf(self, msg: TFMessage) -> None:
        if msg.transforms:
            self.received["/tf"][stamp_ns(msg.transforms[0].header)].append(msg)

    def _on_log(self, msg: Log) -> None:
        if msg.name == self.node.get_logger().name:
            self.logs.append(msg)

    # ------------------------------------------------------------------ publishing
    def next_header(self, frame_id: str = FRAME) -> Header:
        self._sec += 1
        h = Header(frame_id=frame_id)
        h.stamp.sec = self._sec
        return h

    def send(self, header: Header | None = None, image: Image | None = None, info: CameraInfo | bool = True,
             boxes: bool = True) -> Header:  # fmt: skip
        """Publish hand boxes, camera_info, then the image, all with ``header`` (a new stamp by default)."""
        header = header or self.next_header()
        if boxes:
            self.boxes_pub.publish(boxes_to_detections(self.boxes, header))
        if info is True:
            info = camera_info_msg(self.camera, header)
        if info:
            self.info_pub.publish(info)
        time.sleep(0.02)
        if image is None:
            image = rgb_to_image(self.image, header, "bgr8")
        self.image_pub.publish(image)
        return header

    # ------------------------------------------------------------------ waiting
    @staticmethod
    def wait(predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    def get(self, topic: str, header: Header, timeout: float = 10.0):
        """The first message on ``topic`` stamped like ``header``, or None after ``timeout`` s."""
        t = stamp_ns(header)
        self.wait(lambda: self.received[topic][t], timeout)
        return self.received[topic][t][0] if self.received[topic][t] else None

    def hands_for(self, header: Header, timeout: float = 10.0) -> HandArray | None:
        return self.get("hands", header, timeout)

    def log_lines(self, text: str, since: int = 0) -> list[str]:
        return [m.msg for m in self.logs[since:] if text in m.msg]

    def valid_frame_works(self) -> HandArray:
        """A valid frame after bad input still gives a HandArray with both hands."""
        msg = self.hands_for(self.send())
        assert msg is not None, "no HandArray for a valid frame: the node stopped working"
        assert len(msg.hands) == 2
        return msg

    def close(self) -> None:
        stop_spinning(self.executor, self._thread)
        self.node.destroy_node()
        self.tester.destroy_node()
