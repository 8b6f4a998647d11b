"""Per-crop latency of WildHandsNet in eager PyTorch and ONNX Runtime, relative to the machine's matmul speed.

Reports, for batch 1 and 2: median and p95 latency per batch and per crop for each engine, the network's
effective GFLOP/s (FLOPs counted with ``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-add of
convolutions and matmuls), the same machine's fp32 matmul GFLOP/s measured in the same run, and the ratios
``network GFLOP/s / matmul GFLOP/s`` and ``ORT speed / torch speed`` — ratios travel between machines better
than milliseconds do. Weights are random (latency does not depend on their values).

Run it on an otherwise idle machine: with all cores given to torch's OpenMP pool, one other busy process
makes eager torch many times slower (threads wait at barriers for a preempted peer), while ONNX Runtime
degrades far less. ``other_processes_cores`` in the JSON (CPU time used by every other process during the
run / wall time, from /proc/stat) flags a run disturbed this way; it should be close to 0.

    python bench/model.py --backbone resnet50 --kpe sparse --out bench/results/model.json
    python bench/model.py --backbone resnet18 --image-size 128 --out bench/results/model_resnet18_128.json
    python bench/model.py --backbone mediapipe_hand --out bench/results/model_mediapipe_hand_224.json

``params_M`` counts trainable parameters: a frozen backbone's (``mediapipe_hand``) are not among them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from machine import busy_cpu_s, latency_stats, machine_facts, own_cpu_s  # noqa: E402
from tqdm import tqdm

from wildhands.model import KPEConfig, ModelConfig, WildHandsNet  # noqa: E402
from wildhands.model.config import BACKBONE_CHANNELS  # noqa: E402

logger = logging.getLogger("bench.model")


def _time(fn: Callable[[], object], repeats: int, warmup: int, desc: str) -> list[float]:
    """Seconds per call of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in tqdm(range(repeats), desc=desc, leave=False):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int, desc: str
) -> dict[str, list[float]]:
    """Seconds per call of each engine, timed alternately so that a disturbance hits all engines alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in tqdm(range(repeats), desc=desc, leave=False):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _stats(times: list[float], batch: int) -> dict[str, float]:
    st = latency_stats(times)
    return {**st, "median_ms_per_crop": st["median_ms"] / batch, "p95_ms_per_crop": st["p95_ms"] / batch}


def matmul_gflops(n: int, repeats: int, warmup: int) -> dict[str, float]:
    """fp32 ``(n,n) @ (n,n)`` throughput of torch on this machine (2 n^3 FLOPs per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = _time(lambda: torch.mm(a, b), repeats, warmup, f"matmul {n}")
    med = statistics.median(times)
    return {"n": n, "median_ms": med * 1e3, "gflops": 2 * n**3 / med / 1e9}


_NUMPY_MATMUL = """
import json, statistics, sys, time
import numpy as np
n, repeats, warmup = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
for _ in range(warmup):
    a @ b
ts = []
for _ in range(repeats):
    t0 = time.perf_counter()
    a @ b
    ts.append(time.perf_counter() - t0)
print(json.dumps(statistics.median(ts)))
"""


def numpy_matmul_gflops(n: int, repeats: int, warmup: int, threads: int) -> dict[str, float]:
    """fp32 ``(n,n) @ (n,n)`` throughput of numpy's BLAS (OpenBLAS in the wheels; torch's is MKL).

    Runs in a subprocess so that the BLAS thread count can be set to ``threads`` by environment variables.
    """
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-c", _NUMPY_MATMUL, str(n), str(repeats), str(warmup)]
    med = float(json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout))
    return {"n": n, "median_ms": med * 1e3, "gflops": 2 * n**3 / med / 1e9}


