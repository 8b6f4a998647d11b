"""Why the thread plan is what it is (``wildhands.runtime.threads``), measured on this machine in one run.

1. **A busy core**: the image model's engine per crop (the sample's right hand, untrained resnet18 @128:
   latency does not depend on the weights) with its threads = all cores or 1, on a quiet machine and while
   one other process spins on a core (a stand-in for the planner or camera driver beside the node, or
   the MediaPipe peer of ``bench/pipeline.py``). torch's OpenMP team waits at every barrier for the
   thread that lost its core; ONNX Runtime (spinning off) loses less.
2. **Tiny work on one thread**: the landmark estimator's fit stage (lifting head + refinement + hand layer,
   the sample's 2 hands with their detector landmarks) with torch on 1 thread and on all cores, quiet and
   beside the busy core.

3. **numpy's BLAS after its turn**: MediaPipe's detector on the sample image right after the landmark
   estimator's fit of the same image (as a node's frames follow each other), with numpy's (and scipy's)
   BLAS on all cores or on 1 thread (``threads.apply_blas_threads``), quiet machine. OpenBLAS's workers
   spin after a call and hold a core the detector's LiteRT threads want.

Settings alternate frame block by frame block (``--rounds``), so that a change of load hits all alike.

    python bench/thread_contention.py --out bench/results/thread_contention.json
    python bench/thread_contention.py --sections blas --rounds 5 \
        --out bench/results/thread_contention_blas.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from _eval_common import command_line, machine_facts, write_result  # noqa: E402
from machine import OtherLoad  # noqa: E402

SPINNER = "while True: pass"


def _median_ms(fn, frames: int) -> float:
    fn()  # warm
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def contention_sections(image, camera, boxes, landmarks, boxes_with_landmarks, cores, args) -> dict:
    """Sections 1 and 2: the image model's engines and the landmark fit, quiet and beside a busy core."""
    import torch
    from tqdm import tqdm

    from wildhands.model import ModelConfig
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    model = ModelConfig(backbone="resnet18", image_size=128)
    engines = {
        (engine, threads): Pipeline(
            PipelineConfig(model=model, estimator="image", engine=engine, threads=threads, seed=0)
        )
        for engine in ("torch", "onnxruntime")
        for threads in sorted({cores, 1}, reverse=True)
    }
    engine_ms: dict[tuple, list[float]] = {}
    fit_ms: dict[tuple, list[float]] = {}
    with OtherLoad() as load:
        for _ in tqdm(range(args.rounds), desc="rounds", unit="round"):
            for busy in (False, True):
                spinner = subprocess.Popen([sys.executable, "-c", SPINNER]) if busy else None
                try:
                    time.sleep(0.2)
                    for (engine, threads), pipeline in engines.items():
                        torch.set_num_threads(pipeline.threads.torch)  # each pipeline's own plan
                        ms = _median_ms(lambda p=pipeline: p(image, camera, boxes[:1]), args.frames)
                        engine_ms.setdefault((engine, threads, busy), []).append(ms)
                    for threads in sorted({cores, 1}, reverse=True):
                        torch.set_num_threads(threads)
                        landmarks(image, camera, boxes_with_landmarks)  # warm
                        times = []
                        for _ in range(args.frames):
                            landmarks(image, camera, boxes_with_landmarks)
                            times.append(landmarks.timings["fit"] + landmarks.timings["hand_layer"])
                        fit_ms.setdefault((threads, busy), []).append(statistics.median(times))
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
    torch.set_num_threads(landmarks.threads.torch)

    rows = {}
    for (engine, threads, busy), values in engine_ms.items():
        rows.setdefault(f"{engine}_{threads}_threads", {})["busy_core_ms" if busy else "quiet_ms"] = (
            statistics.median(values)
        )
    for row in rows.values():
        row["slowdown_with_a_busy_core"] = row["busy_core_ms"] / row["quiet_ms"]
    fit = {
        f"torch_{t}_threads_{'busy_core' if busy else 'quiet'}_ms": statistics.median(v)
        for (t, busy), v in fit_ms.items()
    }
    out = {
        "engine_per_crop": rows,
        "landmark_fit_and_hand_layer_2_hands": fit,
        "other_processes_cores": load.other_cores,
        "note": "busy_core_ms: while one other process spins on a core (other_processes_cores counts it)",
    }
    if cores > 1:
        for mode in ("quiet", "busy_core"):
            out[f"landmark_fit_torch_all_over_1_thread_{mode}"] = (
                fit[f"torch_{cores}_threads_{mode}_ms"] / fit[f"torch_1_threads_{mode}_ms"]
            )
    for name, row in rows.items():
        print(f"{name}: quiet {row['quiet_ms']:.1f} ms, busy core {row['busy_core_ms']:.1f} ms "
              f"(x{row['slowdown_with_a_busy_core']:.2f})")  # fmt: skip
    print("landmark fit + hand layer (2 hands):", {k: round(v, 2) for k, v in fit.items()})
    return out


