"""Soak test: wildhands_node in its own process under a steady 30 Hz camera stream for ``--duration`` s.

Publishes a ``--width`` x ``--height`` rgb8 image stream (default 1280x720: the bundled sample
``wildhands/assets/sample/image.png`` resized to the output height, the sides filled by reflection, so its 2
hands are in it), a CameraInfo with the matching (scaled and shifted) intrinsics and the 2 hand boxes on
``hand_boxes`` (the node runs with ``detector:=none``), every frame with a new stamp, at ``--rate`` Hz, to the
console script ``wildhands_node`` (``engine:=onnxruntime``, ``backbone:=resnet18`` by default). Every second
it samples the node process's RSS (``VmRSS`` in /proc/<pid>/status); every HandArray's ``latency`` (the
node's own figure: image received -> HandArray published) and end-to-end time (publish -> HandArray back
here) are recorded. Reported: RSS growth after warm-up (median RSS of the last 5 s vs the 5 s after the
first ``--warmup-fraction`` of the run; must stay < 5 %), latency median / p95 / max per minute, frames
published / HandArrays received, the node's ``frames_dropped`` (latest frame wins: frames replaced before
the worker took them) and the longest gap between HandArrays; plot of RSS and latency vs time.

Both processes use config/fastdds_shm.xml (Fast DDS' default transports drop many big samples across
processes) unless ``--no-shm``. DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST is forced,
ROS_STATIC_PEERS removed and ROS_DOMAIN_ID defaults to a random id in 101-200.

    python bench/soak.py --duration 600 --out bench/results/soak.json --plot docs/img/soak.png
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SHM_PROFILE = REPO / "config" / "fastdds_shm.xml"


def _ros_env(shm: bool) -> None:
    """Before rclpy is imported: loopback only, private domain, (optionally) big shared-memory segments."""
    from machine import keep_ros_on_loopback

    keep_ros_on_loopback("soak")
    if shm:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(SHM_PROFILE)
    else:
        os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)


# ----------------------------------------------------------------------------------------------- helpers
def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (VmRSS of /proc/<pid>/status), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def stats_ms(values_s: list[float]) -> dict | None:
    from machine import latency_stats

    return latency_stats(values_s, 2)


def make_frame(sample, width: int, height: int):
    """The sample scaled to ``height`` (or ``width``), padded by reflection to width x height; camera and
    boxes moved with it. Returns (rgb, CameraInfo fields dict, [HandBox])."""
    import numpy as np
    from PIL import Image as PILImage

    from wildhands.runtime.pipeline import HandBox

    image, camera, boxes = sample
    h0, w0 = image.shape[:2]
    s = min(width / w0, height / h0)
    w1, h1 = round(w0 * s), round(h0 * s)
    rgb = np.asarray(PILImage.fromarray(image).resize((w1, h1), PILImage.BILINEAR)) if s != 1 else image
    ox, oy = (width - w1) // 2, (height - h1) // 2
    pad = ((oy, height - h1 - oy), (ox, width - w1 - ox), (0, 0))
    rgb = np.ascontiguousarray(np.pad(rgb, pad, mode="reflect"))
    info = camera.to_camera_info_dict()
    k, p = list(info["k"]), list(info["p"])
    for m, (fx, cx, fy, cy) in ((k, (0, 2, 4, 5)), (p, (0, 2, 5, 6))):
        m[fx], m[fy] = m[fx] * s, m[fy] * s
        m[cx], m[cy] = m[cx] * s + ox, m[cy] * s + oy
        if m is p:
            m[3] *= s  # Tx = -fx' * baseline scales with fx
    info.update(width=width, height=height, k=k, p=p)
    moved = [
        HandBox(
            (b.xyxy_px[0] * s + ox, b.xyxy_px[1] * s + oy, b.xyxy_px[2] * s + ox, b.xyxy_px[3] * s + oy),
            b.side,
            b.score,
            b.side_score,
        )
        for b in boxes
    ]
    return rgb, info, moved


def node_command(args, namespace: str) -> list[str]:
    from wildhands_ros.testing import node_command as launch_command

    params = {"backbone": args.backbone, "detector": "none", "engine": args.engine, "threads": args.threads}
    return launch_command(namespace, {**params, "log_throttle_sec": 30.0})


# ----------------------------------------------------------------------------------------------- run
def run(args) -> dict:
    import numpy as np
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from fuzz import load_sample
    from machine import OtherLoad, machine_facts
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    from wildhands_ros.conversions import boxes_to_detections, info_dict_to_msg, rgb_to_image
    from wildhands_ros.msg import HandArray, HandDetectionArray
    from wildhands_ros.testing import NodeProcess

    namespace = args.namespace or f"/soak{os.getpid()}"
    log_dir = Path(tempfile.mkdtemp(prefix="wildhands-soak-"))
    rgb, info, boxes = make_frame(load_sample(), args.width, args.height)
    header = Header(frame_id="soak_optical")
    image_msg = rgb_to_image(rgb, header, "rgb8")
    info_msg = info_dict_to_msg(info, header)
    boxes_msg = boxes_to_detections(boxes, header)

    rclpy.init()
    t_start = time.monotonic()
    node = NodeProcess(node_command(args, namespace), log_dir / "node.log")
    bench = rclpy.create_node("soak_bench", namespace=namespace)
    pubs = {
        "image": bench.create_publisher(type(image_msg), "image", qos_profile_sensor_data),
        "camera_info": bench.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data),
        "hand_boxes": bench.create_publisher(HandDetectionArray, "hand_boxes", qos_profile_sensor_data),
    }
    sent_at: dict[int, float] = {}  # stamp ns -> monotonic publish time
    arrays: list[tuple[float, float, float, int]] = []  # (t since start, node latency s, e2e s, hands)
    diag: dict[str, str] = {}

    def on_hands(msg: HandArray) -> None:
        now = time.monotonic()
        t_pub = sent_at.pop(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, None)
        e2e = now - t_pub if t_pub is not None else float("nan")
        arrays.append((now - t_run0, float(msg.latency), e2e, len(msg.hands)))

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == f"{namespace}/wildhands_node":
                diag.clear()
                diag.update({kv.key: kv.value for kv in status.values})

    bench.create_subscription(HandArray, "hands", on_hands, 10)
    bench.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(bench)
    result: dict = {
        "config": {
            "duration_s": args.duration, "rate_hz": args.rate, "width": args.width, "height": args.height,
            "engine": args.engine, "backbone": args.backbone, "threads": args.threads, "detector": "none",
            "hand_boxes": len(boxes), "warmup_fraction": args.warmup_fraction,
            "fastdds_profiles_file": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"),
            "ros_domain_id": os.environ["ROS_DOMAIN_ID"],
        }
    }  # fmt: skip
    samples: list[dict] = []
    outgoing = (("hand_boxes", boxes_msg), ("camera_info", info_msg), ("image", image_msg))
    published = late = 0
    t_run0 = time.monotonic()
    try:
        end = time.monotonic() + args.startup_timeout
        while pubs["image"].get_subscription_count() == 0 or pubs["hand_boxes"].get_subscription_count() == 0:
            if not node.alive() or time.monotonic() > end:
                raise RuntimeError("node did not start / subscribe:\n" + node.log()[-4000:])
            executor.spin_once(timeout_sec=0.1)
        # wait until the pipeline answered once (engine built), so the run measures the steady state
        first_deadline = time.monotonic() + args.startup_timeout
        while not arrays:
            if not node.alive() or time.monotonic() > first_deadline:
                raise RuntimeError("node never answered:\n" + node.log()[-4000:])
            for stamp_t in (time.time(),):
                header.stamp.sec, header.stamp.nanosec = int(stamp_t), int((stamp_t % 1) * 1e9)
                sent_at[header.stamp.sec * 10**9 + header.stamp.nanosec] = time.monotonic()
                for key, msg in outgoing:
                    msg.header = header
                    pubs[key].publish(msg)
            t_wait = time.monotonic() + 1.0
            while not arrays and time.monotonic() < t_wait:
                executor.spin_once(timeout_sec=0.05)
        result["startup_s"] = round(time.monotonic() - t_start, 2)
        arrays.clear()
        sent_at.clear()
        diag.clear()
        # ---- the soak
        period = 1.0 / args.rate
        with OtherLoad() as load:
            t_run0 = time.monotonic()
            t_end = t_run0 + args.duration
            next_pub, next_sample = t_run0, t_run0
            n_arrays_at_sample = 0
            while True:
                now = time.monotonic()
                if now >= t_end or not node.alive():
                    break
                if now >= next_pub:
                    stamp_t = time.time()
                    header = Header(frame_id="soak_optical")
                    header.stamp.sec, header.stamp.nanosec = int(stamp_t), int((stamp_t % 1) * 1e9)
                    for key, msg in outgoing:
                        msg.header = header
                        pubs[key].publish(msg)
                    sent_at[header.stamp.sec * 10**9 + header.stamp.nanosec] = now
                    published += 1
                    next_pub += period
                    if time.monotonic() - next_pub > period:  # fell behind by a frame: skip, no burst
                        late += int((time.monotonic() - next_pub) / period)
                        next_pub = time.monotonic() + period
                if now >= next_sample:
                    recent = [a for a in arrays[n_arrays_at_sample:]]
                    n_arrays_at_sample = len(arrays)
                    samples.append(
                        {
                            "t_s": round(now - t_run0, 3),
                            "rss_mb": rss_mb(node.proc.pid),
                            "hand_arrays": len(recent),
                            "latency_median_ms": (
                                round(1e3 * float(np.median([a[1] for a in recent])), 2) if recent else None
                            ),
                            "published": published,
                            "frames_dropped": int(diag.get("frames_dropped", -1)),
                        }
                    )
                    next_sample += 1.0
                    if len(sent_at) > 600:  # forget stamps the node dropped (latest frame wins)
                        for k in sorted(sent_at)[:-300]:
                            del sent_at[k]
                executor.spin_once(timeout_sec=max(0.0, min(next_pub, next_sample) - time.monotonic()))
            run_s = time.monotonic() - t_run0
            settle = time.monotonic() + 2.5  # the last HandArrays and one more diagnostics message
            while time.monotonic() < settle:
                executor.spin_once(timeout_sec=0.05)
        alive = node.alive()
        result["alive_at_end"] = alive
        result["run_s"] = round(run_s, 2)
        result["machine"] = machine_facts(
            cores=os.cpu_count(), other_processes_cores=round(load.other_cores, 3),
            note="other_processes_cores includes the node process (it is not this process)",
        )  # fmt: skip
    finally:
        executor.shutdown()
        bench.destroy_node()
        rc, stop_s = node.stop(signal.SIGINT)
        rclpy.try_shutdown()
    log = node.log()
    result["shutdown"] = {"signal": "SIGINT", "exit_code": rc, "seconds": round(stop_s, 3)}
    result["traceback_in_log"] = "Traceback" in log
    result["log_path"] = str(node.log_path)
    result.update(summarise(samples, arrays, published, late, diag, args))
    return result


def summarise(samples, arrays, published, late, diag, args) -> dict:
    import numpy as np

    rss = [(s["t_s"], s["rss_mb"]) for s in samples if s["rss_mb"] is not None]
    t_w = args.warmup_fraction * args.duration
    near = lambda t0, t1: [r for t, r in rss if t0 <= t < t1]  # noqa: E731
    rss_warm = float(np.median(near(t_w, t_w + 5.0) or [np.nan]))
    rss_end = float(np.median(near(rss[-1][0] - 5.0, rss[-1][0] + 1.0) or [np.nan])) if rss else float("nan")
    after = [(t, r) for t, r in rss if t >= t_w]
    slope = float(np.polyfit(*zip(*after), 1)[0]) * 60.0 if len(after) > 2 else float("nan")
    minutes = []
    n_min = int(np.ceil(max((a[0] for a in arrays), default=0.0) / 60.0 + 1e-9))
    for m in range(n_min):
        sel = [a for a in arrays if 60 * m <= a[0] < 60 * (m + 1)]
        minutes.append(
            {
                "minute": m,
                "hand_arrays": len(sel),
                "node_latency": stats_ms([a[1] for a in sel]),
                "end_to_end": stats_ms([a[2] for a in sel if np.isfinite(a[2])]),
            }
        )
    times = [a[0] for a in arrays]
    gaps = np.diff([0.0, *times, samples[-1]["t_s"] if samples else 0.0]) if times else [float("inf")]
    growth = 100.0 * (rss_end - rss_warm) / rss_warm if rss_warm > 0 else float("nan")
    return {
        "frames": {
            "published": published,
            "publish_slots_missed": late,
            "hand_arrays_received": len(arrays),
            "hand_arrays_with_2_hands": sum(1 for a in arrays if a[3] == 2),
            "node_frames_received": int(diag.get("frames_received", -1)),
            "node_frames_processed": int(diag.get("frames_processed", -1)),
            "node_frames_dropped": int(diag.get("frames_dropped", -1)),
            "node_frames_skipped": int(diag.get("frames_skipped", -1)),
            "node_errors": int(diag.get("errors", -1)),
            "lost_in_transport": published - int(diag.get("frames_received", published)),
        },
        "rss": {
            "start_mb": round(rss[0][1], 1) if rss else None,
            "after_warmup_mb": round(rss_warm, 1),
            "end_mb": round(rss_end, 1),
            "max_mb": round(max(r for _, r in rss), 1) if rss else None,
            "growth_after_warmup_pct": round(growth, 3),
            "slope_after_warmup_mb_per_min": round(slope, 4),
            "method": "median of the 5 s from warm-up end vs median of the last 5 s",
        },
        "latency": {
            "node": stats_ms([a[1] for a in arrays]),
            "end_to_end": stats_ms([a[2] for a in arrays if np.isfinite(a[2])]),
            "per_minute": minutes,
        },
        "max_gap_between_hand_arrays_s": round(float(np.max(gaps)), 3),
        "output_rate_hz": round(len(arrays) / max(samples[-1]["t_s"], 1e-9), 2) if samples else 0.0,
        "node_diagnostics": dict(diag),
        "samples": samples,
        "hand_arrays_t_latency_e2e": [[round(a[0], 3), round(a[1], 4), round(a[2], 4)] for a in arrays],
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = result["samples"]
    a = np.asarray(result["hand_arrays_t_latency_e2e"] or np.zeros((0, 3)))
    cfg = result["config"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    t = np.asarray([x["t_s"] for x in s]) / 60.0
    ax1.plot(t, [x["rss_mb"] for x in s], lw=1.2, color="tab:blue")
    t_w = cfg["warmup_fraction"] * cfg["duration_s"] / 60.0
    for ax in (ax1, ax2):
        ax.axvline(t_w, color="grey", ls="--", lw=0.8)
    ax1.set_ylabel("node RSS (MiB)")
    r = result["rss"]
    ax1.set_title(
        f"wildhands_node soak: {cfg['width']}x{cfg['height']} rgb8 at {cfg['rate_hz']:g} Hz, {cfg['engine']} "
        f"{cfg['backbone']}; RSS growth after warm-up {r['growth_after_warmup_pct']:+.2f} %",
        fontsize=9,
    )
    if len(a):
        ax2.plot(
            a[:, 0] / 60.0, a[:, 2] * 1e3, ".", ms=1.5, color="tab:orange", alpha=0.4, label="end to end"
        )
        ax2.plot(
            a[:, 0] / 60.0,
            a[:, 1] * 1e3,
            ".",
            ms=1.5,
            color="tab:green",
            alpha=0.6,
            label="HandArray.latency",
        )
    ax2.set_ylabel("latency (ms)")
    ax2.set_xlabel("time (min); dashed: end of warm-up")
    ax2.legend(loc="upper right", markerscale=6, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability(soak_path: Path, fuzz_path: Path, shutdown: dict[str, float], source: str, out: Path) -> dict:
    """``bench/results/reliability.json``: fuzz + soak + shutdown figures in one place."""
    fuzz = json.loads(fuzz_path.read_text())
    soak = json.loads(soak_path.read_text())
    cfg = soak["config"]
    rel = {
        "fuzz": {
            "source": str(fuzz_path.relative_to(REPO)) if fuzz_path.is_relative_to(REPO) else str(fuzz_path),
            "messages": fuzz["messages_sent"],
            "seed": fuzz["seed"],
            "crashes": fuzz["crashes"],
            "valid_output_after": fuzz["valid_after"],
            "throttle_violations": len(fuzz["log"]["violations_min_gap_s"]),
            "ok": fuzz.get("ok"),
        },
        "soak": {
            "source": str(soak_path.relative_to(REPO)) if soak_path.is_relative_to(REPO) else str(soak_path),
            "minutes": round(soak["run_s"] / 60.0, 2),
            "stream": f"{cfg['width']}x{cfg['height']} rgb8 at {cfg['rate_hz']:g} Hz, 2 hand boxes",
            "node": f"engine={cfg['engine']} backbone={cfg['backbone']} threads={cfg['threads']}",
            "alive_at_end": soak["alive_at_end"],
            "rss_growth_after_warmup_pct": soak["rss"]["growth_after_warmup_pct"],
            "rss_after_warmup_mb": soak["rss"]["after_warmup_mb"],
            "rss_end_mb": soak["rss"]["end_mb"],
            "latency_p95_ms": soak["latency"]["node"]["p95_ms"],
            "latency_median_ms": soak["latency"]["node"]["median_ms"],
            "end_to_end_p95_ms": soak["latency"]["end_to_end"]["p95_ms"],
            "output_rate_hz": soak["output_rate_hz"],
            "frames": soak["frames"],
            "max_gap_between_hand_arrays_s": soak["max_gap_between_hand_arrays_s"],
            "ok": soak.get("ok"),
        },
        "shutdown": {
            "seconds": shutdown,
            "source": source,
            "fuzz_run_sigint_s": round(fuzz["shutdown"]["seconds"], 3),
            "soak_run_sigint_s": soak["shutdown"]["seconds"],
            "limit_s": 2.0,
        },
        "machine": soak.get("machine"),
    }
    out.write_text(json.dumps(rel, indent=1) + "\n")
    return rel


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="s of streaming (after start-up)")
    ap.add_argument("--rate", type=float, default=30.0, help="Hz")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--engine", default="onnxruntime", choices=("torch", "onnxruntime"))
    ap.add_argument("--backbone", default="resnet18", choices=("resnet18", "resnet34", "resnet50"))
    ap.add_argument("--threads", type=int, default=0, help="engine threads of the node (0 = all cores)")
    ap.add_argument("--warmup-fraction", type=float, default=0.2)
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--namespace", default="")
    ap.add_argument("--no-shm", action="store_true", help="do not use config/fastdds_shm.xml")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.json")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "soak.png", help="'' = no plot")
    ap.add_argument(
        "--reliability",
        type=Path,
        default=None,
        help="only write this reliability summary from --out (soak), bench/results/fuzz.json and --shutdown",
    )
    ap.add_argument("--shutdown", nargs="*", default=[], help="SIGNAL=seconds, e.g. SIGINT=0.45 SIGTERM=0.28")
    ap.add_argument("--shutdown-source", default="test/wildhands_ros/test_shutdown.py")
    args = ap.parse_args(argv)
    if args.reliability:
        sd = {k: float(v) for k, v in (x.split("=", 1) for x in args.shutdown)}
        fuzz = REPO / "bench" / "results" / "fuzz.json"
        rel = reliability(args.out, fuzz, sd, args.shutdown_source, args.reliability)
        print(json.dumps(rel, indent=1))
        return {"ok": True}
    _ros_env(not args.no_shm)
    result = run(args)
    r = result
    result["ok"] = bool(
        r["alive_at_end"]
        and r["rss"]["growth_after_warmup_pct"] < 5.0
        and r["frames"]["hand_arrays_received"] > 0
        and r["max_gap_between_hand_arrays_s"] <= 5.0
        and r["shutdown"]["exit_code"] == 0
        and not r["traceback_in_log"]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    if str(args.plot) not in ("", "."):
        plot(result, args.plot)
    summary = {
        "ok": r["ok"], "run_s": r["run_s"], "frames": r["frames"], "rss": r["rss"],
        "latency_node": r["latency"]["node"], "latency_e2e": r["latency"]["end_to_end"],
        "max_gap_s": r["max_gap_between_hand_arrays_s"], "shutdown": r["shutdown"],
    }  # fmt: skip
    print(json.dumps(summary), file=sys.stderr)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
