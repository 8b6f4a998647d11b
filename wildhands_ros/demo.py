"""The main job: the node processes an image sequence through real ROS 2 topics, and everything is recorded.

``wildhands demo`` runs this when wildhands_ros is installed (it is registered as the ``ros`` demo backend:
the ``wildhands.demo_backends`` entry-point group of ``wildhands.apps.demo``). In one process: the
``wildhands_node`` (exactly the node of ``ros2 run``) and a driver node that publishes each frame as
``sensor_msgs/Image`` + ``CameraInfo`` on ``image`` / ``camera_info``, waits for the node's ``hands`` answer
(so no frame is dropped), and records the inputs (as ``image/compressed``, the original JPEG/PNG bytes) and
every output topic (``hands``, ``hands/markers``, ``/tf``, ``hands/points``, ``/diagnostics``) into
``hands.mcap`` (open it in Foxglove). The answers become :class:`~wildhands.runtime.sequence.FrameResult`
for the overlays and the summary. DDS stays on this machine unless the caller set otherwise:
``ROS_AUTOMATIC_DISCOVERY_RANGE`` defaults to ``LOCALHOST`` here.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from wildhands.runtime.sequence import FrameResult, Sequence

logger = logging.getLogger(__name__)

FIRST_FRAME_TIMEOUT_S = 120.0  # loading the weights and exporting the network to ONNX happen before it
FRAME_TIMEOUT_S = 20.0
BASE_STAMP_S = 1_700_000_000  # stamps of the recording: this + the frame's time in the sequence


def _stamp(t_s: float):
    from builtin_interfaces.msg import Time

    ns = round((BASE_STAMP_S + t_s) * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def node_params_for(sequence: Sequence, options) -> dict[str, Any]:
    """Node parameters of the demo: the options' weights/engine/detector; an estimated camera is left to the
    node (``camera_info_policy: estimate`` with the same field of view), so every hand says so."""
    import math

    params: dict[str, Any] = {
        "weights": "untrained" if options.weights is None else str(options.weights),
        "engine": options.engine,
        "estimator": options.estimator,
        "refine": bool(options.refine),
        "tracked_steps": int(options.tracked_steps),
        "crop_mode": options.crop_mode,
        "backbone": options.backbone,
        "threads": int(options.threads),
        "detector": "mediapipe" if options.detector == "mediapipe" else "none",
        "use_hand_boxes": options.detector == "groundtruth",
        "publish_mesh": True,
        "tracking": True,
    }
    if sequence.camera.estimated:
        cam = sequence.camera
        params["camera_info_policy"] = "estimate"
        params["estimate_hfov_deg"] = math.degrees(2 * math.atan(cam.width / 2 / cam.fx))
    return params


def run_ros_backend(
    sequence: Sequence, out_dir: str | Path, options
) -> tuple[list[FrameResult], dict[str, Any]]:
    """The ``ros`` demo backend (entry point of ``wildhands.demo_backends``)."""
    return run_ros_demo(
        sequence, out_dir, node_params_for(sequence, options), options.detector == "groundtruth"
    )


run_ros_backend.backend_name = "ros"


def run_ros_demo(
    sequence: Sequence,
    out_dir: str | Path,
    node_params: dict[str, Any],
    ground_truth_boxes: bool = False,
    progress: bool = True,
    namespace: str = "",
) -> tuple[list[FrameResult], dict[str, Any]]:
    """Run the node over ``sequence``; returns the frame results and facts for the summary (MCAP, counts).

    ``ground_truth_boxes``: publish the sequence's labelled boxes on ``hand_boxes`` with each frame (the node
    then needs ``use_hand_boxes: true``). ``namespace``: of both nodes (their relative topics)."""
    from wildhands_ros.loopback import keep_on_loopback

    keep_on_loopback(force=False)  # a discovery range set by the user wins
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
    from std_msgs.msg import Header
    from tf2_msgs.msg import TFMessage
    from tqdm import tqdm
    from visualization_msgs.msg import MarkerArray

    from wildhands.runtime.sequence import ground_truth_boxes as labelled_boxes
    from wildhands_ros.conversions import boxes_to_detections, info_dict_to_msg, msg_to_hand, rgb_to_image
    from wildhands_ros.mcap_recorder import McapRecorder
    from wildhands_ros.msg import HandArray, HandDetectionArray
    from wildhands_ros.node import WildHandsNode
    from wildhands_ros.sync import stamp_ns
    from wildhands_ros.tf import TF_QOS_DEPTH, TF_TOPIC

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    owns_context = not rclpy.ok()
    if owns_context:
        rclpy.init()
    recorder = McapRecorder(out / "hands.mcap")
    node = driver = executor = None
    thread = None
    try:
        overrides = [Parameter(k, value=v) for k, v in node_params.items()]
        node = WildHandsNode(namespace=namespace, parameter_overrides=overrides)
        driver = rclpy.create_node("wildhands_demo_driver", namespace=namespace)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        image_pub = driver.create_publisher(Image, "image", qos)
        info_pub = driver.create_publisher(CameraInfo, "camera_info", qos)
        boxes_pub = driver.create_publisher(HandDetectionArray, "hand_boxes", qos)
        answers: dict[int, tuple[float, Any]] = {}
        cond = threading.Condition()

        def on_hands(msg) -> None:
            with cond:
                answers[stamp_ns(msg.header)] = (time.monotonic(), msg)
                cond.notify_all()

        driver.create_subscription(HandArray, "hands", on_hands, 10)
        recorded_outputs = {"hands": HandArray, "hands/markers": MarkerArray, "hands/points": PointCloud2,
                            TF_TOPIC: TFMessage, "/diagnostics": DiagnosticArray}  # fmt: skip
        for topic, msg_type in recorded_outputs.items():
            recorder.subscribe(driver, topic, msg_type, TF_QOS_DEPTH if topic == TF_TOPIC else 10)
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.add_node(driver)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10.0
        while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)

        info_dict = sequence.camera.to_camera_info_dict()
        frame_id = "camera_optical_frame"
        results: list[FrameResult] = []
        for i in tqdm(range(len(sequence)), desc="node", unit="frame", disable=not progress):
            header = Header(frame_id=frame_id, stamp=_stamp(sequence.stamps_s[i]))
            t_ns = stamp_ns(header)
            rgb = sequence.read_rgb(i)
            if not sequence.camera.estimated:  # an estimated camera is the node's job (camera_info_policy)
                info = info_dict_to_msg(info_dict, header)
                info_pub.publish(info)
                recorder.write(driver.resolve_topic_name("camera_info"), info, t_ns)
            if ground_truth_boxes:
                boxes = boxes_to_detections(labelled_boxes(sequence.ground_truth[i]), header)
                boxes_pub.publish(boxes)
                recorder.write(driver.resolve_topic_name("hand_boxes"), boxes, t_ns)
            path = sequence.images[i]
            fmt = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else path.suffix.lower().lstrip(".")
            jpeg = CompressedImage(header=header, format=fmt, data=path.read_bytes())
            recorder.write(driver.resolve_topic_name("image/compressed"), jpeg, t_ns)
            time.sleep(0.005)  # let CameraInfo arrive first (the node pairs them by stamp anyway)
            sent = time.monotonic()
            image_pub.publish(rgb_to_image(rgb, header, "rgb8"))
            timeout = FIRST_FRAME_TIMEOUT_S if i == 0 else FRAME_TIMEOUT_S
            with cond:
                cond.wait_for(lambda t=t_ns: t in answers, timeout=timeout)
                answer = answers.pop(t_ns, None)
            if answer is None:
                logger.warning("frame %d: no answer from the node within %.0f s", i, timeout)
                results.append(FrameResult(i, [], float("nan"), received=False))
                continue
            received, msg = answer
            hands = [msg_to_hand(h) for h in msg.hands]
            results.append(FrameResult(i, hands, received - sent, processing_s=float(msg.latency)))
        answered = sum(r.received for r in results)
        # the last frame's markers / points / tf follow its hands, each on its own subscription: wait for
        # every per-frame output the node publishes (one message per answered frame; tf only with hands)
        p = node.params
        with_hands = sum(r.received and bool(r.hands) for r in results)
        expected = {driver.resolve_topic_name(topic): n for topic, on, n in (
            ("hands/markers", p.publish_markers, answered), ("hands/points", p.publish_points, answered),
            (TF_TOPIC, p.publish_tf, with_hands)) if on}  # fmt: skip
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(recorder.counts.get(t, 0) < n for t, n in expected.items()):
            time.sleep(0.05)
        facts = {
            "mcap": str(recorder.path),
            "recorded_messages": dict(recorder.counts),
            "weights": node.pipeline.weights_description,
            "trained": node.pipeline.trained,
            "engine": node.pipeline.engine_name,
            "detector": str(node.params.detector),
        }
        return results, facts
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if thread is not None:  # the spin thread ends before its nodes are destroyed (no callback races)
            thread.join(timeout=5.0)
        recorder.close()
        for n in (driver, node):
            if n is not None:
                n.destroy_node()
        if owns_context:
            rclpy.try_shutdown()
