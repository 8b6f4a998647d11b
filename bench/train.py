#!/usr/bin/env python3
"""Training throughput on this machine: synthetic data generation (frames/s, hands/s) per rendering device
('cpu' = numpy/OpenCV, 'torch-cpu', and 'cuda' where a GPU is present), training items (record -> crop +
targets, items/s) and training steps (samples/s) for a few backbones/crop sizes, float32 and (ResNet-18 at
128 px) bfloat16 autocast + channels_last on the CPU, in one run.

    python bench/train.py [--frames 6] [--steps 5] [--batch 8] [--out bench/results/train.json]

The torch renderers are also compared with the numpy one on the same frames: labels identical (yes/no) and
the mean |difference| of the images in 8-bit levels.

Timings on a shared machine are noisy: the script records the load of other processes (from /proc/stat)
beside each number, and compares configurations as ratios within the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, machine_facts  # noqa: E402

from wildhands.data.synthetic import (  # noqa: E402
    SyntheticConfig,
    SyntheticHandStream,
    frame_to_json,
    generate_frame,
)
from wildhands.model.config import ModelConfig  # noqa: E402
from wildhands.train.config import TrainConfig  # noqa: E402
from wildhands.train.items import AugmentConfig, make_item  # noqa: E402
from wildhands.train.trainer import Trainer  # noqa: E402


def bench_generation(n: int, size: tuple[int, int], device: str = "cpu", reference: list | None = None):
    """Frames 1..n of seed 0 at ``size`` rendered on ``device``; returns (result, frames). With
    ``reference`` (the numpy path's frames), also whether the labels are identical, and the image
    difference."""
    cfg = SyntheticConfig.from_dict({"image_sizes": [list(size)], "device": device})
    generate_frame(cfg, 0, 0)  # warm-up (hand-model construction, CUDA context)
    frames = []
    with OtherLoad() as load:
        for i in range(1, n + 1):
            frames.append(generate_frame(cfg, 0, i))
    hands = sum(len(f.hands) for f in frames)
    result = {
        "device": device,
        "image_size": list(size),
        "frames": n,
        "frames_per_s": n / load.wall,
        "hands_per_s": hands / load.wall,
        "other_processes_cores": load.other_cores,
    }
    if reference is not None:
        result["labels_identical_to_cpu"] = all(
            frame_to_json(a) == frame_to_json(b)
            and all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks))
            for a, b in zip(reference, frames, strict=True)
        )
        diffs = [
            float(np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)).mean())
            for a, b in zip(reference, frames)
        ]
        result["image_mean_abs_diff_to_cpu_levels"] = {"mean": float(np.mean(diffs)), "max": max(diffs)}
    return result, frames


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


def bench_steps(
    records, model: dict, batch: int, steps: int, tmp: Path, precision: dict | None = None
) -> dict:
    """Median training-step time; ``precision``: TrainConfig keys (device, amp, amp_cpu, channels_last)."""
    cfg = TrainConfig.from_dict(
        {
            **(precision or {}),
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
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    trainer.close()
    med = statistics.median(times)
    return {
        "model": model,
        "device": str(trainer.device),
        "precision": {
            "autocast": str(trainer.amp_dtype).removeprefix("torch.") if trainer.use_amp else "off",
            "channels_last": trainer.channels_last,
        },
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
    parser.add_argument("--note", default="", help="conditions of the run, stored in the result")
    args = parser.parse_args()
    import tempfile

    from tqdm import tqdm

    result: dict = {
        "machine": machine_facts(),
        "note": args.note,
        "generation": [],
        "steps": [],
    }
    devices = ["cpu", "torch-cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    step_runs = [
        ({"backbone": "resnet18", "image_size": 128}, None),
        ({"backbone": "resnet18", "image_size": 128}, {"amp": True, "amp_cpu": True, "channels_last": True}),
        ({"backbone": "resnet18", "image_size": 224}, None),
        ({"backbone": "resnet50", "image_size": 224}, None),
    ]
    if torch.cuda.is_available():  # float16 autocast + GradScaler + channels_last (the CUDA defaults)
        step_runs += [
            ({"backbone": b, "image_size": 224}, {"device": "cuda"}) for b in ("resnet18", "resnet50")
        ]
    progress = tqdm(total=2 * len(devices) + 1 + len(step_runs), desc="bench/train")
    for size in ((640, 480), (1280, 720)):
        reference = None
        for device in devices:
            res, frames = bench_generation(args.frames, size, device, reference)
            reference = reference or frames
            result["generation"].append(res)
            progress.update(1)
    stream = SyntheticHandStream(SyntheticConfig(), seed=5, length=2 * args.batch)
    records = [stream[i] for i in range(len(stream))]
    result["items"] = bench_items(records, ModelConfig(backbone="resnet18"))
    progress.update(1)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (model, precision) in enumerate(step_runs):
            result["steps"].append(
                bench_steps(records, model, args.batch, args.steps, Path(tmp) / str(i), precision)
            )
            progress.update(1)
    progress.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for g in result["generation"]:
        same = ""
        if "labels_identical_to_cpu" in g:
            d = g["image_mean_abs_diff_to_cpu_levels"]
            same = (
                f", labels identical to cpu: {g['labels_identical_to_cpu']}, image |diff| max {d['max']:.2f}"
            )
        print(
            f"synthetic {g['image_size'][0]}x{g['image_size'][1]} on {g['device']}: {g['frames_per_s']:.2f} "
            f"frames/s, {g['hands_per_s']:.2f} hands/s (other load {g['other_processes_cores']:.2f} cores)"
            + same
        )
    print(f"training items: {result['items']['items_per_s']:.1f} items/s")
    for s in result["steps"]:
        print(
            f"train step {s['model']['backbone']}@{s['model']['image_size']} on {s['device']} "
            f"{s['precision']} batch {s['batch']}: "
            f"{s['step_median_s']:.2f} s/step, {s['samples_per_s']:.1f} samples/s "
            f"(other load {s['other_processes_cores']:.2f} cores)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
