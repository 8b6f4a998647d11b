#!/usr/bin/env python3
"""Training throughput on this machine: synthetic data generation (frames/s, hands/s), training items
(record -> crop + targets, items/s) and training steps (samples/s) for a few backbones/crop sizes, in one run.

    python bench/train.py [--steps 6] [--batch 8] [--out bench/results/train.json]

Timings on a shared machine are noisy: the script records the load of other processes (from /proc/stat)
beside each number, and compares configurations as ratios within the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import OtherLoad, cpu_model  # noqa: E402
from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream, generate_frame  # noqa: E402
from wildhands.model.config import ModelConfig  # noqa: E402
from wildhands.train.config import TrainConfig  # noqa: E402
from wildhands.train.items import AugmentConfig, make_item  # noqa: E402
from wildhands.train.trainer import Trainer  # noqa: E402


def bench_generation(n: int, size: tuple[int, int]) -> dict:
    cfg = SyntheticConfig.from_dict({"image_sizes": [list(size)]})
    generate_frame(cfg, 0, 0)  # warm-up (hand-model construction)
    hands = 0
    with OtherLoad() as load:
        for i in range(1, n + 1):
            hands += len(generate_frame(cfg, 0, i).hands)
    return {
        "image_size": list(size),
        "frames": n,
        "frames_per_s": n / load.wall,
        "hands_per_s": hands / load.wall,
        "other_processes_cores": load.other_cores,
    }


def bench_items(records, model: ModelConfig) -> dict:
    aug = AugmentConfig()
    import numpy as np

    with OtherLoad() as load:
        for i, r in enumerate(records):
            make_item(r, model, augment=aug, rng=np.random.default_rng(i))
    return {
        "items": len(records),
        "items_per_s": len(records) / load.wall,
        "other_processes_cores": load.other_cores,
    }


def bench_steps(records, model: dict, batch: int, steps: int, tmp: Path) -> dict:
    cfg = TrainConfig.from_dict(
        {
            "model": model,
            "data": [{"name": "synthetic", "kind": "synthetic_stream"}],
            "optim": {"steps": steps + 2, "batch_size": batch, "warmup_steps": 1},
            "out_dir": str(tmp),
            "log_every": 1000,
            "ckpt_every": 100000,
            "eval_every": 100000,
        }
    )
    trainer = Trainer(cfg, resume=False, sources=[records], eval_records=records[:1])
    trainer.train(max_steps=2, progress=False)  # warm-up
    from wildhands.train.trainer import StepBatches

    batches = StepBatches(cfg, [records])
    times = []
    with OtherLoad() as load:
        for s in range(steps):
            b = batches[s]
            t0 = time.perf_counter()
            trainer.train_step(b)
            times.append(time.perf_counter() - t0)
    trainer.close()
    med = statistics.median(times)
    return {
        "model": model,
        "batch": batch,
        "step_median_s": med,
        "samples_per_s": batch / med,
        "other_processes_cores": load.other_cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "train.json")
    args = parser.parse_args()
    import tempfile

    from tqdm import tqdm

    result: dict = {
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "generation": [],
        "steps": [],
    }
    progress = tqdm(total=6, desc="bench/train")
    for size in ((640, 480), (1280, 720)):
        result["generation"].append(bench_generation(args.frames, size))
        progress.update(1)
    stream = SyntheticHandStream(SyntheticConfig(), seed=5, length=2 * args.batch)
    records = [stream[i] for i in range(len(stream))]
    result["items"] = bench_items(records, ModelConfig(backbone="resnet18"))
    progress.update(1)
    with tempfile.TemporaryDirectory() as tmp:
        for model in (
            {"backbone": "resnet18", "image_size": 128},
            {"backbone": "resnet18", "image_size": 224},
            {"backbone": "resnet50", "image_size": 224},
        ):
            result["steps"].append(
                bench_steps(records, model, args.batch, args.steps, Path(tmp) / model["backbone"])
            )
            progress.update(1)
    progress.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for g in result["generation"]:
        print(
            f"synthetic {g['image_size'][0]}x{g['image_size'][1]}: {g['frames_per_s']:.2f} frames/s, "
            f"{g['hands_per_s']:.2f} hands/s (other load {g['other_processes_cores']:.2f} cores)"
        )
    print(f"training items: {result['items']['items_per_s']:.1f} items/s")
    for s in result["steps"]:
        print(
            f"train step {s['model']['backbone']}@{s['model']['image_size']} batch {s['batch']}: "
            f"{s['step_median_s']:.2f} s/step, {s['samples_per_s']:.1f} samples/s "
            f"(other load {s['other_processes_cores']:.2f} cores)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
