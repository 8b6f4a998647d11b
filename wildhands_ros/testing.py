"""Driving a node from outside, for benches and tests: the one launcher of a node process and a tester node.

* :func:`node_command`: the command line ``ros2 run`` would use (the console script beside this Python, else
  ``python -m wildhands_ros.node``) with a params file, a namespace, ``-p`` overrides and remappings;
* :func:`node_env`: the child's environment: DDS on loopback (:mod:`wildhands_ros.loopback`), ROS logs in a
  folder, unbuffered output;
* :class:`NodeProcess`: the node started as its own process, its console output in a file, stopped by a
  signal (SIGINT: the clean shutdown path) with a kill as the last resort;
* :class:`Tester`: an rclpy node publishing image / camera_info / hand_boxes into a namespace and recording
  the node's ``hands`` and ``/diagnostics``.

Nothing of ROS is imported at module level (only inside :class:`Tester`): a bench can import this module,
then put the environment on loopback, then import rclpy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wildhands_ros.loopback import loopback_env

__all__ = ["DEFAULT_PARAMS_FILE", "NodeProcess", "Tester", "boxes_node_params", "node_command", "node_env"]

REPO = Path(__file__).resolve().parents[1]
#: The node's shipped parameter file (source tree).
DEFAULT_PARAMS_FILE = REPO / "config" / "hands.yaml"


def boxes_node_params(
    log_throttle_sec: float = 30.0, engine: str = "torch", hand_boxes_timeout: float = 0.05, threads: int = 1
) -> dict[str, Any]:
    """Parameters of a light node fed by upstream boxes (``detector: none``), as the fuzz bench and the
    process tests run it."""
    return {
        "backbone": "resnet18",
        "detector": "none",
        "engine": engine,
        "threads": threads,
        "log_throttle_sec": log_throttle_sec,
        "hand_boxes_timeout": hand_boxes_timeout,
    }


def node_command(
    namespace: str = "",
    params: Mapping[str, Any] | None = None,
    params_file: str | os.PathLike | None = DEFAULT_PARAMS_FILE,
    remap: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    executable: str = "wildhands_node",
    module: str = "wildhands_ros.node",
) -> list[str]:
    """The command line of a node process.

    ``executable``: the console script beside ``sys.executable`` (as ``ros2 run`` starts it), else
    ``python -m module``. After ``--ros-args``: ``--params-file params_file`` (None: none), ``-r
    __ns:=namespace`` (when given), ``-p name:=value`` per ``params`` (``str(value)``, which rcl parses as
    YAML), ``-r from:=to`` per ``remap``, then ``extra`` as is."""
    script = Path(sys.executable).with_name(executable)
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", module]
    cmd.append("--ros-args")
    if params_file is not None:
        cmd += ["--params-file", str(params_file)]
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    for name, value in (params or {}).items():
        cmd += ["-p", f"{name}:={value}"]
    for source, target in (remap or {}).items():
        cmd += ["-r", f"{source}:={target}"]
    return cmd + list(extra)


def node_env(log_dir: str | os.PathLike | None = None, **extra: object) -> dict[str, str]:
    """This process's environment on loopback, unbuffered, ROS logs in ``log_dir`` (when given),
    plus ``extra``."""
    if log_dir is not None:
        extra["ROS_LOG_DIR"] = str(log_dir)
    return loopback_env(PYTHONUNBUFFERED="1", **extra)


class NodeProcess:
    """A node in its own process; console output (stdout + stderr) in ``log_path``.

    ``env``: default :func:`node_env` with ROS logs beside ``log_path``. ``new_session``: the child in its own
    session (a Ctrl-C at the terminal reaches only the parent, which then stops the child)."""

    def __init__(
        self,
        cmd: Sequence[str],
        log_path: str | os.PathLike,
        env: Mapping[str, str] | None = None,
        new_session: bool = False,
        cwd: str | os.PathLike = REPO,
    ) -> None:
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else node_env(self.log_path.parent),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=new_session,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        """The console output so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> tuple[int | None, float]:
        """Send ``sig`` (unless it has exited); (exit code, or None when it had to be killed after
        ``timeout`` s; seconds until it exited)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self._log.close()
        return rc, time.monotonic() - t0


class Tester:
    """A node publishing image / camera_info / hand_boxes into ``namespace`` and recording its outputs
    (``hands``; ``diagnostics``: the key/values of the last ``/diagnostics`` status of
    ``<namespace>/wildhands_node``). Needs ``rclpy.init()`` done."""

    __test__ = False  # not a pytest class

    def __init__(self, namespace: str, name: str = "fuzz_tester") -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        from wildhands_ros.msg import HandArray, HandDetectionArray

        self.namespace = namespace
        self.node = rclpy.create_node(name, namespace=namespace)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {
            "image": self.node.create_publisher(Image, "image", qos),
            "camera_info": self.node.create_publisher(CameraInfo, "camera_info", qos),
            "hand_boxes": self.node.create_publisher(HandDetectionArray, "hand_boxes", qos),
        }
        self.hands: list = []
        self.diagnostics: dict[str, str] = {}
        self.node.create_subscription(HandArray, "hands", self.hands.append, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.hardware_id == f"{self.namespace}/wildhands_node":
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.05, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    def wait_subscribed(self, node: NodeProcess, timeout: float = 120.0) -> None:
        """Spin until ``node`` subscribed to image and hand_boxes; RuntimeError (with its log) when it exits
        or ``timeout`` s pass first."""
        end = time.monotonic() + timeout
        while (
            self.pubs["image"].get_subscription_count() == 0
            or self.pubs["hand_boxes"].get_subscription_count() == 0
        ):
            if not node.alive():
                raise RuntimeError("node exited during start-up:\n" + node.log()[-4000:])
            if time.monotonic() > end:
                raise RuntimeError("node never subscribed:\n" + node.log()[-4000:])
            self.spin(0.1)

    def publish_frame(self, sample, sec: int, frame_id: str = "fuzz_valid_optical"):
        """Publish ``sample`` = (rgb, camera, boxes) with stamp ``sec``: boxes, camera_info, then the image;
        returns the header."""
        from std_msgs.msg import Header

        from wildhands_ros.conversions import boxes_to_detections, camera_to_info, rgb_to_image

        image, camera, boxes = sample
        h = Header(frame_id=frame_id)
        h.stamp.sec = sec
        self.pubs["hand_boxes"].publish(boxes_to_detections(boxes, h))
        self.pubs["camera_info"].publish(camera_to_info(camera, h))
        self.spin(0.02)
        self.pubs["image"].publish(rgb_to_image(image, h, "rgb8"))
        return h

    def valid_frame(self, sample, sec: int, tries: int = 15, wait_s: float = 3.0):
        """Send the sample frame (new stamp per try) until a HandArray with its stamp arrives, or None."""
        for i in range(tries):
            h = self.publish_frame(sample, sec + i)
            end = time.monotonic() + wait_s
            while time.monotonic() < end:
                self.spin(0.05)
                for msg in self.hands:
                    if msg.header.stamp.sec == h.stamp.sec and msg.header.frame_id == h.frame_id:
                        return msg
        return None

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
