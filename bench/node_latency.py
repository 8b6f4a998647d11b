"""Per-frame latency of wildhands_node through real rclpy publish/subscribe on the bundled sample.

Publishes the sample (``wildhands/assets/sample``: 640x480 image, its CameraInfo, 2 hands; plus the 2
ground-truth boxes on ``hand_boxes`` with ``--detector none``) ``--frames`` times at ``--rate`` Hz to a
``WildHandsNode`` that runs either in this process (``--mode inprocess``: the node and the bench node in one
``MultiThreadedExecutor``, as the test harness does; they share the GIL) or in its own process
(``--mode process``: the console script ``wildhands_node``, as ``ros2 run`` starts it). For each frame it
records ``HandArray.latency`` (the node's own figure: image received -> HandArray published) and the wall
time from ``publish(image)`` to the HandArray arriving back here (end to end: DDS both ways + the node).
``--warmup`` frames are sent first, one at a time, and not counted. Frames the node replaced before its
worker took them (latest frame wins) never come back: published - received = dropped.

The node's default parameters but those given: ``--estimator`` (default ``landmarks``, the node's default:
MediaPipe's landmarks lifted and refined; ``image``: the image model on ``--engine``, ``--backbone`` for
an untrained network only: the shipped weights carry their own), ``weights`` the node's default (the JSON
records the node's own description of them). Run it on an otherwise idle machine:
``other_processes_cores`` in the JSON (CPU time used by every process other than this one and the node
process, divided by wall time, from /proc/stat) and ``top_other_processes`` flag a disturbed run.

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST is forced and ROS_DOMAIN_ID defaults to a
random id in 101-200. With ``--mode process`` both processes use config/fastdds_shm.xml (big shared-memory
segments; Fast DDS' defaults drop many large best-effort samples across processes) unless ``--no-shm``.

    python bench/node_latency.py --estimator image --backbone resnet50 --engine torch --detector none \
        --out bench/results/node_latency.json --append
    python bench/node_latency.py --mode process --detector mediapipe --frames 40 --rate 10 \
        --out bench/results/node_latency.json --append     # the default node
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# before rclpy is imported: keep DDS on loopback, in a private domain
from machine import (  # noqa: E402
    busy_cpu_s,
    keep_ros_on_loopback,  # noqa: E402
    latency_stats,
    machine_facts,
)

keep_ros_on_loopback("bench")

NAMESPACE = "/bench_latency"
SHM_PROFILE = REPO / "config" / "fastdds_shm.xml"


# ----------------------------------------------------------------------------------------------- machine


def _proc_cpu() -> dict[int, tuple[str, float]]:
    """pid -> (command name, user+system CPU seconds) of every process readable in /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            out[int(d.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return ""


class Load:
    """CPU used by other processes during a run: machine total - ours (and the node process's)."""

    def __init__(self, own_pids: set[int]) -> None:
        self.own_pids = own_pids
        self.busy0, self.wall0, self.procs0 = busy_cpu_s(), time.monotonic(), _proc_cpu()
        self.loadavg0 = os.getloadavg()

    def result(self) -> dict:
        wall = time.monotonic() - self.wall0
        procs1 = _proc_cpu()
        deltas = {
            pid: (name, cpu - self.procs0.get(pid, (name, 0.0))[1]) for pid, (name, cpu) in procs1.items()
        }
        own = sum(deltas[p][1] for p in self.own_pids if p in deltas)
        other = max((busy_cpu_s() - self.busy0) - own, 0.0)
        top = sorted(
            ((d, pid, name) for pid, (name, d) in deltas.items() if pid not in self.own_pids and d > 0),
            reverse=True,
        )[:5]
        return {
            "wall_s": wall,
            "other_processes_cores": other / wall,
            "own_cores": own / wall,
            "loadavg_start": list(self.loadavg0),
            "loadavg_end": list(os.getloadavg()),
            "top_other_processes": [
                {"pid": pid, "name": name, "cores": d / wall, "cmdline": _cmdline(pid)}
                for d, pid, name in top
            ],
        }


def _wait_idle(max_s: float, *own: int | None, cores: float = 0.3) -> bool:
    """Wait (at most ``max_s`` s) until other processes use < ``cores`` cores over a 1 s window."""
    end = time.monotonic() + max_s
    while True:
        probe = Load({p for p in own if p is not None})
        time.sleep(1.0)
        used = probe.result()["other_processes_cores"]
        if used < cores:
            return True
        if time.monotonic() > end:
            print(f"warning: other processes still use {used:.2f} cores after {max_s} s", file=sys.stderr)
            return False


def _machine(args) -> dict:
    import rclpy.utilities

    try:
        import onnxruntime as ort

        ort_version = ort.__version__
    except ImportError:  # pragma: no cover - optional engine
        ort_version = None
    return machine_facts(
        onnxruntime=ort_version,
        rmw=rclpy.utilities.get_rmw_implementation_identifier(),
        ros_distro=os.environ.get("ROS_DISTRO") or "kilted (PyPI wheels)",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS"),
        FASTDDS_DEFAULT_PROFILES_FILE=os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"),
        ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID"),
    )


# ----------------------------------------------------------------------------------------------- stats
def _stats(values: list[float]) -> dict | None:
    return latency_stats(values)


# ----------------------------------------------------------------------------------------------- the node
def _node_params(args) -> dict:
    return {
        "estimator": args.estimator,
        "backbone": args.backbone,
        "engine": args.engine,
        "detector": args.detector,
        "threads": args.threads,
        "log_throttle_sec": 30.0,
    }


def _start_process_node(args, log_path: Path):
    from wildhands_ros.testing import NodeProcess, node_command

    return NodeProcess(node_command(NAMESPACE, _node_params(args)), log_path, new_session=True)


# ----------------------------------------------------------------------------------------------- run
def run(args) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
    from wildhands_ros.conversions import boxes_to_detections, info_dict_to_msg, rgb_to_image
    from wildhands_ros.msg import HandArray, HandDetectionArray
    from wildhands_ros.params import PARAM_SPECS
    from wildhands_ros.sync import stamp_ns

    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    d = camera.to_camera_info_dict()

    rclpy.init()
    proc = node = None
    log_path = Path(os.environ["ROS_LOG_DIR"]) / "wildhands_node_bench.log"
    executor = MultiThreadedExecutor(num_threads=2)
    bench = rclpy.create_node("node_latency_bench", namespace=NAMESPACE)
    try:
        t_start = time.monotonic()
        if args.mode == "process":
            proc = _start_process_node(args, log_path)
        else:
            from wildhands_ros.node import WildHandsNode

            node = WildHandsNode(
                parameter_overrides=[Parameter(k, value=v) for k, v in _node_params(args).items()],
                namespace=NAMESPACE,
            )
            executor.add_node(node)

        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        image_pub = bench.create_publisher(Image, "image", qos)
        info_pub = bench.create_publisher(CameraInfo, "camera_info", qos)
        boxes_pub = bench.create_publisher(HandDetectionArray, "hand_boxes", qos)
        lock = threading.Lock()
        sent: dict[int, float] = {}  # stamp -> monotonic time of publish(image)
        got: dict[int, tuple[float, float, int]] = {}  # stamp -> (receipt time, HandArray.latency, hands)
        diagnostics: list[dict[str, str]] = []

        def on_hands(msg: HandArray) -> None:
            t = time.monotonic()
            with lock:
                got[stamp_ns(msg.header)] = (t, float(msg.latency), len(msg.hands))

        def on_diag(msg: DiagnosticArray) -> None:
            for st in msg.status:
                if st.name.startswith("wildhands_node") and st.hardware_id.startswith(NAMESPACE):
                    with lock:
                        diagnostics.append({kv.key: kv.value for kv in st.values})

        bench.create_subscription(HandArray, "hands", on_hands, 10)
        bench.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
        executor.add_node(bench)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()

        deadline = time.monotonic() + args.startup_timeout
        while image_pub.get_subscription_count() == 0:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"node exited with {proc.proc.returncode}:\n{proc.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node did not subscribe within {args.startup_timeout} s")
            time.sleep(0.05)
        startup_s = time.monotonic() - t_start
        time.sleep(0.5)  # let discovery of all topics settle (hands, camera_info, hand_boxes)

        counter = [0]

        def publish() -> int:
            counter[0] += 1
            h = Header(frame_id="bench_camera_optical_frame")
            h.stamp.sec, h.stamp.nanosec = 10_000 + counter[0], 0
            if args.detector == "none":
                boxes_pub.publish(boxes_to_detections(boxes, h))
            info = info_dict_to_msg(d, h)
            info_pub.publish(info)
            msg = rgb_to_image(image, h, "rgb8")
            # CameraInfo first, as most camera drivers do (the node also pairs a CameraInfo that comes
            # after its image: camera_info_wait / camera_info_timeout)
            time.sleep(0.02)
            t = time.monotonic()
            image_pub.publish(msg)
            with lock:
                sent[stamp_ns(h)] = t
            return stamp_ns(h)

        def wait_for(stamps, timeout: float) -> bool:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                with lock:
                    if all(s in got for s in stamps):
                        return True
                time.sleep(0.01)
            return False

        warm_ok = 0
        for _ in range(args.warmup):  # one at a time: lazy initialisation, first-call costs
            warm_ok += wait_for([publish()], args.frame_timeout)
        if args.warmup and not warm_ok:
            raise RuntimeError(
                f"no HandArray for any of {args.warmup} warm-up frames"
                + (f":\n{log_path.read_text()[-3000:]}" if proc is not None else "")
            )
        with lock:
            warm_stamps = set(sent)
            n_diag = len(diagnostics)
        wait_for_diag = time.monotonic() + 3 * 1.0
        while time.monotonic() < wait_for_diag and len(diagnostics) == n_diag:
            time.sleep(0.02)
        with lock:
            diag0 = diagnostics[-1] if diagnostics else None

        if args.wait_idle > 0:
            _wait_idle(args.wait_idle, os.getpid(), proc.pid if proc is not None else None)
        pids = {os.getpid()} | ({proc.pid} if proc is not None else set())
        load = Load(pids)
        period = 1.0 / args.rate
        t0 = time.monotonic()
        timed = []
        for i in range(args.frames):
            delay = t0 + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            timed.append(publish())
        publish_s = time.monotonic() - t0
        wait_for(timed[-1:], args.frame_timeout)  # the newest frame always gets processed
        time.sleep(min(1.0, period))  # stragglers
        load_result = load.result()
        with lock:
            n_diag = len(diagnostics)
        wait_for_diag = time.monotonic() + 3 * 1.0
        while time.monotonic() < wait_for_diag and len(diagnostics) == n_diag:
            time.sleep(0.02)

        with lock:
            recv = {s: got[s] for s in timed if s in got}
            diag1 = diagnostics[-1] if diagnostics else None
            warm_recv = sum(s in got for s in warm_stamps)
        node_lat = [recv[s][1] for s in timed if s in recv]
        e2e = [recv[s][0] - sent[s] for s in timed if s in recv]
        hands = [recv[s][2] for s in timed if s in recv]

        node_counters = None
        if diag0 is not None and diag1 is not None:
            keys = ("frames_received", "frames_processed", "frames_dropped", "frames_skipped", "errors")
            node_counters = {k: int(diag1[k]) - int(diag0[k]) for k in keys if k in diag0 and k in diag1}
        return {
            "config": {
                "backbone": args.backbone if args.estimator == "image" else None,  # unused by landmarks
                "engine": args.engine if args.estimator == "image" else None,
                "detector": args.detector,
                "mode": args.mode,
                "threads": args.threads,
                "frames": args.frames,
                "rate_hz": args.rate,
                "warmup": args.warmup,
                "estimator": args.estimator,
                "weights": (diag1 or {}).get("weights", "the node's default"),  # as the node reports it
                "switch_interval_ms": PARAM_SPECS["switch_interval_ms"].default,
                "image": "wildhands/assets/sample/image.png (640x480 rgb8, 2 hands)",
                "boxes": "hand_boxes = ground truth (hands.json)"
                if args.detector == "none"
                else "node detector",
            },
            "startup_s": startup_s,
            "warmup_received": warm_recv,
            "frames_published": len(timed),
            "frames_received": len(recv),
            "frames_dropped": len(timed) - len(recv),
            "publish_duration_s": publish_s,
            "achieved_publish_rate_hz": (len(timed) - 1) / publish_s
            if len(timed) > 1 and publish_s > 0
            else None,
            "output_rate_hz": len(recv) / publish_s if publish_s > 0 else None,
            "hands_per_frame": {str(n): hands.count(n) for n in sorted(set(hands))},
            "node_latency": _stats(node_lat),
            "end_to_end": _stats(e2e),
            "node_counters_during_timed_frames": node_counters,
            "node_latency_ms_all": [round(v * 1e3, 2) for v in node_lat],
            "end_to_end_ms_all": [round(v * 1e3, 2) for v in e2e],
            "load": load_result,
            "machine": _machine(args),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    finally:
        executor.shutdown(timeout_sec=2.0)
        if node is not None:
            node.destroy_node()
        bench.destroy_node()
        rc = proc.stop(signal.SIGINT)[0] if proc is not None else 0
        if rc != 0:  # None: killed after the timeout
            print(f"warning: node process exited with {rc}; log in {log_path}", file=sys.stderr)
        rclpy.try_shutdown()


def _summary(r: dict, out: Path) -> None:
    c, m, ld = r["config"], r["machine"], r["load"]
    print(
        f"\nwildhands_node estimator={c['estimator']} backbone={c['backbone']} engine={c['engine']} "
        f"detector={c['detector']} mode={c['mode']} threads={c['threads']} on {m['cpu']} x{m['cpu_count']}, "
        f"rmw {m['rmw']}, "
        f"OMP_NUM_THREADS={m['OMP_NUM_THREADS']}"
    )
    print(
        f"{r['frames_published']} frames at {c['rate_hz']} Hz (+{c['warmup']} warm-up), received "
        f"{r['frames_received']}, dropped {r['frames_dropped']}; hands per frame {r['hands_per_frame']}; "
        f"node start-up {r['startup_s']:.1f} s"
    )
    print("{:>28} {:>8} {:>8} {:>8} {:>8}".format("ms", "median", "p95", "min", "max"))
    for key, label in (("node_latency", "HandArray.latency (node)"), ("end_to_end", "publish -> receipt")):
        s = r[key]
        if s is None:
            print(f"{label:>28} {'-':>8}")
        else:
            print(
                f"{label:>28} {s['median_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['min_ms']:>8.1f} "
                f"{s['max_ms']:>8.1f}"
            )
    if r["node_counters_during_timed_frames"]:
        print(f"node's own counters over the timed frames: {r['node_counters_during_timed_frames']}")
    top = ", ".join(f"{p['name']}({p['pid']}) {p['cores']:.2f}" for p in ld["top_other_processes"][:3])
    print(
        f"other processes used {ld['other_processes_cores']:.2f} cores on average (this run: "
        f"{ld['own_cores']:.2f}); loadavg {ld['loadavg_start'][0]:.2f} -> {ld['loadavg_end'][0]:.2f}"
        + (f"; busiest others: {top}" if top else "")
    )
    print(f"results in {out}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimator", default="landmarks", choices=["landmarks", "image"])
    ap.add_argument("--backbone", default="resnet50", choices=["resnet18", "resnet34", "resnet50"])
    ap.add_argument("--engine", default="torch", choices=["torch", "onnxruntime"])
    ap.add_argument("--detector", default="mediapipe", choices=["mediapipe", "none"])
    ap.add_argument("--mode", default="inprocess", choices=["inprocess", "process"])
    ap.add_argument("--frames", type=int, default=30, help="timed frames")
    ap.add_argument("--rate", type=float, default=2.0, help="Hz at which frames are published")
    ap.add_argument("--warmup", type=int, default=3, help="untimed frames, sent one at a time")
    ap.add_argument("--threads", type=int, default=0, help="node parameter `threads` (0 = all cores)")
    ap.add_argument("--frame-timeout", type=float, default=30.0, help="s to wait for one HandArray")
    ap.add_argument("--startup-timeout", type=float, default=180.0, help="s to wait for the node")
    ap.add_argument("--no-shm", action="store_true", help="--mode process: keep Fast DDS' default transports")
    ap.add_argument(
        "--wait-idle", type=float, default=0.0, help="wait up to this many s for other processes to go idle"
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results/node_latency.json"))
    ap.add_argument("--append", action="store_true", help="add this run to the list in --out")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.rate <= 0 or args.warmup < 0 or args.threads < 0:
        ap.error("--frames >= 1, --rate > 0, --warmup >= 0 and --threads >= 0")
    if args.mode == "process" and not args.no_shm:
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(SHM_PROFILE))  # before rclpy starts

    result = run(args)
    runs: list = []
    if args.append and args.out.exists():
        old = json.loads(args.out.read_text())
        runs = old if isinstance(old, list) else [old]
    runs.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=2) + "\n")
    _summary(result, args.out)
    return result


if __name__ == "__main__":
    main()
