"""Per-crop latency of the hand-landmark network: LiteRT vs PyTorch vs ONNX Runtime, 1 and 2 threads.

The same MediaPipe ``hand_landmark_full.tflite`` three ways (docs/landmark-net.md): LiteRT (XNNPACK, what
the detector runs), the PyTorch module built from the file at load time
(``wildhands.runtime.detection.landmark_net.load_landmark_net``) and its ONNX export in ONNX Runtime. Input:
the detector's own crops of the real hands in the test photos and the sample (one crop per call, as the
detector calls it). Settings alternate block by block (``--rounds``) so that load from other processes hits
all alike; ``other_processes_cores`` flags a disturbed run. Also records the build time of the PyTorch
module, the export time and each engine's largest difference from LiteRT on these crops.

    python bench/landmark_net.py --out bench/results/landmark_net.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _eval_common import command_line, machine_facts, write_result  # noqa: E402
from machine import OtherLoad  # noqa: E402

IMAGES = (
    "test/data/real_hands/interhand2.6m/image29590.jpg",
    "test/data/real_hands/interhand2.6m/image44669.jpg",
    "wildhands/assets/sample/image.png",
)
REFERENCE = "litert_2_threads"  # the detector's default (MediaPipeHandDetector threads=2)


def _crops() -> np.ndarray:
    import cv2

    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.detection.mediapipe_palm import landmark_crop

    detector = build_detector("mediapipe")
    crops = []
    for name in IMAGES:
        image = cv2.cvtColor(cv2.imread(str(REPO / name)), cv2.COLOR_BGR2RGB)
        crops += [landmark_crop(image, det) for det in detector.detect_with_landmarks(image)]
    if not crops:
        raise SystemExit("the detector found no hand in the bench images")
    return np.stack(crops)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40, help="timed crops per block")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per setting, settings alternating")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "landmark_net.json")
    args = ap.parse_args(argv)

    import torch

    from wildhands.runtime.detection.landmark_net import (
        LANDMARK_OUTPUT_NAMES,
        LiteRTLandmarkEngine,
        OnnxRuntimeLandmarkEngine,
        TorchLandmarkEngine,
        export_landmark_onnx,
        landmark_model_path,
        load_landmark_net,
    )

    crops = _crops()
    load_landmark_net()  # imports and first-use costs out of the build timing
    t0 = time.perf_counter()
    net = load_landmark_net()
    build_s = time.perf_counter() - t0
    tmp = tempfile.TemporaryDirectory(prefix="wildhands-bench-landmark-")
    t0 = time.perf_counter()
    onnx_path = export_landmark_onnx(net, Path(tmp.name) / "hand_landmark.onnx")
    export_s = time.perf_counter() - t0

    engines = {}
    for threads in (1, 2):
        engines[f"litert_{threads}_threads"] = (LiteRTLandmarkEngine(landmark_model_path(), threads), None)
        engines[f"torch_{threads}_threads"] = (TorchLandmarkEngine(net), threads)
        engines[f"onnxruntime_{threads}_threads"] = (OnnxRuntimeLandmarkEngine(onnx_path, threads), None)
    torch_threads0 = torch.get_num_threads()

    reference = engines[REFERENCE][0].infer(crops)
    agreement = {}
    for name, (engine, torch_threads) in engines.items():
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        out = engine.infer(crops)
        agreement[name] = {
            n: float(np.abs(a - b).max())
            for n, a, b in zip(LANDMARK_OUTPUT_NAMES, out.as_tuple(), reference.as_tuple())
        }

    block_ms: dict[str, list[float]] = {name: [] for name in engines}
    all_ms: dict[str, list[float]] = {name: [] for name in engines}
    with OtherLoad() as load:
        for _ in range(args.rounds):
            for name, (engine, torch_threads) in engines.items():
                if torch_threads is not None:
                    torch.set_num_threads(torch_threads)
                for k in range(3):  # warm
                    engine.infer(crops[k % len(crops)][None])
                times = []
                for k in range(args.frames):
                    crop = crops[k % len(crops)][None]
                    t0 = time.perf_counter()
                    engine.infer(crop)
                    times.append(1e3 * (time.perf_counter() - t0))
                block_ms[name].append(statistics.median(times))
                all_ms[name] += times
    torch.set_num_threads(torch_threads0)
    tmp.cleanup()

    per_crop = {}
    for name in engines:
        times = sorted(all_ms[name])
        per_crop[name] = {
            "median_ms": round(statistics.median(block_ms[name]), 3),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3),
            "block_medians_ms": [round(v, 3) for v in block_ms[name]],
        }
    ref_ms = per_crop[REFERENCE]["median_ms"]
    for row in per_crop.values():
        row["over_litert_2_threads"] = round(row["median_ms"] / ref_ms, 3)
    fastest = min(per_crop, key=lambda n: per_crop[n]["median_ms"])
    result = {
        "command": command_line("landmark_net.py", argv if argv is not None else sys.argv[1:]),
        "machine": machine_facts(),
        "crops": len(crops),
        "crop_source": list(IMAGES),
        "frames_per_block": args.frames,
        "rounds": args.rounds,
        "per_crop": per_crop,
        "reference": REFERENCE,
        "fastest": fastest,
        "torch_build_from_tflite_s": round(build_s, 3),
        "onnx_export_s": round(export_s, 3),
        "max_abs_diff_vs_litert_2_threads": agreement,
        "other_processes_cores": round(load.other_cores, 2),
        "note": "median_ms: median of the per-block medians (one crop per call); over_*: latency ratio",
    }
    write_result(args.out, result)
    for name, row in per_crop.items():
        print(f"{name:24s} {row['median_ms']:7.2f} ms  x{row['over_litert_2_threads']:.2f}")
    print(f"fastest: {fastest}; other processes used {load.other_cores:.2f} cores; wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