def blas_section(image, camera, landmarks, boxes_with_landmarks, cores, args) -> dict:
    """Section 3: the detector right after the fit, numpy's BLAS on all cores or on one thread."""
    from tqdm import tqdm

    from wildhands.runtime.threads import apply_blas_threads

    detector = landmarks.landmark_hands.detector
    blas_ms: dict[tuple, list[float]] = {}
    with OtherLoad() as load:
        for _ in tqdm(range(args.rounds), desc="BLAS rounds", unit="round"):
            for threads in sorted({cores, 1}, reverse=True):
                apply_blas_threads(threads)
                detect, fit = [], []
                for k in range(args.frames + 1):
                    landmarks(image, camera, boxes_with_landmarks)
                    t0 = time.perf_counter()
                    detector.detect(image)
                    if k:  # the first is a warm-up
                        detect.append(1e3 * (time.perf_counter() - t0))
                        fit.append(landmarks.timings["fit"] + landmarks.timings["hand_layer"])
                blas_ms.setdefault(("detector", threads), []).append(statistics.median(detect))
                blas_ms.setdefault(("fit", threads), []).append(statistics.median(fit))
    apply_blas_threads(landmarks.threads.blas)  # the plan again
    blas = {f"{stage}_blas_{t}_threads_ms": statistics.median(v) for (stage, t), v in blas_ms.items()}
    out: dict = {
        "numpy_blas_2_hands": blas,  # detector: timed right after the fit (fit + hand layer) of the frame
        "blas_other_processes_cores": load.other_cores,
    }
    if cores > 1:
        for stage in ("detector", "fit"):
            out[f"{stage}_blas_all_over_1_thread"] = (
                blas[f"{stage}_blas_{cores}_threads_ms"] / blas[f"{stage}_blas_1_threads_ms"]
            )
    print("numpy's BLAS (detector after the fit):", {k: round(v, 2) for k, v in blas.items()})
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8, help="timed frames per block")
    ap.add_argument("--rounds", type=int, default=3, help="blocks per setting, alternating")
    ap.add_argument("--sections", nargs="+", choices=["contention", "blas"], default=["contention", "blas"],
                    help="contention: sections 1 and 2 (a busy core); blas: section 3")  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "thread_contention.json")
    args = ap.parse_args(argv)

    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig
    from wildhands.runtime.threads import available_cores

    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    cores = available_cores()
    landmarks = Pipeline(PipelineConfig(weights="default"))
    boxes_with_landmarks = landmarks.landmark_hands.detector.detect(image)

    result = {
        "command": command_line("thread_contention.py", argv if argv is not None else sys.argv[1:]),
        "machine": machine_facts(),
        "cores": cores,
        "frames_per_block": args.frames,
        "rounds": args.rounds,
    }
    if "contention" in args.sections:
        result.update(contention_sections(image, camera, boxes, landmarks, boxes_with_landmarks, cores, args))
    if "blas" in args.sections:
        result.update(blas_section(image, camera, landmarks, boxes_with_landmarks, cores, args))
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
