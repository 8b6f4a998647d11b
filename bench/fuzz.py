"""Fuzz wildhands_node in its own process with malformed and hostile Image, CameraInfo and HandDetectionArray
messages over real rclpy, then check that it survived, still answers a valid frame, logged each cause of
trouble at most once per ``log_throttle_sec``, and stops cleanly on SIGINT.

The node is the console script ``wildhands_node`` (as ``ros2 run`` starts it) with ``detector:=none``,
``backbone:=resnet18`` and ``camera_info_policy:=estimate`` (so images with a broken CameraInfo still reach
the pipeline with the fuzzed boxes). Messages come from :class:`Fuzzer` (deterministic for a seed): unknown,
16-bit, float and empty encodings; zero, tiny and huge declared sizes with little data; wrong steps;
truncated or padded data; K with NaN / inf / negative / zero / extreme values; distortion models and D of any
length with NaN / inf; odd binning and ROI; stamps in the far past or future, nanosec > 1e9; empty, blank,
very long and unicode frame_ids; boxes with NaN / inf / negative / inverted / huge / zero-size coordinates,
side values 0-255, scores out of [0, 1], up to 40 boxes. After the run: the process must be alive, a valid
frame (the bundled sample, its CameraInfo and 2 boxes) must give a HandArray with 2 hands, and in the node's
console output two lines of the same cause must be at least ``log_throttle_sec`` apart.

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST is forced, ROS_STATIC_PEERS removed and
ROS_DOMAIN_ID defaults to a random id in 101-200, for this process and the node process.

    python bench/fuzz.py --messages 10000 --seed 0 --out bench/results/fuzz.json
"""

from __future__ import annotations

import argparse
import array
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# before rclpy is imported: keep DDS on loopback, in a private domain
from machine import keep_ros_on_loopback  # noqa: E402

keep_ros_on_loopback("fuzz")

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from wildhands_ros.msg import HandDetection, HandDetectionArray  # noqa: E402
from wildhands_ros.testing import NodeProcess, Tester, boxes_node_params  # noqa: E402
from wildhands_ros.testing import node_command as launch_command  # noqa: E402

ENCODINGS = (
    "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "16SC1", "rgb16", "bgr16", "rgba16",
    "bgra16", "32FC1", "64FC1", "8UC3", "yuv422", "yuv422_yuy2", "bayer_rggb8", "bayer_grbg16", "jpeg", "",
    " RGB8 ", "Mono8", "rgb8\u00e9", "x" * 300,
)  # fmt: skip
DISTORTIONS = (
    "plumb_bob",
    "rational_polynomial",
    "equidistant",
    "",
    "none",
    "fisheye",
    "kannala_brandt",
    "?",
)
HUGE = (2**31 - 1, 2**32 - 1, 1_000_000, 65_536)
LOG_LINE = re.compile(r"^\[(WARN|ERROR|FATAL)\] \[(\d+(?:\.\d+)?)\] \[([^\]]*)\]: (.*)$")


# ----------------------------------------------------------------------------------------------- node process
def node_command(namespace: str, throttle_sec: float, engine: str = "torch", extra: tuple = ()) -> list[str]:
    """The node's console script (or ``python -m wildhands_ros.node``) with the fuzz parameters."""
    return launch_command(namespace, boxes_node_params(throttle_sec, engine), extra=extra)


def load_sample():
    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb

    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    return load_image_rgb(SAMPLE_DIR / "image.png"), load_camera_yaml(SAMPLE_DIR / "camera_info.yaml"), boxes


