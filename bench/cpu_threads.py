"""Thread settings of a CPU frame, A/B: ONNX Runtime's spin-waiting workers and the detector's LiteRT threads.

ONNX Runtime's intra-op workers keep spinning on their cores for a while after each run (its default
``session.intra_op.allow_spinning=1``). In the node the next thing on that core is the hand layer, the
messages and the next frame's detector; on a machine whose cores are shared (other nodes; here a training
run) the spinning takes CPU from them. This bench times the node's frame (MediaPipe detector -> crops ->
engine -> hand layer; the sample, 2 hands, untrained resnet18 @128, ``threads`` engine threads) with
spinning on and off and the detector on 1 and 2 LiteRT threads. Each setting runs in its own process
(spinning workers of one setting would slow the next otherwise), in blocks of ``--frames`` frames,
settings alternating block by block ``--rounds`` times, so that a change of the machine's load hits all
of them alike. Writes per-stage medians over all blocks, per-block frame medians and the other processes'
load (``other_processes_cores``).

    python bench/cpu_threads.py --out bench/results/cpu_threads.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, machine_facts  # noqa: E402

STAGES = ("detector", "crop", "engine", "hand_layer", "frame")
SETTINGS = [(spin, det) for spin in (1, 0) for det in (2, 1)]  # (allow_spinning, LiteRT threads)


def run_block(spinning: int, detector_threads: int, frames: int, warmup: int, threads: int) -> dict:
    """One block in this process: seconds of each stage of each timed frame."""
    import onnxruntime as ort

    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.model.config import KPEConfig, ModelConfig
    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    model = ModelConfig(backbone="resnet18", image_size=128, kpe=KPEConfig(variant="sparse"))
    pipeline = Pipeline(
        PipelineConfig(model=model, engine="onnxruntime", threads=threads, seed=0, estimator="image")
    )
    # the same graph, session built again with the setting under test
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", str(spinning))
    path = pipeline.engine.session._model_path
    pipeline.engine.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    detector = build_detector("mediapipe", max_hands=2, threads=detector_threads)
    out: dict[str, list[float]] = {k: [] for k in STAGES}
    hands_found = []
    with OtherLoad() as load:
        for i in range(warmup + frames):
            t0 = time.perf_counter()
            boxes = detector.detect(image)[:2]
            t1 = time.perf_counter()
            hands = pipeline(image, camera, boxes)
            t2 = time.perf_counter()
            if i < warmup:
                continue
            out["detector"].append(t1 - t0)
            out["frame"].append(t2 - t0)
            for k in ("crop", "engine", "hand_layer"):
                out[k].append(pipeline.timings[k] / 1e3)
            hands_found.append(len(hands))
    return {"times_s": out, "hands": hands_found, "other_processes_cores": load.other_cores}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12, help="timed frames per block")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="blocks per setting, settings alternating")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime threads")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cpu_threads.json")
    ap.add_argument("--block", nargs=2, type=int, help=argparse.SUPPRESS)  # internal: run one block
    args = ap.parse_args(argv)
    if args.block:
        block = run_block(*args.block, args.frames, args.warmup, args.threads)
        print(json.dumps(block))
        return block
    if args.frames < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error("--frames >= 1, --rounds >= 1, --warmup >= 0")
    blocks: dict[str, list[dict]] = {f"spinning={s} detector_threads={d}": [] for s, d in SETTINGS}
    common = ["--frames", str(args.frames), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    for r in range(args.rounds):
        for (spin, det), key in zip(SETTINGS, blocks):
            cmd = [sys.executable, __file__, "--block", str(spin), str(det), *common]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            blocks[key].append(json.loads(done.stdout.strip().splitlines()[-1]))
            median = statistics.median(blocks[key][-1]["times_s"]["frame"]) * 1e3
            print(f"round {r + 1}/{args.rounds} {key}: frame median {median:.1f} ms", flush=True)
    settings = {}
    for key, runs in blocks.items():
        merged = {k: [t for b in runs for t in b["times_s"][k]] for k in STAGES}
        settings[key] = {
            "stages_median_ms": {k: statistics.median(v) * 1e3 for k, v in merged.items()},
            "frame_p95_ms": float(sorted(merged["frame"])[int(0.95 * (len(merged["frame"]) - 1))] * 1e3),
            "frame_median_ms_per_block": [statistics.median(b["times_s"]["frame"]) * 1e3 for b in runs],
            "other_processes_cores_per_block": [b["other_processes_cores"] for b in runs],
            "hands_found_median": statistics.median([h for b in runs for h in b["hands"]]),
        }
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_facts(),
        "model": "resnet18 @128, untrained, onnxruntime",
        "onnxruntime_threads": args.threads,
        "frames_per_block": args.frames,
        "rounds": args.rounds,
        "settings": settings,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, s in settings.items():
        st = s["stages_median_ms"]
        print(f"{key}: " + ", ".join(f"{k} {v:.1f}" for k, v in st.items()) + " ms (medians)")
    print(f"results in {args.out}")
    return result


if __name__ == "__main__":
    main()
