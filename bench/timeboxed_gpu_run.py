#!/usr/bin/env python3
"""Make frames and train on a machine you hold for a fixed time (a lent or rented GPU): both time-boxed.

    python bench/timeboxed_gpu_run.py --train-config config/train/mediapipe_hand_224_upright_v4_gpu.yaml \
        --synth-config config/synth/skin_v4.yaml --seed 4 --generate-s 230 --end-s 425 --out out/gpu_run

1. Frames: ``wildhands synth`` on every core (``--workers``, default all) into the training config's first
   ``synthetic_dir`` folder until ``--generate-s`` seconds after the start; then the folder is cut to its
   first N complete frames (``seed``, frames 0..N-1: what ``wildhands synth --n N`` writes) and finalised.
2. Training: 120 steps, of which the last 60 are timed; ``optim.steps`` is then set to what fits before
   ``--end-s`` (minus ``--margin-s`` for the evaluation and the checkpoint) and the run trains on to it.
   Write the reached step count into the config to repeat the run without a time box.
3. Into ``--out`` (at most 6 files, so that a tool that brings back 8 gets them all): ``model.pt`` in
   float16 (the run's train config kept; ``scripts/package_weights.py`` takes it), ``history.jsonl``,
   ``loss_curves.png``, ``train.log``, ``synth.log`` and ``timeboxed_gpu_run.json`` (frames, seconds,
   steps, samples/s, machine facts).

The numbers of this file are wall-clock seconds of one call on one machine: the data (crops, augmentation on
the CPU) bounds the training speed unless the CPU is large (docs/training-cluster.md#a-lent-h200).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import machine_facts

PROBE_STEPS = 60  # steps per probe; two probes: the first pays the loader's start, the second is timed


def generate(args: argparse.Namespace, root: Path, stop_at: float, out: Path) -> dict:
    """Frames of ``args.seed`` into ``root`` until ``stop_at`` (epoch s); returns what was made."""
    from wildhands.data.synthetic import SyntheticConfig, complete_frames, write_dataset

    t0 = time.time()
    cmd = [sys.executable, "-m", "wildhands.cli", "synth", "--out", str(root), "--n", str(args.max_frames)]
    cmd += ["--seed", str(args.seed), "--config", args.synth_config, "--workers", str(args.workers)]
    with open(out / "synth.log", "w") as log:
        # its own process group: the pool's workers are stopped with it
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while proc.poll() is None and time.time() < stop_at:
            time.sleep(2.0)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    gen_s = time.time() - t0
    done = complete_frames(root)
    n = 0
    while n in done:  # frames 0..n-1 complete: the folder 'seed, --n n' (the last few may have gaps)
        n += 1
    if n == 0:
        raise SystemExit(f"no complete frame in {root} after {gen_s:.0f} s: see {out / 'synth.log'}")
    labels_path = root / "labels.jsonl"
    keep = [ln for ln in labels_path.read_text().splitlines() if ln.strip() and _index(ln) < n]
    labels_path.write_text("\n".join(keep) + "\n")
    config = SyntheticConfig.from_yaml(args.synth_config)
    write_dataset(root, config, n=n, seed=args.seed, workers=1, progress=False)  # all there: writes meta
    return {"frames": n, "generate_s": round(gen_s, 1), "frames_per_s": round(n / gen_s, 2)}


def _index(line: str) -> int:
    try:
        return int(json.loads(line)["index"])
    except (ValueError, KeyError, TypeError):
        return sys.maxsize


def train(cfg, args: argparse.Namespace, end_at: float, out: Path) -> dict:
    """Train ``cfg`` (a ``TrainConfig``) so that its schedule ends by ``end_at`` (epoch s); write the float16
    copy of its ``model.pt`` (extra -- step, train config -- kept) to ``out``."""
    from wildhands.model.checkpoint import read_checkpoint, save_checkpoint
    from wildhands.train.trainer import Trainer

    t0 = time.time()
    trainer = Trainer(cfg, resume=False)
    start_s = time.time() - t0
    try:
        trainer.train(max_steps=PROBE_STEPS, progress=False)
        t1 = time.time()
        trainer.train(max_steps=PROBE_STEPS, progress=False)
        steps_per_s = PROBE_STEPS / (time.time() - t1)
        fit = int(steps_per_s * (end_at - time.time() - args.margin_s))
        steps = trainer.step + max(0, fit)
        optim = dataclasses.replace(trainer.cfg.optim, steps=steps)
        trainer.cfg = dataclasses.replace(trainer.cfg, optim=optim)
        t2 = time.time()
        trainer.train(progress=False)
        main_s = time.time() - t2
    finally:
        trainer.save()  # also when the schedule ended at the probes or training broke off
        trainer.close()
    extra = read_checkpoint(Path(trainer.cfg.out_dir) / "model.pt")["extra"]
    save_checkpoint(out / "model.pt", trainer.model, extra=extra, precision="float16")  # no second build
    rates = [h["samples_per_s"] for h in trainer.history if "samples_per_s" in h]
    return {
        "trainer_start_s": round(start_s, 1),
        "probe_steps_per_s": round(steps_per_s, 2),
        "steps": trainer.step,
        "batch_size": trainer.cfg.optim.batch_size,
        "main_steps_per_s": round((trainer.step - 2 * PROBE_STEPS) / max(main_s, 1e-9), 2),
        "samples_per_s_median": round(statistics.median(rates), 1) if rates else None,
        "train_s": round(time.time() - t0, 1),
        "out_dir": trainer.cfg.out_dir,
    }


def main() -> int:
    t_start = time.time()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-config", required=True)
    ap.add_argument("--synth-config", required=True, help="YAML of SyntheticConfig keys (the frames' look)")
    ap.add_argument("--seed", type=int, required=True, help="the frames' seed")
    ap.add_argument("--generate-s", type=float, required=True, help="stop making frames then (s from start)")
    ap.add_argument("--end-s", type=float, required=True, help="training ends by then (s from start)")
    ap.add_argument("--margin-s", type=float, default=45.0, help="kept for the last evaluation and saving")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-frames", type=int, default=100_000)
    ap.add_argument("--out", default="out/gpu_run")
    args = ap.parse_args()
    if not 0 < args.generate_s < args.end_s - args.margin_s:
        raise SystemExit("need 0 < --generate-s < --end-s - --margin-s")

    from wildhands.train.config import TrainConfig

    cfg = TrainConfig.from_yaml(args.train_config)
    roots = [Path(s.root) for s in cfg.data if s.kind == "synthetic_dir"]
    if not roots:
        raise SystemExit(f"{args.train_config}: no synthetic_dir source to make frames for")
    if (roots[0] / "meta.json").exists():
        raise SystemExit(f"{roots[0]} is a finished folder: move it away, or train without this script")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"train_config": args.train_config, "synth_config": args.synth_config, "seed": args.seed}
    results["generation"] = generate(args, roots[0], t_start + args.generate_s, out)
    print("generation", json.dumps(results["generation"]), flush=True)
    results["training"] = train(cfg, args, t_start + args.end_s, out)
    print("training", json.dumps(results["training"]), flush=True)
    run_dir = Path(results["training"]["out_dir"])
    for name in ("history.jsonl", "loss_curves.png", "train.log"):
        if (run_dir / name).exists():
            shutil.copy(run_dir / name, out / name)
    import cv2

    results["machine"] = machine_facts(opencv=cv2.__version__)
    results["total_s"] = round(time.time() - t_start, 1)
    (out / "timeboxed_gpu_run.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out} ({results['total_s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
