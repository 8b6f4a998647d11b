"""Shared by the accuracy benchmarks (``kpe_ablation.py``, ``kpe_distortion.py``,
``intrinsics_estimated.py``): machine facts, the default weights, relative changes, markdown tables, the
log file, the result file and ``NAME=DIR`` folder arguments."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from machine import machine_facts  # noqa: E402, F401  (re-exported for the accuracy benches)

#: Metrics every accuracy bench reports (keys of ``wildhands.eval.evaluator.summarise``), with headers.
METRICS: tuple[tuple[str, str], ...] = (
    ("mpjpe_mm", "MPJPE (mm)"),
    ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
    ("mrrpe_mm", "MRRPE (mm)"),
    ("root_error_mm", "root err (mm)"),
    ("kp2d_px", "2D err (px)"),
)


def resolve_weights(weights: str) -> Path:
    """A checked checkpoint path for ``weights`` (``"default"``, a manifest name or a file; see
    ``wildhands.model.weights``); SystemExit with the reason when there is none (e.g. no shipped weights)."""
    from wildhands.model.weights import WeightsError
    from wildhands.model.weights import resolve_weights as resolve

    try:
        path = resolve(weights)
    except WeightsError as exc:
        raise SystemExit(f"--weights {weights}: {exc}") from None
    if path is None:
        raise SystemExit(
            f"--weights {weights!r}: these benchmarks need trained weights, not an untrained network"
        )
    return path


def weights_facts(path: Path) -> dict[str, Any]:
    """Which checkpoint was measured: its path, size and training step (from its ``extra``)."""
    from wildhands.model.checkpoint import read_checkpoint

    extra = read_checkpoint(path).get("extra") or {}
    return {"path": str(path), "bytes": path.stat().st_size, "training_step": extra.get("step")}


def command_line(script: str, argv: Sequence[str]) -> str:
    """The command that reproduces a run: ``python bench/<script> <args>``."""
    return " ".join(["python", f"bench/{script}", *(shlex.quote(a) for a in argv)])


def relative_change_pct(value: float | None, reference: float | None) -> float | None:
    """``100 (value - reference) / reference`` (negative = better than the reference); None if undefined."""
    if value is None or reference is None or not math.isfinite(value) or not reference:
        return None
    return 100.0 * (value - reference) / reference


def fmt(value: Any, spec: str = ".1f", signed: bool = False) -> str:
    """A table cell: ``-`` for None, else ``value`` formatted (with a sign and % when ``signed``)."""
    if value is None:
        return "-"
    return f"{value:+{spec}}%" if signed else f"{value:{spec}}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table (first column left-aligned, the others right-aligned)."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def metrics_subset(m: dict[str, Any]) -> dict[str, Any]:
    """The reported metrics and counts of one ``evaluate`` dataset entry."""
    keys = ("hands", "hands_missing", "frames", "frames_failed", "frames_mrrpe", "pck_20mm", "auc_0_50mm",
            "orientation_deg")  # fmt: skip
    return {k: m.get(k) for k, _ in METRICS} | {k: m.get(k) for k in keys}


def setup_log(path: Path, name: str) -> logging.Logger:
    """A logger writing INFO lines to ``path`` (appending) and to stderr; ``wildhands`` warnings go to
    the file too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(console)
    log.propagate = False
    logging.getLogger("wildhands").addHandler(handler)
    log.file_handler = handler  # type: ignore[attr-defined]
    return log


def close_log(log: logging.Logger) -> None:
    """Detach the handlers :func:`setup_log` added (a script's ``main`` may run many times in a process)."""
    handler = getattr(log, "file_handler", None)
    for h in list(log.handlers):
        log.removeHandler(h)
    if handler is not None:
        logging.getLogger("wildhands").removeHandler(handler)
        handler.close()


def add_testset_arguments(
    parser: argparse.ArgumentParser, bench: str, testsets: str | None = None, testset: str | None = None
) -> None:
    """The arguments of a bench that evaluates one checkpoint on held-out test sets (``testsets``: the
    default of ``--testsets``, comma-separated; or ``testset``: of ``--testset``, one): weights, frames,
    threads, worst hands, cache, results, reports, progress. :func:`finish_testset_arguments` checks them."""
    p = parser
    p.add_argument(
        "--weights", default="default", help="checkpoint path or weights name (default: the shipped default)"
    )
    if testsets is not None:
        p.add_argument("--testsets", default=testsets, help="comma-separated test sets")
    else:
        p.add_argument("--testset", default=testset, help="held-out test set (wildhands.eval.testsets)")
    p.add_argument("--frames", type=int, default=300, help="frames per test set")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    p.add_argument("--worst-k", type=int, default=0, help="overlays of the worst hands per condition")
    p.add_argument("--no-cache", action="store_true", help="render the test sets on the fly (no disk cache)")
    p.add_argument("--results", type=Path, help=f"default: bench/results/{bench}.json")
    p.add_argument("--out-dir", type=Path, help="evaluation reports (and, by default, the results) here")
    p.add_argument("--no-progress", action="store_true")


def finish_testset_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, bench: str
) -> argparse.Namespace:
    """``args`` of :func:`add_testset_arguments` checked (``parser.error`` for ``--frames`` < 1 or no test
    set; ``--testsets`` split into a list) and completed: ``results`` (default
    ``bench/results/<bench>.json``, or under ``--out-dir``) and ``reports`` (``--out-dir``, or
    ``out/bench/<bench>``)."""
    if hasattr(args, "testsets"):
        args.testsets = [t.strip() for t in args.testsets.split(",") if t.strip()]
    if args.frames < 1 or not (args.testsets if hasattr(args, "testsets") else args.testset):
        parser.error("need --frames >= 1 and at least one test set")
    out = args.out_dir
    args.results = args.results or (
        out / f"{bench}.json" if out else REPO / "bench" / "results" / f"{bench}.json"
    )
    args.reports = out or REPO / "out" / "bench" / bench
    return args


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Write the result JSON (with the creation time) atomically."""
    result = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **result}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1, allow_nan=False))
    os.replace(tmp, path)
    return path


def publish_result(log: logging.Logger, path: Path, result: dict[str, Any], text: str) -> Path:
    """Write ``result`` (:func:`write_result`), then log and print its markdown ``text`` and where it went."""
    write_result(path, result)
    text = text.rstrip("\n")
    log.info("\n%s", text)
    print(text)
    print(f"wrote {path}")
    return path


def named_folders(
    parser: argparse.ArgumentParser, option: str, items: Sequence[str]
) -> list[tuple[str, Path]]:
    """``NAME=DIR`` arguments (e.g. ``--synthetic``) as (name, folder) pairs; ``parser.error`` for one that is
    not a name and an existing folder."""
    pairs = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            parser.error(f"{option} {item!r}: need NAME=DIR of an existing folder")
        pairs.append((name, Path(folder)))
    return pairs
