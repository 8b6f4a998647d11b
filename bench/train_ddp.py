#!/usr/bin/env python3
"""Training throughput of 1 process vs N processes (torchrun + DistributedDataParallel) in one run.

    python bench/train_ddp.py [--nproc 1 2] [--steps 5] [--batch 16] [--out bench/results/train_ddp.json]
    python bench/train_ddp.py --device cuda --model resnet50 --size 224 --batch 144   # on a GPU machine

Each configuration is a real ``torchrun --nproc_per_node N`` launch of this script (worker mode), rendezvous
on 127.0.0.1: the same fixed config (the same global batch of ``--batch`` samples per step, built from the
same pre-rendered synthetic hands, augmentation and crops included), ``--warmup`` steps untimed, then
``--steps`` timed steps. samples/s = global batch x steps / wall time of the timed steps (rank 0's clock,
between two barriers). On the CPU the cores are shared out: each of N processes gets ``cores // N`` torch
threads (1 process: all cores), so the comparison is of the engine, not of more hardware; a 1-process run
with the threads of ONE of the N processes is added as a control (how far N processes are from N times
one). On CUDA each process drives one GPU. ``ratio_to_1_process`` = samples/s / that of 1 process with all
cores; ``ratio_to_1_process_same_threads`` = samples/s / that of 1 process with the same threads per
process. Each configuration is launched ``--repeats`` times; the best (highest samples/s) counts, all are
kept.

Timings on a shared machine are noisy: ``other_processes_cores`` (bench.machine.OtherLoad, measured in the
launching process around each launch) says how busy other processes kept the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from _eval_common import command_line, machine_facts, write_result  # noqa: E402
from machine import OtherLoad  # noqa: E402


def _train_config(args: argparse.Namespace, out_dir: str):
    from wildhands.train.config import TrainConfig

    return TrainConfig.from_dict(
        {
            "model": {"backbone": args.model, "image_size": args.size},
            "data": [{"name": "synthetic", "kind": "synthetic_stream"}],
            "optim": {
                "steps": args.warmup + args.steps,
                "batch_size": args.batch,
                "accumulate": args.accumulate,
                "warmup_steps": 1,
            },
            "device": args.device,
            "out_dir": out_dir,
            "log_every": 1000,
            "ckpt_every": 100000,
            "eval_every": 100000,
        }
    )


def worker(args: argparse.Namespace) -> None:
    """One process of a timed run (started by torchrun); rank 0 writes ``args.worker_out``."""
    import torch

    from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
    from wildhands.train import distributed
    from wildhands.train.trainer import StepBatches, Trainer

    stream = SyntheticHandStream(SyntheticConfig(), seed=5, length=args.hands)
    records = [stream[i] for i in range(args.hands)]  # the same hands in every process (deterministic)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(_train_config(args, tmp), resume=False, sources=[records], eval_records=records[:1])
        batches = StepBatches(trainer.cfg, trainer.sources, trainer.micro)
        losses = []

        def run(steps: int) -> None:
            for _ in range(steps):
                logs = trainer.train_step(batches[trainer.step])
                trainer.step += 1
                losses.append(logs["total"])
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            distributed.barrier(trainer.dist)

        run(args.warmup)
        t0 = time.perf_counter()
        run(args.steps)
        wall = time.perf_counter() - t0
        if trainer.is_main:
            Path(args.worker_out).write_text(
                json.dumps(
                    {
                        "processes": trainer.dist.world_size,
                        "backend": trainer.dist.backend,
                        "device": str(trainer.device),
                        "threads_per_process": torch.get_num_threads(),
                        "precision": {
                            "autocast": str(trainer.amp_dtype).removeprefix("torch.")
                            if trainer.use_amp
                            else "off",
                            "channels_last": trainer.channels_last,
                        },
                        "micro_batches_per_process": len(trainer.micro),
                        "timed_steps": args.steps,
                        "wall_s": wall,
                        "samples_per_s": args.batch * args.steps / wall,
                        "loss_first_last": [losses[0], losses[-1]],
                    }
                )
            )
        trainer.close()


def launch(args: argparse.Namespace, nproc: int, threads: int) -> dict:
    """One timed run of ``nproc`` processes (``threads`` torch threads each, CPU) through torchrun."""
    from wildhands.train import distributed

    env = distributed.loopback_env()
    if args.device == "cpu":
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        # what a worker needs, spelled out: torchrun's own parser would take an abbreviation of its
        # options (our --nproc reads as its --nproc-per-node) anywhere on the command line
        worker_args = [
            f"--{name}={getattr(args, name)}"
            for name in ("device", "model", "size", "batch", "accumulate", "steps", "warmup", "hands")
        ]
        cmd = distributed.torchrun_command(
            nproc, [*worker_args, "--worker", "--worker-out", str(out)], script=str(Path(__file__).resolve())
        )
        with OtherLoad() as load:
            proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{nproc} process(es) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        result = json.loads(out.read_text())
    # the launch includes start-up (imports, rendering the hands): other processes' load over all of it
    result["other_processes_cores"] = load.other_cores
    result["launch_wall_s"] = load.wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    parser.add_argument("--model", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    parser.add_argument("--size", type=int, default=128, help="crop size (px)")
    parser.add_argument("--batch", type=int, default=16, help="global batch per step")
    parser.add_argument("--accumulate", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--hands", type=int, default=32, help="pre-rendered synthetic hands to draw from")
    parser.add_argument("--repeats", type=int, default=2, help="launches per configuration (best counts)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "train_ddp.json")
    parser.add_argument("--note", default="", help="conditions of the run, stored in the result")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from tqdm import tqdm

    cores = os.cpu_count() or 1
    plan = [(n, max(1, cores // n)) for n in args.nproc]
    if args.device == "cpu":  # the control: 1 process with the threads of one of N processes
        plan += [(1, t) for t in sorted({t for n, t in plan if n > 1} - {t for n, t in plan if n == 1})]
    runs = []
    with tqdm(total=len(plan) * args.repeats, desc="bench/train_ddp") as bar:
        for _ in range(args.repeats):  # interleaved, so that a busy spell of the machine hits all configs
            for i, (nproc, threads) in enumerate(plan):
                result = launch(args, nproc, threads)
                if len(runs) <= i:
                    runs.append({**result, "repeats": []})
                runs[i]["repeats"].append(
                    {k: result[k] for k in ("samples_per_s", "wall_s", "other_processes_cores")}
                )
                if result["samples_per_s"] > runs[i]["samples_per_s"]:
                    runs[i].update(result)
                bar.update(1)
    one = {r["threads_per_process"]: r for r in runs if r["processes"] == 1}
    base = one.get(max(one)) if one else None
    for r in runs:
        r["ratio_to_1_process"] = r["samples_per_s"] / base["samples_per_s"] if base else None
        same = one.get(r["threads_per_process"])
        r["ratio_to_1_process_same_threads"] = r["samples_per_s"] / same["samples_per_s"] if same else None
    result = {
        "machine": machine_facts(),
        "command": command_line("train_ddp.py", sys.argv[1:]),
        "note": args.note,
        "config": {
            "model": {"backbone": args.model, "image_size": args.size, "kpe": "sparse"},
            "device": args.device,
            "global_batch": args.batch,
            "accumulate": args.accumulate,
            "timed_steps": args.steps,
            "warmup_steps": args.warmup,
            "data": f"{args.hands} pre-rendered synthetic hands, augmentation on (crops made in the step)",
        },
        "runs": runs,
    }
    write_result(args.out, result)
    for r in runs:
        print(
            f"{r['processes']} process(es) x {r['threads_per_process']} thread(s) on {r['device']} "
            f"({r['backend'] or 'no process group'}): {r['samples_per_s']:.2f} samples/s "
            f"(x{r['ratio_to_1_process']:.2f} vs 1 process, x{r['ratio_to_1_process_same_threads']:.2f} vs 1 "
            f"process with as many threads; other load {r['other_processes_cores']:.2f} cores)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