# ----------------------------------------------------------------------------------------------- messages
class Fuzzer:
    """Deterministic hostile messages. ``frame()`` -> [(topic, message, label)], image last."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.sec = 10_000

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def _p(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _float(self, scale: float = 1000.0) -> float:
        r = self.rng.random()
        if r < 0.06:
            return math.nan
        if r < 0.10:
            return self._pick((math.inf, -math.inf))
        if r < 0.14:
            return self._pick((1e30, -1e30, 3.4e38, 1e-30, -0.0))
        return float(self.rng.normal(0.0, scale))

    def header(self) -> tuple[Header, str]:
        self.sec += 1
        h = Header()
        label = "stamp:ok"
        h.stamp.sec, h.stamp.nanosec = self.sec, int(self.rng.integers(0, 1_000_000_000))
        if self._p(0.1):
            h.stamp.sec = int(self._pick((0, -1, -(2**31), 2**31 - 1, 1, self.sec - 5000, self.sec + 5000)))
            h.stamp.nanosec = int(self._pick((0, 999_999_999, 1_000_000_000, 2**32 - 1)))
            label = "stamp:odd"
        h.frame_id = "fuzz_optical"
        if self._p(0.15):
            h.frame_id = self._pick(("", " ", "/", "a/b//c", "caméra_ü_光", "x" * 5000, "frame with spaces"))
            label += ",frame_id:odd"
        return h, label

    def image(self, header: Header, size: tuple[int, int]) -> tuple[Image, str]:
        w, h = size
        enc = "rgb8" if self._p(0.45) else self._pick(ENCODINGS)
        channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc.strip().lower(), 2)
        step = w * channels
        n = step * h
        label = f"enc:{enc[:16]}"
        r = self.rng.random()
        if r < 0.08:  # huge declared dimensions, tiny data
            w, h = int(self._pick(HUGE)), int(self._pick(HUGE))
            step = int(self._pick((w * channels, 0, 3, 2**32 - 1)))
            n = int(self.rng.integers(0, 64))
            label += ",size:huge"
        elif r < 0.14:  # zero size
            w, h = self._pick(((0, 0), (0, h), (w, 0)))
            step, n = w * channels, int(self._pick((0, 12)))
            label += ",size:zero"
        elif r < 0.22:  # wrong step
            step = int(self._pick((0, 1, step - 1, step + 1, step * 2, 2**32 - 1)))
            n = step * h if self._p(0.5) and step * h < 2_000_000 else w * channels * h
            label += ",step:wrong"
        elif r < 0.32:  # truncated or padded data
            n = max(0, n + int(self._pick((-1, -7, -n, 1, 13, -(n // 2)))))
            label += ",data:len"
        msg = Image(
            height=h % 2**32, width=w % 2**32, encoding=enc, is_bigendian=int(self.rng.integers(0, 2))
        )
        msg.step = step % 2**32
        msg.header = header
        msg.data = array.array("B", self.rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        return msg, label

    def camera_info(self, header: Header, size: tuple[int, int]) -> tuple[CameraInfo, str]:
        w, h = size
        f = float(self.rng.uniform(0.3, 2.0) * w)
        k = [f, 0.0, (w - 1) / 2, 0.0, f, (h - 1) / 2, 0.0, 0.0, 1.0]
        info = CameraInfo(header=header, width=w, height=h, distortion_model="plumb_bob", d=[0.0] * 5)
        label = "info:ok"
        r = self.rng.random()
        if r < 0.25:  # K broken
            for i in self.rng.choice(9, int(self.rng.integers(1, 4)), replace=False):
                k[int(i)] = self._pick((math.nan, math.inf, -math.inf, -f, 0.0, 1e300, 1e-300, self._float()))
            if self._p(0.1):
                k = [0.0] * 9
            label = "info:K"
        elif r < 0.45:  # distortion model / D
            info.distortion_model = self._pick(DISTORTIONS)
            info.d = [self._float(0.3) for _ in range(int(self._pick((0, 1, 3, 4, 5, 8, 12, 14, 100))))]
            label = "info:D"
        elif r < 0.55:  # size
            info.width, info.height = (
                int(v) for v in self._pick(((0, 0), (w + 1, h), (2**32 - 1, 1), (h, w)))
            )
            label = "info:size"
        elif r < 0.62:  # binning / roi
            info.binning_x, info.binning_y = int(self._pick((0, 1, 2, 1000))), int(self._pick((0, 1, 3)))
            info.roi = RegionOfInterest(
                x_offset=int(self.rng.integers(0, 2 * w + 1)), y_offset=int(self.rng.integers(0, 2 * h + 1)),
                width=int(self._pick((0, 1, w, 2**31))), height=int(self._pick((0, h, 7))),
            )  # fmt: skip
            label = "info:roi"
        elif r < 0.67:  # R, P garbage (not used for raw images)
            info.r = [self._float() for _ in range(9)]
            info.p = [self._float() for _ in range(12)]
            label = "info:RP"
        info.k = k
        return info, label

    def boxes(self, header: Header, size: tuple[int, int]) -> tuple[HandDetectionArray, str]:
        w, h = size
        msg = HandDetectionArray(header=header)
        n = int(self._pick((0, 1, 2, 2, 2, 3, 5, 40)))
        label = "boxes:ok"
        for _ in range(n):
            x0, y0 = float(self.rng.uniform(-0.2, 0.9) * w), float(self.rng.uniform(-0.2, 0.9) * h)
            s = float(self.rng.uniform(0.05, 0.6) * max(w, h))
            box = [x0, y0, x0 + s, y0 + s]
            r = self.rng.random()
            if r < 0.5:
                i = int(self.rng.integers(4))
                box[i] = self._pick(
                    (math.nan, math.inf, -math.inf, -1e6, 1e30, -3.4e38, box[i ^ 2], self._float())
                )
                label = "boxes:coords"
            elif r < 0.6:
                box = [box[2], box[3], box[0], box[1]]  # inverted
                label = "boxes:inverted"
            elif r < 0.65:
                box = [x0, y0, x0 + 1e-3, y0 + 1e-3]  # tiny
                label = "boxes:tiny"
            score, side_score = float(self.rng.random()), float(self.rng.random())
            if self._p(0.2):
                score, side_score = self._float(), self._float()
                label += ",scores"
            side = int(self.rng.integers(0, 3)) if self._p(0.8) else int(self.rng.integers(3, 256))
            msg.detections.append(
                HandDetection(
                    x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3], side=side, score=score,
                    side_score=side_score,
                )
            )  # fmt: skip
        return msg, label

    def frame(self) -> list[tuple[str, object, str]]:
        """boxes, camera_info and image sharing a stamp (each may be missing, broken, or stamped apart)."""
        header, hlabel = self.header()
        size = (int(self.rng.integers(1, 96)), int(self.rng.integers(1, 72)))
        if self._p(0.02):
            size = (int(self._pick((1, 1920))), int(self._pick((1, 1080))))  # a real large (or 1-px) frame
        out = []
        for topic, make, p in (("hand_boxes", self.boxes, 0.85), ("camera_info", self.camera_info, 0.85)):
            if self._p(p):
                hd = header
                if self._p(0.08):  # stamped apart from the image
                    hd, _ = self.header()
                msg, label = make(hd, size)
                out.append((topic, msg, label))
        image, label = self.image(header, size)
        out.append(("image", image, f"{label},{hlabel}"))
        if self._p(0.1):  # a lone message without an image
            topic = self._pick(("hand_boxes", "camera_info"))
            make = self.boxes if topic == "hand_boxes" else self.camera_info
            lone, label = make(self.header()[0], size)
            out.append((topic, lone, f"lone,{label}"))
        return out


# ----------------------------------------------------------------------------------------------- log check
def log_cause(message: str) -> str:
    """The cause class of a node warning/error line (one per throttle key of the node, or finer)."""
    m = re.match(r"frame failed: (\w+)", message)
    if m:
        return f"error:{m.group(1)}"
    for key, text in (  # the node throttles bad images per cause (conversions.ImageError.cause)
        ("image_encoding", "image dropped: unsupported image encoding"),
        ("image_empty", "image dropped: empty image"),
        ("image_step", "image dropped: image step"),
        ("image_data_length", "image dropped: image data has"),
        ("camera_info", "no CameraInfo on"),
        ("camera_estimate", "intrinsics estimated"),
        ("camera", "image skipped (camera_info_policy=skip)"),
        ("sync", "no camera_info within max_sync_delay"),
        ("frame_id", "empty frame_id"),
        ("nan", "hand(s) dropped"),
    ):
        if text in message:
            return key
    return "other:" + re.sub(r"[\d.]+", "#", message)[:60]


def throttle_report(log: str, period: float, after: str = "ready:") -> dict:
    """Warning/error lines per cause after the node's ``ready:`` line; violations = two lines of a cause
    less than ``period`` s apart (0.05 s tolerance for the console timestamp)."""
    lines = log.splitlines()
    start = next((i for i, line in enumerate(lines) if after in line), 0)
    times: dict[str, list[float]] = defaultdict(list)
    unparsed = []
    for line in lines[start + 1 :]:
        m = LOG_LINE.match(line.strip())
        if m:
            times[log_cause(m.group(4))].append(float(m.group(2)))
        elif line.strip() and not line.startswith("["):
            unparsed.append(line[:200])
    violations = {
        cause: min(b - a for a, b in zip(ts, ts[1:]))
        for cause, ts in times.items()
        if len(ts) > 1 and min(b - a for a, b in zip(ts, ts[1:])) < period - 0.05
    }
    return {
        "lines_per_cause": {c: len(ts) for c, ts in sorted(times.items())},
        "violations_min_gap_s": violations,
        "other_output_lines": unparsed[:20],
        "other_output_line_count": len(unparsed),
    }


# ----------------------------------------------------------------------------------------------- run
def run_fuzz(
    messages: int,
    seed: int = 0,
    throttle_sec: float = 3600.0,
    engine: str = "torch",
    rate_hz: float = 400.0,
    log_dir: Path | None = None,
    namespace: str | None = None,
    sample=None,
) -> dict:
    """Fuzz a node process with ``messages`` messages; needs ``rclpy.init()`` done. Returns the results."""
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="wildhands-fuzz-"))
    namespace = namespace or f"/fuzz{os.getpid()}"
    sample = sample or load_sample()
    cmd = node_command(namespace, throttle_sec, engine, ("-p", "camera_info_policy:=estimate"))
    t_start = time.monotonic()
    node = NodeProcess(cmd, log_dir / "node.log")
    tester = Tester(namespace)
    result: dict = {"messages_requested": messages, "seed": seed, "log_throttle_sec": throttle_sec}
    try:
        tester.wait_subscribed(node)
        result["startup_s"] = time.monotonic() - t_start
        fuzzer = Fuzzer(seed)
        sent: Counter = Counter()
        labels: Counter = Counter()
        publish_errors = 0
        n = 0
        t0 = time.monotonic()
        while n < messages and node.alive():
            for topic, msg, label in fuzzer.frame():
                try:
                    tester.pubs[topic].publish(msg)
                except Exception:  # a message rclpy itself refuses to serialise: not sent
                    publish_errors += 1
                    continue
                n += 1
                sent[topic] += 1
                for part in label.split(","):
                    labels[part.split(":")[0] + ":" + part.split(":")[-1] if ":" in part else part] += 1
            # pace: best-effort subscribers drop bursts; keep the sender near rate_hz messages/s
            tester.spin(max(0.0, n / rate_hz - (time.monotonic() - t0)))
        result.update(
            messages_sent=n, sent_per_topic=dict(sent), labels=dict(sorted(labels.items())),
            publish_errors=publish_errors, fuzz_s=time.monotonic() - t0,
        )  # fmt: skip
        tester.spin(1.5)
        result["alive_after_fuzz"] = node.alive()
        result["hand_arrays_during_fuzz"] = len(tester.hands)
        valid = tester.valid_frame(sample, sec=5_000_000) if node.alive() else None
        result["valid_after"] = {"answered": valid is not None, "hands": len(valid.hands) if valid else 0}
        tester.spin(1.2)  # one more diagnostics message
        result["node_diagnostics"] = dict(tester.diagnostics)
        result["alive_at_end"] = node.alive()
        result["crashes"] = 0 if node.alive() else 1
    finally:
        tester.close()
        rc, seconds = node.stop(signal.SIGINT)
        log = node.log()
        result["shutdown"] = {"signal": "SIGINT", "exit_code": rc, "seconds": seconds}
        result["traceback_in_log"] = "Traceback" in log
        result["log"] = throttle_report(log, throttle_sec)
        result["log_path"] = str(node.log_path)
        result["wall_s"] = time.monotonic() - t_start
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--throttle", type=float, default=30.0, help="log_throttle_sec of the node")
    ap.add_argument("--rate", type=float, default=400.0, help="messages per second sent")
    ap.add_argument("--engine", default="torch", choices=("torch", "onnxruntime"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.json")
    ap.add_argument(
        "--log-dir", type=Path, help="folder of the node's console log node.log (default: temporary)"
    )
    args = ap.parse_args(argv)

    from machine import OtherLoad, machine_facts

    rclpy.init()
    try:
        with OtherLoad() as load:
            result = run_fuzz(args.messages, args.seed, args.throttle, args.engine, args.rate, args.log_dir)
    finally:
        rclpy.try_shutdown()
    result["machine"] = machine_facts(
        cores=os.cpu_count(), other_processes_cores=load.other_cores,
        rclpy="pip wheels", ros_domain_id=os.environ["ROS_DOMAIN_ID"],
    )  # fmt: skip
    ok = (
        result["crashes"] == 0
        and result["valid_after"]["hands"] == 2
        and not result["log"]["violations_min_gap_s"]
        and result["shutdown"]["exit_code"] == 0
        and not result["traceback_in_log"]
    )
    result["ok"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: result[k] for k in ("messages_sent", "crashes", "valid_after", "shutdown", "ok")}
    print(json.dumps(summary), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
