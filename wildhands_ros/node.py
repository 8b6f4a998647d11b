"""wildhands_node: image + camera_info (+ optional hand_boxes) -> metric 3D hands on ROS 2 topics and TF.

Callbacks only store the newest image/camera_info pair in a one-slot buffer (latest frame wins; replaced
frames are counted as dropped); a worker thread runs the detector and the wildhands Pipeline and publishes.
All conversions live in conversions.py, tf.py and markers.py (cdr.py writes HandArray and markers as
serialized bytes); parameters in params.py (see docs/node.md).

    ros2 run wildhands_ros wildhands_node --ros-args --params-file config/hands.yaml -p detector:=none
    .venv/bin/wildhands_node --ros-args -p backbone:=resnet18        # pip-installed ROS (this repo's venv)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import OrderedDict

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

try:  # rclpy >= Iron
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from visualization_msgs.msg import MarkerArray

from wildhands.runtime.overlay import draw_hands
from wildhands.runtime.pipeline import Pipeline
from wildhands.runtime.tracking import HandTracker
from wildhands_ros.cdr import matches_rmw
from wildhands_ros.conversions import (
    ImageError,
    camera_from_info,
    detections_to_boxes,
    estimated_camera,
    hands_to_cdr,
    hands_to_cloud,
    hands_to_msg,
    image_to_rgb,
    rgb_to_image,
)
from wildhands_ros.health import Health, Throttle
from wildhands_ros.markers import hand_markers, hand_markers_cdr
from wildhands_ros.msg import HandArray, HandDetectionArray
from wildhands_ros.params import PARAM_SPECS, NodeParams, declare_parameters, on_set_parameters
from wildhands_ros.process import spin_node
from wildhands_ros.sync import BoxesBuffer, ImageInfoSync, stamp_ns
from wildhands_ros.tf import TFPublisher, hand_transforms


class WildHandsNode(Node):
    """See the module docstring; topics and parameters are listed in docs/node.md.

    Start-up has the two steps of a managed (lifecycle) node, in this order: :meth:`_configure` (parameters,
    pipeline, detector, tracker: the slow, failure-prone part) and :meth:`_activate` (publishers,
    subscriptions, timers, the worker thread). It is a plain ``rclpy.node.Node`` that runs both at
    construction, not an ``rclpy.lifecycle.LifecycleNode``: ``ros2 run`` users and this repo's launch file
    expect a node that works without a lifecycle manager, and the pip-installed ROS 2 here has no
    ``launch_ros`` to test the managed transitions with. Turning these two methods into ``on_configure`` /
    ``on_activate`` (and ``destroy_node`` into ``on_deactivate`` + ``on_cleanup``) is what a managed version
    needs.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("wildhands_node", **kwargs)
        self._argv = [*sys.argv, *(kwargs.get("cli_args") or [])]  # checked for unknown/refused -p
        self._worker: threading.Thread | None = None
        self._cond = threading.Condition()
        self._stop = False
        try:
            self._configure()
            self._activate()
        except BaseException:
            super().destroy_node()  # a node that failed to start leaves nothing behind
            raise

    def _configure(self) -> None:
        """Parameters, pipeline (weights, engine), detector and tracker; ValueError naming a bad value."""
        self.params: NodeParams | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        declare_parameters(self, argv=self._argv)  # warns of unknown names, refuses bad -p values
        p = self.params = NodeParams.from_node(self)  # ValueError naming a bad parameter
        self.health = Health(f"{self.get_name()}: hands", self.get_fully_qualified_name())
        self.throttle = Throttle(p.log_throttle_sec)
        self.pipeline = Pipeline(p.pipeline_config())
        if not self.pipeline.trained:
            self.get_logger().warning(
                "no weights given: the network is UNTRAINED and its hands are meaningless"
            )
        self.detector = self._build_detector(p)
        self.tracker = HandTracker(p.tracking_config())  # used by the worker thread only

    def _activate(self) -> None:
        """Publishers, subscriptions, timers and the worker thread: from here on, frames are processed."""
        p = self.params
        self.hands_pub = self.create_publisher(HandArray, "hands", 10)
        self.markers_pub = self.create_publisher(MarkerArray, "hands/markers", 10)
        self.points_pub = self.create_publisher(PointCloud2, "hands/points", 10)
        self.debug_pub = self.create_publisher(Image, "hands/debug_image", 1)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.tf = TFPublisher(self)
        # HandArray and markers go out as CDR bytes built from numpy (no Point objects) where the
        # middleware reads them back right; as message objects otherwise
        self.serialized, why = matches_rmw()
        if not self.serialized:
            self.get_logger().warning(f"publishing message objects (slower): {why}")
        self._slot: tuple | None = None  # (image, camera_info | None, t_received)
        self._received_at: OrderedDict[int, float] = OrderedDict()
        self._last_info_at: float | None = None  # time.monotonic() of the last CameraInfo
        self._started_at = time.monotonic()
        qos = p.input_qos()
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        self.boxes = BoxesBuffer() if p.use_hand_boxes else None
        if self.boxes is not None:
            self.create_subscription(
                HandDetectionArray, "hand_boxes", self.boxes.put, qos, event_callbacks=events
            )
        self.sync = ImageInfoSync(
            self, "image", "camera_info", qos, qos, p.max_sync_delay, p.sync_queue_size, self._on_pair,
            self._on_image, self._on_info, self._on_unmatched, events,
        )  # fmt: skip
        self.create_timer(0.02, self.sync.poll)  # releases images whose CameraInfo did not come in time
        self.health.info.update(
            engine=p.engine, weights=self.pipeline.weights_description, detector=str(p.detector),
            sync=self.sync.backend, tf=self.tf.backend, messages="cdr" if self.serialized else "objects",
        )  # fmt: skip
        self.create_timer(p.diagnostics_period, self._publish_diagnostics)
        self._switch_interval_before: float | None = None  # restored by destroy_node
        if p.switch_interval_ms > 0:  # process-wide: the worker must not hold the executor off the GIL
            self._switch_interval_before = sys.getswitchinterval()
            sys.setswitchinterval(p.switch_interval_ms / 1000.0)
        self._worker = threading.Thread(target=self._work, name="wildhands_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: engine={p.engine}, weights={self.pipeline.weights_description}, "
            f"detector={'on' if self.detector else 'off'} ({p.detector}), sync={self.sync.backend}, "
            f"tf={self.tf.backend}"
        )

    # ------------------------------------------------------------------ set-up
    def _build_detector(self, p: NodeParams):
        """The hand detector of the parameters. A bad option (ValueError, TypeError): a start-up error
        naming it, never a silent fall-back to defaults. The detector failing to load (models missing,
        LiteRT absent or failing): an error on the log and in diagnostics, and the node runs on hand_boxes
        alone."""
        if p.detector == "none":
            return None
        from wildhands.runtime import detection

        try:
            return detection.build_detector(
                p.detector, score_threshold=p.detector_score_threshold, max_hands=p.max_hands,
                threads=self.pipeline.threads.litert, landmark_engine=self.pipeline.landmark_engine,
                device=p.device,
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            raise ValueError(f"detector={p.detector!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - the detector cannot load: keep running on hand_boxes
            msg = f"hand detector {p.detector!r} unavailable ({exc}); using hand_boxes only"
            self.get_logger().error(msg)
            self.health.error(msg)
            return None

    def _on_set_parameters(self, params):
        result = on_set_parameters(params)
        if result.successful and self.params is not None:
            changes = {q.name: q.value for q in params if q.name in PARAM_SPECS}
            self.params = self.params.updated(changes)
            self.throttle.period = self.params.log_throttle_sec
        return result

    # ------------------------------------------------------------------ callbacks (never block)
    def _warn(self, key: str, message: str, error: bool = False) -> None:
        """One log line per cause per log_throttle_sec; every occurrence counts in diagnostics."""
        if error:
            self.health.error(message)
        if self.throttle.ready(key):
            if error:  # rclpy wants one severity per call site
                self.get_logger().error(message)
            else:
                self.get_logger().warning(message)

    def _on_incompatible_qos(self, event) -> None:
        policy = str(getattr(event.last_policy_kind, "name", event.last_policy_kind))
        self._warn(
            "qos",
            f"a publisher on an input topic cannot connect: incompatible QoS "
            f"({policy.removeprefix('RMW_QOS_POLICY_')}); the node subscribes "
            f"input_qos_reliability={self.params.input_qos_reliability}: publish RELIABLE or set it to "
            "best_effort",
            error=True,
        )

    def _on_info(self, msg) -> None:
        self._last_info_at = time.monotonic()

    def _info_missing(self, now: float) -> bool:
        """CameraInfo counts as missing when none has arrived for camera_info_timeout s (or ever)."""
        return self._last_info_at is None or now - self._last_info_at > self.params.camera_info_timeout

    def _on_image(self, msg) -> float:
        """Count the image; it waits for its CameraInfo for camera_info_wait s while CameraInfo counts as
        missing (so that the first image after a pause, or at start-up, still gets the CameraInfo that
        follows it), and for camera_info_timeout s while CameraInfo flows."""
        self.health.count("received")
        self.health.input_rate.tick()
        now = time.monotonic()
        self._received_at[stamp_ns(msg.header)] = now
        while len(self._received_at) > 64:
            self._received_at.popitem(last=False)
        p = self.params
        return p.camera_info_wait if self._info_missing(now) else p.camera_info_timeout

    def _on_unmatched(self, image, dt: float | None) -> None:
        """An image the pairer gave up: no CameraInfo at all (camera_info_policy applies) or none with its
        stamp (skipped)."""
        now = time.monotonic()
        if self._info_missing(now):
            if self.params.camera_info_policy == "estimate":
                return self._on_pair(image, None)
            self.health.count("skipped")
            since = "since start-up" if self._last_info_at is None else "for"
            age = now - (self._started_at if self._last_info_at is None else self._last_info_at)
            return self._warn(
                "camera_info",
                f"no CameraInfo on '{self.resolve_topic_name('camera_info')}' {since} {age:.1f} s: image "
                "skipped (camera_info_policy=skip; set it to 'estimate' to guess the intrinsics)",
            )
        self.health.count("skipped")
        away = "none waiting" if dt is None else f"the nearest is {dt:.3f} s away"
        self._warn(
            "sync",
            f"image stamp {stamp_ns(image.header) * 1e-9:.3f} s has no camera_info within max_sync_delay="
            f"{self.params.max_sync_delay} s ({away}): image skipped",
        )

    def _on_pair(self, image, info) -> None:
        t0 = self._received_at.get(stamp_ns(image.header), time.monotonic())
        with self._cond:
            if self._slot is not None:
                self.health.count("dropped")
            self._slot = (image, info, t0)
            self._cond.notify()

    def _publish_diagnostics(self) -> None:
        self.diag_pub.publish(self.health.diagnostics(self.get_clock().now().to_msg()))

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._stop)
                if self._stop:
                    return
                frame, self._slot = self._slot, None
            try:
                self._process(*frame)
            except Exception as exc:  # one bad frame must not stop the node
                if self._stop or not self.context.ok():
                    return
                self._warn(f"error:{type(exc).__name__}", f"frame failed: {type(exc).__name__}: {exc}", True)

    def _process(self, image, info, t0: float) -> None:
        p = self.params
        try:
            rgb = image_to_rgb(image)
        except ImageError as exc:  # one throttled log line per cause, so causes do not hide each other
            self.health.count("skipped")
            return self._warn(f"image_{exc.cause}", f"image dropped: {exc}", error=True)
        header = Header(stamp=image.header.stamp, frame_id=image.header.frame_id)
        if not header.frame_id:
            header.frame_id = p.default_frame_id
            self._warn(
                "frame_id", f"image has an empty frame_id: using default_frame_id='{p.default_frame_id}'"
            )
        size = (rgb.shape[1], rgb.shape[0])
        camera = None
        if info is not None:
            try:
                camera = camera_from_info(info, size)
            except ValueError as exc:
                reason = f"invalid CameraInfo: {exc}"
        else:
            reason = "no CameraInfo"
        if camera is None:
            if p.camera_info_policy != "estimate":
                self.health.count("skipped")
                return self._warn("camera", f"{reason}: image skipped (camera_info_policy=skip)")
            camera = estimated_camera(size, p.estimate_hfov_deg)
            self._warn(
                "camera_estimate",
                f"{reason}: intrinsics estimated from the image size and estimate_hfov_deg="
                f"{p.estimate_hfov_deg} (intrinsics_estimated=true)",
            )
        config = p.tracking_config()
        if config != self.tracker.config:  # before _boxes: redetect_every applies to this frame already
            self.tracker.reconfigure(config)
        boxes, detected = self._boxes(image.header, rgb, camera, p)
        if self.pipeline.landmark_hands is not None:  # a tracked hand keeps its track's shape (size)
            boxes = self.tracker.with_shapes(boxes)
        hands = self.pipeline(rgb, camera, boxes)  # drops (and counts) hands with non-finite values
        if self.pipeline.dropped_invalid:
            self._warn(
                "nan",
                f"{self.pipeline.dropped_invalid} hand(s) dropped: the estimator returned non-finite or "
                "invalid values",
                error=True,
            )
        # the tracker's clock is ROS time: the image stamp, or (unstamped image) the node's clock now
        stamp_s = stamp_ns(image.header) * 1e-9 or self.get_clock().now().nanoseconds * 1e-9
        tracked = self.tracker.update(hands, stamp_s, camera, detected)
        self._publish([t.hand for t in tracked], [t.track_id for t in tracked], header, rgb, camera, t0, p)

    def _boxes(self, header, rgb, camera, p: NodeParams) -> tuple[list, bool]:
        """Hand boxes of this frame, and whether they are fresh detections (not the previous frame's)."""
        if self.boxes is not None:
            wait = p.hand_boxes_timeout if self.detector is None else 0.0
            msg = self.boxes.get(header, slop=p.max_sync_delay, timeout=wait)
            if msg is not None:
                return detections_to_boxes(msg, rgb.shape[1], rgb.shape[0]), True
        if self.detector is not None:  # the detector applies detector_score_threshold
            return self.tracker.boxes_for_frame(
                self.detector,
                rgb,
                p.max_hands,
                self.pipeline.config.box_scale,
                camera=self.pipeline.view_camera(camera),
            )
        return [], True

    def _publish(self, hands, track_ids, header, rgb, camera, t0: float, p: NodeParams) -> None:
        """HandArray and TF always; markers, points and the debug image only when someone subscribes
        (nothing is built for a topic nobody listens to)."""
        latency = time.monotonic() - t0
        to_hands = hands_to_cdr if self.serialized else hands_to_msg
        self.hands_pub.publish(to_hands(hands, header, latency, p.publish_mesh, track_ids))
        if p.publish_tf:
            self.tf.send(hand_transforms(hands, header, p.frame_prefix))
        if p.publish_markers and self.markers_pub.get_subscription_count() > 0:
            to_markers = hand_markers_cdr if self.serialized else hand_markers
            self.markers_pub.publish(to_markers(hands, header, p.frame_prefix))
        if p.publish_points and self.points_pub.get_subscription_count() > 0:
            self.points_pub.publish(hands_to_cloud(hands, header, include_mesh=p.points_include_mesh))
        if p.publish_debug_image and self.debug_pub.get_subscription_count() > 0:
            title = None if self.pipeline.trained else "UNTRAINED WEIGHTS"
            self.debug_pub.publish(rgb_to_image(draw_hands(rgb, hands, camera, title=title), header))
        self.health.published(latency)

    def destroy_node(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if getattr(self, "boxes", None) is not None:
            self.boxes.close()  # wakes a worker waiting for hand_boxes
        if (
            self._worker is not None
            and self._worker.is_alive()
            and threading.current_thread() is not self._worker
        ):
            self._worker.join(timeout=10.0)
        if getattr(self, "_switch_interval_before", None) is not None:  # the process's setting, back
            sys.setswitchinterval(self._switch_interval_before)
            self._switch_interval_before = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM. Without ``args`` (the console script, ``python -m``) the process
    ends right after a clean shutdown: torch's interpreter teardown alone takes 1-2 s on a busy 2-core
    machine, the node must stop within 2 s."""
    rc = _run(args)
    if args is None:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(rc)
    return rc


def _run(args: list[str] | None) -> int:
    return spin_node(WildHandsNode, "wildhands_node", args)


if __name__ == "__main__":
    sys.exit(main())
