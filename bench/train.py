#!/usr/bin/env python3
"""Training throughput on this machine: synthetic data generation (frames/s, hands/s) per rendering device
('cpu' = numpy/OpenCV, 'torch-cpu', and 'cuda' where a GPU is present) and per scene look (``SCENE_LOOKS``:
the tube hand or the render skin, procedural or photographic backgrounds, box or held-object occluders;
``generation_looks``), training items (record -> crop +
targets, items/s) and training steps (samples/s) for a few backbones/crop sizes, float32 and (ResNet-18 at
128 px) bfloat16 autocast + channels_last on the CPU, in one run.

    python bench/train.py [--frames 6] [--steps 5] [--batch 8] [--out bench/results/train.json]
    python bench/train.py --only generation     # the generation entries only; the file's others are kept

The torch renderers are also compared with the numpy one on the same frames: labels identical (yes/no) and
the mean |difference| of the images in 8-bit levels.

Timings on a shared machine are noisy: the script records the load of other processes (from /proc/stat)
beside each number, and compares configurations as ratios within the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, busy_cpu_s, machine_facts, own_cpu_s  # noqa: E402

from wildhands.data.synthetic import (  # noqa: E402
    SyntheticConfig,
    SyntheticHandStream,
    frame_to_json,
    generate_frame,
)
from wildhands.eval.testsets import SKIN_LOOK  # noqa: E402
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


#: the scene looks whose generation speed is compared (SyntheticConfig overrides; docs/render-realism.md)
SCENE_LOOKS: dict[str, dict[str, Any]] = {
    "tubes (default)": {},
    "tubes + photo_mix + objects": {"backgrounds": "photo_mix", "occluders": "objects"},
    "skin": {"hand_look": "skin"},
    "skin + photo_mix": {"hand_look": "skin", "backgrounds": "photo_mix"},
    "skin + photo_mix + objects": {"hand_look": "skin", "backgrounds": "photo_mix", "occluders": "objects"},
    "skin + photo_mix + objects + max_arm_occlusion (testsets.SKIN_LOOK)": dict(SKIN_LOOK),
    "skin + max_arm_occlusion + other_poses natural": {
        "hand_look": "skin",
        "max_arm_occlusion": 0.05,
        "other_poses": "natural",
    },
}


def _shipped_look(name: str) -> dict[str, Any]:
    """The overrides of ``config/synth/<name>.yaml`` (a look the repository ships)."""
    import yaml

    return dict(yaml.safe_load((REPO / "config" / "synth" / f"{name}.yaml").read_text()))


SCENE_LOOKS["config/synth/realism.yaml"] = _shipped_look("realism")
SCENE_LOOKS["config/synth/skin_v4.yaml (training look)"] = _shipped_look("skin_v4")


def bench_looks(frames: int, seed: int = 7, rounds: int = 3) -> dict[str, Any]:
    """Frames/s of ``generate_frame`` (device 'cpu', this process, frames ``0..frames-1`` of ``seed``) per
    look of ``SCENE_LOOKS``, with the cores other processes used meanwhile. The looks take turns in
    ``rounds`` blocks of ``frames / rounds`` frames, so a change in the machine's other load hits all
    alike."""
    cfgs = {name: SyntheticConfig.from_dict(o) for name, o in SCENE_LOOKS.items()}
    for cfg in cfgs.values():
        generate_frame(cfg, seed + 1, 0)  # warm-up: hand models, skins, photos (built once per process)
    wall = dict.fromkeys(cfgs, 0.0)
    other = dict.fromkeys(cfgs, 0.0)
    bounds = np.linspace(0, frames, rounds + 1).round().astype(int)
    for r in range(rounds):
        for name, cfg in cfgs.items():
            busy0, own0, t0 = busy_cpu_s(), own_cpu_s(), time.perf_counter()
            for i in range(bounds[r], bounds[r + 1]):
                generate_frame(cfg, seed, i)
            wall[name] += time.perf_counter() - t0
            other[name] += max(0.0, (busy_cpu_s() - busy0) - (own_cpu_s() - own0))
    out: dict[str, Any] = {}
    for name in cfgs:
        out[name] = {
            "config": SCENE_LOOKS[name],
            "frames": frames,
            "frames_per_s": round(frames / wall[name], 2),
            "ms_per_frame": round(1e3 * wall[name] / frames, 1),
            "other_processes_cores": round(other[name] / wall[name], 2),
        }
    return {"seed": seed, "rounds": rounds, "cpu_count": os.cpu_count(), "device": "cpu", "looks": out}


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
    parser.add_argument(
        "--look-frames", type=int, default=90, help="frames per look of SCENE_LOOKS (generation_looks)"
    )
    parser.add_argument(
        "--only", choices=("all", "generation"), default="all",
        help="generation: time the data generation only and keep the file's other entries",
    )  # fmt: skip
    args = parser.parse_args()
    import tempfile

    from tqdm import tqdm

    if args.only == "generation" and args.out.is_file():
        result = json.loads(args.out.read_text())
        result.update({"machine": machine_facts(), "note": args.note, "generation": []})
    else:
        result = {"machine": machine_facts(), "note": args.note, "generation": [], "steps": []}
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
    if args.only == "generation":
        step_runs = []
    progress = tqdm(total=2 * len(devices) + 2 + len(step_runs), desc="bench/train")
    for size in ((640, 480), (1280, 720)):
        reference = None
        for device in devices:
            res, frames = bench_generation(args.frames, size, device, reference)
            reference = reference or frames
            result["generation"].append(res)
            progress.update(1)
    result["generation_looks"] = bench_looks(args.look_frames)
    progress.update(1)
    if args.only == "all":
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
    for name, look in result["generation_looks"]["looks"].items():
        print(f"synthetic look {name}: {look['frames_per_s']:.2f} frames/s (one process, seed 7 frames)")
    if args.only == "all":
        print(f"training items: {result['items']['items_per_s']:.1f} items/s")
    for s in result["steps"] if args.only == "all" else []:
        print(
            f"train step {s['model']['backbone']}@{s['model']['image_size']} on {s['device']} "
            f"{s['precision']} batch {s['batch']}: "
            f"{s['step_median_s']:.2f} s/step, {s['samples_per_s']:.1f} samples/s "
            f"(other load {s['other_processes_cores']:.2f} cores)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
