"""Latency of the default hand detector (MediaPipe palm + hand landmarks in LiteRT) on a 640x480 image.

Times ``detect()`` on the bundled sample (640x480, two rendered hands: two palm detections and two
landmark passes per call) with and without the mirrored palm pass, and each stage alone. Reports median
and p95 in ms. Run it on an otherwise idle machine: ``other_processes_cores`` in the JSON (the CPU that
other processes used during the run) flags a disturbed run.

    python bench/detector.py --out bench/results/detector.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

from machine import busy_cpu_s, latency_stats, machine_facts, own_cpu_s  # noqa: E402

from wildhands.runtime.detection import build_detector  # noqa: E402
from wildhands.runtime.detection.mediapipe_palm import PALM_INPUT_SIZE, _letterbox  # noqa: E402

logger = logging.getLogger("bench.detector")


def _time(fn: Callable[[], object], iters: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return _summary(times)


def _summary(times: list[float]) -> dict[str, float]:
    """``times`` in ms: :func:`bench.machine.latency_stats` (rounded) + ``iters``."""
    return {**latency_stats([t / 1e3 for t in times], 2), "iters": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "detector.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[bench.detector] %(message)s")

    wall0, busy0, own0 = time.perf_counter(), busy_cpu_s(), own_cpu_s()
    image = cv2.cvtColor(cv2.imread(str(REPO / "wildhands/assets/sample/image.png")), cv2.COLOR_BGR2RGB)
    results: dict[str, object] = {
        "image": "wildhands/assets/sample/image.png",
        "image_hw": list(image.shape[:2]),
        "threads": args.threads,
        **{k: v for k, v in machine_facts().items() if k in ("cpu", "cpu_count")},
        "runtime": "ai-edge-litert (XNNPACK, fp32)",
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3]
        if Path("/proc/loadavg").exists()
        else None,
    }
    # the two settings interleaved call by call, so that load from other processes hits both alike
    detectors = {
        "detect_flip_palms": build_detector("mediapipe", threads=args.threads, flip_palms=True),
        "detect_no_flip": build_detector("mediapipe", threads=args.threads, flip_palms=False),
    }
    times: dict[str, list[float]] = {key: [] for key in detectors}
    for i in range(args.iters + 5):
        for key, det in detectors.items():
            t0 = time.perf_counter()
            det.detect(image)
            if i >= 5:
                times[key].append((time.perf_counter() - t0) * 1e3)
    for key, det in detectors.items():
        results[key] = {"hands_found": len(det.detect(image)), **_summary(times[key])}
        logger.info("%s: %s", key, results[key])
    det = build_detector("mediapipe", threads=args.threads, flip_palms=False)
    tensor, _ = _letterbox(image, PALM_INPUT_SIZE)
    results["stage_letterbox"] = _time(lambda: _letterbox(image, PALM_INPUT_SIZE), args.iters)
    results["stage_palm_model"] = _time(lambda: det._run_palm(tensor), args.iters)
    palm_box, palm_kps, palm_score = det.detect_palms(image)[0]
    results["stage_landmarks_one_hand"] = _time(
        lambda: det._refine(image, palm_box, palm_kps, palm_score), args.iters
    )
    blank = np.zeros_like(image)
    results["detect_no_hands"] = _time(lambda: det.detect(blank), args.iters)
    for key in ("stage_letterbox", "stage_palm_model", "stage_landmarks_one_hand", "detect_no_hands"):
        logger.info("%s: %s", key, results[key])
    wall = time.perf_counter() - wall0
    # CPU used by every other process during the run, in cores: should be ~0 on an idle machine
    results["other_processes_cores"] = round(
        max(0.0, (busy_cpu_s() - busy0) - (own_cpu_s() - own0)) / wall, 2
    )
    logger.info("other processes used %.2f cores during the run", results["other_processes_cores"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    logger.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
