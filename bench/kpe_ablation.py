#!/usr/bin/env python3
"""KPE ablation (issue #6 item 2): sparse vs dense vs intrinsics-free vs no KPE, same data and budget.

Trains the four KPE variants from scratch with the recipe of ``config/train/kpe_ablation_resnet18_128.yaml``
(the default weights' recipe with the data rendered on the fly; same synthetic data seed, batches,
augmentation, initialisation seed, steps, batch size; only ``model.kpe.variant`` differs), then evaluates
each on the held-out ``wide_fov`` test set (``wildhands.eval.testsets``: fx 200-1500 px,
none/plumb_bob/equidistant lenses, hands all over the image) with ground-truth boxes: MPJPE, PA-MPJPE,
MRRPE, root error, 2D px, overall and per lens model, and the change of each variant relative to no KPE.

    python bench/kpe_ablation.py --steps 2000 --eval-frames 300     # train (resumable) + evaluate
    python bench/kpe_ablation.py --steps 2000 --eval-only           # evaluate the runs as they are
    python bench/kpe_ablation.py --seed 1 --variants sparse,none --runs-dir runs/kpe_ablation_seed1 \
        --results bench/results/kpe_ablation_seed1.json --plot docs/img/kpe_ablation_seed1.png  # another seed

Runs go to ``runs/kpe_ablation/<variant>/`` (``last.pt``, ``model.pt``, ``train.log``, ...): running the
script again continues each run from its ``last.pt`` (a run whose recipe differs from the requested one is
refused: pass another ``--runs-dir`` or ``--restart``). Results: ``bench/results/kpe_ablation.json``
(recipe, test set, per-variant metrics, relative change vs none, the paper's numbers for reference, machine
facts) and ``docs/img/kpe_ablation.png``; log: ``<runs-dir>/kpe_ablation.log``. ``--out-dir DIR`` puts all
of these under DIR instead (tests use it).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]

from _eval_common import (  # noqa: E402
    METRICS,
    close_log,
    command_line,
    fmt,
    machine_facts,
    metrics_subset,
    relative_change_pct,
    setup_log,
    table,
    write_result,
)
from machine import OtherLoad  # noqa: E402

VARIANTS = ("sparse", "dense", "free", "none")
DEFAULT_CONFIG = REPO / "config" / "train" / "kpe_ablation_resnet18_128.yaml"
#: Relative changes of sparse KPE vs no KPE reported by the paper (WildHands, Prakash et al., ECCV 2024),
#: as quoted in issue #6. Not measured here: for reference only.
PAPER_SPARSE_VS_NONE_PCT = {"mpjpe_mm": -20.5, "mrrpe_mm": -56.4}
#: Recipe fields that must match for a run to be resumed (the others only change logging/evaluation).
_RECIPE_KEYS = ("model", "data", "optim", "augment", "seed", "mask_size", "device", "amp")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="base training config")
    p.add_argument("--steps", type=int, default=2000, help="training steps of every variant")
    p.add_argument("--batch", type=int, help="batch size (default: the config's)")
    p.add_argument("--image-size", type=int, help="crop size in px (default: the config's)")
    p.add_argument("--backbone", choices=["resnet18", "resnet34", "resnet50"], help="default: the config's")
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of " + str(VARIANTS)
    )
    p.add_argument("--eval-frames", type=int, default=300, help="frames of the test set")
    p.add_argument("--testset", default="wide_fov", help="held-out test set (wildhands.eval.testsets)")
    p.add_argument("--eval-only", action="store_true", help="no training: evaluate the runs as they are")
    p.add_argument("--restart", action="store_true", help="start every run over (ignores last.pt)")
    p.add_argument("--workers", type=int, help="data-loader processes (default: the config's num_workers)")
    p.add_argument(
        "--trainer-eval-hands", type=int, help="hands of the trainer's own curve (default: config)"
    )
    p.add_argument(
        "--seed", type=int, help="training seed of every variant: initialisation, batch order, augmentation"
    )
    p.add_argument("--device", help="training/eval device (default: the config's)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads of torch (0 = torch's default)")
    p.add_argument("--worst-k", type=int, default=4, help="overlays of the worst hands per variant")
    p.add_argument("--no-cache", action="store_true", help="render the test set per variant (no disk cache)")
    p.add_argument("--runs-dir", type=Path, help="default: runs/kpe_ablation (or OUT_DIR/runs)")
    p.add_argument("--results", type=Path, help="default: bench/results/kpe_ablation.json")
    p.add_argument("--plot", type=Path, help="default: docs/img/kpe_ablation.png")
    p.add_argument("--out-dir", type=Path, help="put runs, results, plot and log under this folder")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = sorted(set(args.variants) - set(VARIANTS))
    if bad or not args.variants:
        p.error(f"--variants: unknown {bad}; choose from {VARIANTS}")
    for name in ("steps", "eval_frames"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    out = args.out_dir
    args.runs_dir = args.runs_dir or (out / "runs" if out else REPO / "runs" / "kpe_ablation")
    args.results = args.results or (
        out / "kpe_ablation.json" if out else REPO / "bench/results/kpe_ablation.json"
    )
    args.plot = args.plot or (out / "kpe_ablation.png" if out else REPO / "docs/img/kpe_ablation.png")
    return args


def variant_config(base: dict[str, Any], variant: str, args: argparse.Namespace):
    """The base recipe with the KPE variant, steps, batch, crop size and out_dir of this ablation."""
    from wildhands.train.config import TrainConfig

    base_cfg = TrainConfig.from_dict(copy.deepcopy(base))
    d = copy.deepcopy(base)
    model = dict(d.get("model") or {})
    model["kpe"] = {**dict(model.get("kpe") or {}), "variant": variant}
    if args.image_size:
        model["image_size"] = args.image_size
    if variant == "dense":  # one KPE point per cell of the backbone's feature grid
        model["kpe"]["dense_grid"] = (args.image_size or base_cfg.model.image_size) // 32
    if args.backbone:
        model["backbone"] = args.backbone
    optim = dict(d.get("optim") or {})
    optim["steps"] = args.steps
    optim["batch_size"] = args.batch or base_cfg.optim.batch_size
    # the warm-up is a short fraction of the run (the base recipe's steps, at most a tenth of the run)
    optim["warmup_steps"] = min(base_cfg.optim.warmup_steps, args.steps // 10)
    # every variant from scratch: starting weights would be one variant's network (and refused by the others)
    d.update(model=model, optim=optim, out_dir=str(args.runs_dir / variant), init_from=None)
    if args.workers is not None:
        d["num_workers"] = args.workers
    if args.trainer_eval_hands is not None:
        d["eval_hands"] = args.trainer_eval_hands
    if args.device:
        d["device"] = args.device
    if args.seed is not None:
        d["seed"] = args.seed
    return TrainConfig.from_dict(d)


def _recipe(cfg) -> dict[str, Any]:
    d = cfg.to_dict()
    return {k: d[k] for k in _RECIPE_KEYS}


def check_recipe(cfg, restart: bool) -> None:
    """Refuse to continue a run made with another recipe; record the recipe of a new one."""
    path = Path(cfg.out_dir) / "ablation_recipe.json"
    recipe = json.loads(json.dumps(_recipe(cfg)))
    if path.exists() and not restart:
        old = json.loads(path.read_text())
        if old != recipe:
            diff = sorted(k for k in recipe if old.get(k) != recipe[k])
            raise SystemExit(
                f"{cfg.out_dir} holds a run with another recipe (differs in {diff}); use another --runs-dir, "
                "the same flags as before, or --restart"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recipe, indent=1))


def train_variant(cfg, args, log) -> dict[str, Any]:
    """Train (or continue) one variant to ``cfg.optim.steps``; returns what this invocation did."""
    from wildhands.train.trainer import Trainer

    check_recipe(cfg, args.restart)
    trainer = Trainer(cfg, resume=not args.restart)
    start = trainer.step
    try:
        log.info(
            "%s: training steps %d..%d in %s",
            cfg.model.kpe.variant.value,
            start,
            cfg.optim.steps,
            cfg.out_dir,
        )
        with OtherLoad() as load:
            trainer.train(progress=not args.no_progress)
        end = trainer.step
    finally:
        trainer.close()
    session = {
        "from_step": start,
        "to_step": end,
        "wall_s": load.wall,
        "other_processes_cores": load.other_cores,
    }
    if end > start:
        with open(Path(cfg.out_dir) / "ablation_timing.jsonl", "a") as f:
            f.write(json.dumps(session) + "\n")
    return session


def training_facts(run_dir: Path, steps: int) -> dict[str, Any]:
    """Steps reached (from model.pt) and the training time summed over every invocation of this script."""
    from wildhands.model.checkpoint import read_checkpoint

    model_path = run_dir / "model.pt"
    step = int(read_checkpoint(model_path).get("extra", {}).get("step", -1))
    sessions = []
    timing = run_dir / "ablation_timing.jsonl"
    if timing.exists():
        sessions = [json.loads(line) for line in timing.read_text().splitlines() if line.strip()]
    done = sum(s["to_step"] - s["from_step"] for s in sessions)
    wall = sum(s["wall_s"] for s in sessions)
    return {
        "run_dir": str(run_dir),
        "steps_done": step,
        "complete": step == steps,
        "train_wall_s": wall,
        "s_per_step": wall / done if done else None,
        "other_processes_cores_mean": (
            sum(s["other_processes_cores"] * s["wall_s"] for s in sessions) / wall if wall else None
        ),
    }


def relative_to(per_variant: dict[str, Any], reference: str) -> dict[str, Any]:
    """Per variant, per metric (overall and per lens subset): % change vs ``reference`` (< 0: better)."""
    out: dict[str, Any] = {}
    ref = per_variant.get(reference)
    if ref is None:
        return out
    for name, v in per_variant.items():
        if name == reference:
            continue
        out[name] = {
            group: {
                k: relative_change_pct(m.get(k), ref["datasets"].get(group, {}).get(k)) for k, _ in METRICS
            }
            for group, m in v["datasets"].items()
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    testset = result["testset"]["name"]
    variants = result["variants"]
    rel = result["relative_to_none_pct"]
    versus = {"mpjpe_mm": "MPJPE", "mrrpe_mm": "MRRPE", "root_error_mm": "root"}  # changes vs none shown
    header = ["KPE", "steps", *(h for _, h in METRICS), *(f"{h} vs none" for h in versus.values())]
    rows = []
    for name, v in variants.items():
        m = v["datasets"][testset]
        r = rel.get(name, {}).get(testset, {})
        rows.append(
            [
                name,
                str(v["training"]["steps_done"]),
                *(fmt(m[k]) for k, _ in METRICS),
                *(fmt(r.get(k), signed=True) if name != "none" else "" for k in versus),
            ]
        )
    text = table(header, rows)
    groups = [g for g in next(iter(variants.values()))["datasets"] if g != testset]
    if groups:
        rows = []
        for name, v in variants.items():
            cells = []
            for g in groups:
                m = v["datasets"].get(g, {})
                cells += [fmt(m.get("mpjpe_mm")), fmt(m.get("mrrpe_mm"))]
            rows.append([name, *cells])
        header = ["KPE", *(f"{g.split('/', 1)[1]} {k}" for g in groups for k in ("MPJPE", "MRRPE"))]
        text += "\nper lens model (mm):\n\n" + table(header, rows)
    return text


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    testset = result["testset"]["name"]
    names = list(result["variants"])
    colors = {"sparse": "#1f77b4", "dense": "#2ca02c", "free": "#ff7f0e", "none": "#7f7f7f"}
    panels = list(METRICS)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4))
    for ax, (key, label) in zip(axes, panels):
        values = [result["variants"][n]["datasets"][testset].get(key) for n in names]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(names, heights, color=[colors.get(n, "#333333") for n in names])
        for bar, name, v in zip(bars, names, values):
            r = result["relative_to_none_pct"].get(name, {}).get(testset, {}).get(key)
            text = "-" if v is None else f"{v:.1f}" + ("" if r is None else f"\n{r:+.0f}%")
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=7)  # fmt: skip
        ax.set_title(label, fontsize=9)
        ax.margins(y=0.25)
        ax.tick_params(labelsize=8)
    t = result["testset"]
    r = result["recipe"]
    fig.suptitle(
        f"KPE ablation: {t['name']} test set, {t['frames']} frames; {r['backbone']} {r['image_size']} px, "
        f"{r['steps']} steps x batch {r['batch_size']} (% = vs none)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    from wildhands.eval.conditions import evaluate_condition
    from wildhands.eval.testsets import get_testset, lens_subsets, testset_records, write_testset

    log = setup_log(args.runs_dir / "kpe_ablation.log", "bench.kpe_ablation")
    threads = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        base = yaml.safe_load(args.config.read_text()) or {}
        configs = {v: variant_config(base, v, args) for v in args.variants}
        log.info("kpe_ablation: %s", command_line("kpe_ablation.py", argv))
        if not args.eval_only:
            for i, (name, cfg) in enumerate(configs.items()):
                log.info("[%d/%d] %s", i + 1, len(configs), name)
                session = train_variant(cfg, args, log)
                log.info(
                    "%s: steps %d -> %d in %.0f s",
                    name,
                    session["from_step"],
                    session["to_step"],
                    session["wall_s"],
                )
        ts = get_testset(args.testset)
        if not args.no_cache:
            write_testset(args.testset, args.eval_frames, progress=not args.no_progress)
        per_variant: dict[str, Any] = {}
        for name, cfg in configs.items():
            run_dir = Path(cfg.out_dir)
            if not (run_dir / "model.pt").is_file():
                raise SystemExit(f"{run_dir / 'model.pt'} does not exist: train the {name!r} variant first")
            if args.eval_only:
                check_recipe(cfg, restart=False)
            facts = training_facts(run_dir, cfg.optim.steps)
            if not facts["complete"]:
                log.warning(
                    "%s: model.pt is at step %d of %d (incomplete run)",
                    name,
                    facts["steps_done"],
                    cfg.optim.steps,
                )
            log.info(
                "%s: evaluating %s on %s (%d frames)", name, run_dir / "model.pt", ts.name, args.eval_frames
            )
            records = testset_records(args.testset, args.eval_frames, cache=not args.no_cache)
            with OtherLoad() as load:
                res = evaluate_condition(
                    run_dir / "model.pt",
                    records,
                    run_dir / f"eval_{ts.name}-{args.eval_frames}-{ts.version}",
                    subsets=lens_subsets,
                    worst_k=args.worst_k,
                    progress=not args.no_progress,
                    threads=args.threads,
                )
            per_variant[name] = {
                "training": facts,
                "eval_wall_s": load.wall,
                "eval_other_processes_cores": load.other_cores,
                "datasets": {g: metrics_subset(m) for g, m in res["datasets"].items()},
                "report": str(run_dir / f"eval_{ts.name}-{args.eval_frames}-{ts.version}" / "metrics.md"),
            }
        first = next(iter(configs.values()))
        result: dict[str, Any] = {
            "bench": "kpe_ablation",
            "issue": "#6 item 2",
            "command": command_line("kpe_ablation.py", argv),
            "machine": machine_facts(),
            "recipe": {
                "base_config": str(Path(args.config).resolve().relative_to(REPO))
                if Path(args.config).resolve().is_relative_to(REPO)
                else str(args.config),
                "backbone": first.model.backbone,
                "image_size": first.model.image_size,
                "steps": args.steps,
                "batch_size": first.optim.batch_size,
                "warmup_steps": first.optim.warmup_steps,
                "lr": first.optim.lr,
                "schedule": first.optim.schedule,
                "seed": first.seed,
                "data": [dict(name=s.name, kind=s.kind, seed=s.seed) for s in first.data],
                "only_difference": "model.kpe.variant",
            },
            "testset": ts.info(args.eval_frames),
            "boxes": "ground truth (detection is not evaluated)",
            "variants": per_variant,
            "relative_to_none_pct": relative_to(per_variant, "none"),
            "paper_sparse_vs_none_pct": {
                **PAPER_SPARSE_VS_NONE_PCT,
                "source": "WildHands (Prakash et al., ECCV 2024) as quoted in issue #6; not measured here",
            },
            "complete": all(v["training"]["complete"] for v in per_variant.values()),
        }
        result["markdown"] = markdown(result)
        write_result(args.results, result)
        plot(result, args.plot)
        print(result["markdown"], end="")
        if not result["complete"]:
            print("NOTE: some runs have not reached --steps (see 'training' in the JSON).")
        print(f"wrote {args.results}\nplot  {args.plot}\nlog   {args.runs_dir / 'kpe_ablation.log'}")
        return 0
    finally:
        torch.set_num_threads(threads)
        close_log(log)


if __name__ == "__main__":
    sys.exit(main())