def count_flops(net: torch.nn.Module, images: torch.Tensor, kpe: torch.Tensor) -> int:
    """FLOPs of one forward (2 per multiply-add) counted by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(images, kpe)
    return int(counter.get_total_flops())


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet50", choices=list(BACKBONE_CHANNELS))
    ap.add_argument("--image-size", type=int, default=224, help="crop side in px (the shipped weights: 128)")
    ap.add_argument("--kpe", default="sparse", choices=["sparse", "dense", "free", "none"])
    ap.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (both engines)"
    )
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per measurement")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before each measurement")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--matmul-n", type=int, default=2048)
    ap.add_argument("--out", type=Path, default=Path("bench/results/model.json"))
    args = ap.parse_args(argv)
    for name in ("threads", "repeats", "matmul_n"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")
    if args.warmup < 0 or any(b < 1 for b in args.batches):
        ap.error("--warmup must be >= 0 and --batches >= 1")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        cfg = ModelConfig(backbone=args.backbone, kpe=KPEConfig(variant=args.kpe), image_size=args.image_size)
    except ValueError as exc:
        ap.error(str(exc))
    net = WildHandsNet(cfg).eval()
    n_params = sum(p.numel() for p in net.parameters())

    try:
        import onnxruntime as ort

        from wildhands.model.export import export_onnx
    except ImportError:  # pragma: no cover - optional engine
        ort = None
        logger.warning("onnxruntime not installed: ORT timings skipped")

    result: dict = {
        "config": cfg.to_dict(),
        "params_M": n_params / 1e6,
        "machine": machine_facts(threads=args.threads),
        "repeats": args.repeats,
        "warmup": args.warmup,
    }
    busy0, own0, wall0 = busy_cpu_s(), own_cpu_s(), time.perf_counter()
    result["matmul_torch"] = matmul_gflops(args.matmul_n, max(args.repeats, 10), args.warmup + 2)
    result["matmul_numpy"] = numpy_matmul_gflops(
        args.matmul_n, max(args.repeats, 10), args.warmup + 2, args.threads
    )
    # the machine's matmul speed = the faster of the two BLAS libraries (MKL can be slow on AMD CPUs)
    mm_gflops = max(result["matmul_torch"]["gflops"], result["matmul_numpy"]["gflops"])
    result["matmul_gflops"] = mm_gflops

    sess = None
    with tempfile.TemporaryDirectory() as tmp:
        if ort is not None:
            path = export_onnx(net, Path(tmp) / "net.onnx", batch_size=1, dynamic_batch=True)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])

        rows = []
        for b in args.batches:
            images = torch.randn(b, 3, cfg.image_size, cfg.image_size)
            kpe = (torch.rand(b, cfg.kpe.num_points, 2) - 0.5) * 0.8
            flops = count_flops(net, images, kpe)
            row: dict = {"batch": b, "gflop_per_crop": flops / b / 1e9}

            def run_torch(images=images, kpe=kpe):
                with torch.inference_mode():
                    return net(images, kpe)

            engines: dict[str, Callable[[], object]] = {"torch": run_torch}
            if sess is not None:
                feeds = {"images": images.numpy(), "kpe": kpe.numpy()}
                engines["onnxruntime"] = lambda feeds=feeds: sess.run(None, feeds)
            times = _time_interleaved(engines, args.repeats, args.warmup, f"batch {b}")
            for name, ts in times.items():
                st = _stats(ts, b)
                st["gflops"] = flops / (st["median_ms"] / 1e3) / 1e9
                st["gflops_over_matmul"] = st["gflops"] / mm_gflops
                row[name] = st
            if "onnxruntime" in row:
                row["onnxruntime"]["speedup_vs_torch"] = (
                    row["torch"]["median_ms"] / row["onnxruntime"]["median_ms"]
                )
            rows.append(row)
        result["results"] = rows

    other = (busy_cpu_s() - busy0) - (own_cpu_s() - own0)
    result["other_processes_cores"] = max(other, 0.0) / (time.perf_counter() - wall0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    # final summary (the one place print is used)
    m = result["machine"]
    print(
        f"\nWildHandsNet {args.backbone} kpe={args.kpe} ({result['params_M']:.1f} M params) on {m['cpu']}, "
        f"{args.threads} threads, torch {m['torch']}, onnxruntime {m['onnxruntime']}"
    )
    print(
        f"matmul fp32 n={args.matmul_n}: torch {result['matmul_torch']['gflops']:.1f}, numpy "
        f"{result['matmul_numpy']['gflops']:.1f} GFLOP/s -> reference {mm_gflops:.1f} GFLOP/s"
    )
    head = ("batch", "engine", "ms/crop med", "p95", "GFLOP/s", "/matmul", "ORT/torch")
    print("{:>5} {:>12} {:>12} {:>8} {:>8} {:>8} {:>9}".format(*head))
    for row in rows:
        for eng in ("torch", "onnxruntime"):
            if eng not in row:
                continue
            r = row[eng]
            sp = f"{r['speedup_vs_torch']:.2f}x" if "speedup_vs_torch" in r else ""
            print(
                f"{row['batch']:>5} {eng:>12} {r['median_ms_per_crop']:>12.1f} {r['p95_ms_per_crop']:>8.1f} "
                f"{r['gflops']:>8.1f} {r['gflops_over_matmul']:>8.2f} {sp:>9}"
            )
    print(f"network: {rows[0]['gflop_per_crop']:.2f} GFLOP per crop; results in {args.out}")
    print(f"other processes used {result['other_processes_cores']:.2f} cores on average during the run")
    return result


if __name__ == "__main__":
    main()
