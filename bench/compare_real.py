#!/usr/bin/env python3
"""Paired comparison of image models on the real hands of ``bench/real_hands.py`` result files.

The real sets here are small (4-8 hands a set), so a per-set mean moves by several pixels from one model to
the next by chance. This pools every real hand (the synthetic sets -- RHD, our renders -- and COCO-
WholeBody's 10-25 px hands are left out by default) and compares the models **hand by hand**: per model the
mean 2D error relative to the hand's size (px / longest side of its keypoint box), the mean PA-MPJPE and
the mean absolute wrist error (hands with 3D truth), and per model against the reference (the first file)
the mean paired difference with a bootstrap 95 % interval over hands (seeded). A difference whose
interval excludes 0 is one this bench can see; one whose interval straddles 0 is not. Caveats: a hand a
model did not find is left out of that model's mean and of its paired differences (not penalised; every
hand was found in the committed files), and hands of one image are resampled as if independent.

    python bench/compare_real.py default=bench/results/real_hands.json \\
        skin=bench/results/real_hands_image_skin.json \\
        mediapipe=bench/results/real_hands_image_mediapipe.json --out bench/results/compare_real.json

Each ``NAME=FILE`` reads the ``image_model`` method of that file (``--method`` to change it for all;
``NAME=FILE@METHOD`` for one, e.g. a probe of the same file). Writes the JSON
with the command line and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _eval_common import command_line, write_result

REPO = Path(__file__).resolve().parents[1]

#: Sets left out by default: rendered ones and COCO-WholeBody's tiny hands.
EXCLUDED_SETS = ("rhd", "sequence", "synthetic", "coco_wholebody")


def per_hand(path: Path, method: str, excluded: tuple[str, ...]) -> dict[tuple[str, str, int], dict]:
    """(set, image, index of the hand in that image) -> the method's scores + size_px, for one file."""
    data = json.loads(path.read_text())
    out: dict[tuple[str, str, int], dict] = {}
    seen: dict[tuple[str, str], int] = {}
    for hand in data["per_hand"]:
        key = (hand["set"], hand["image"])
        k = seen.get(key, 0)
        seen[key] = k + 1
        if hand["set"] in excluded or method not in hand:
            continue
        out[(*key, k)] = {**hand[method], "size_px": hand["size_px"]}
    if not out:
        raise SystemExit(f"{path}: no hand scored by method {method!r} outside {excluded}")
    return out


def bootstrap_ci(diffs: np.ndarray, n: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of ``diffs``."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (n, len(diffs)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _metric(h: dict, name: str) -> float:
    if not h.get("found"):
        return float("nan")
    if name == "kp2d_rel":
        return h["kp2d_px"] / h["size_px"]
    v = h.get(name)
    return float("nan") if v is None else float(v)


#: Metrics compared: 2D error / hand size, PA-MPJPE (mm) and absolute wrist error (mm; hands with 3D truth).
METRICS = ("kp2d_rel", "pa_mpjpe_mm", "wrist_mm")


def compare(models: dict[str, dict], metrics: tuple[str, ...] = METRICS) -> dict:
    names = list(models)
    ref = names[0]
    keys = sorted(set.intersection(*(set(m) for m in models.values())))
    result: dict = {"reference": ref, "hands": len(keys), "sets": sorted({k[0] for k in keys}), "models": {}}
    for name in names:
        row: dict = {}
        for metric in metrics:
            vals = np.array([_metric(models[name][k], metric) for k in keys])
            ok = np.isfinite(vals)
            row[metric] = {"mean": float(vals[ok].mean()) if ok.any() else None, "hands": int(ok.sum())}
            if name != ref:
                base = np.array([_metric(models[ref][k], metric) for k in keys])
                both = ok & np.isfinite(base)
                if both.sum() >= 2:
                    d = vals[both] - base[both]
                    lo, hi = bootstrap_ci(d)
                    row[metric]["diff_vs_reference"] = {"mean": float(d.mean()), "ci95": [lo, hi]}
        result["models"][name] = row
    return result


def markdown(result: dict) -> str:
    ref = result["reference"]
    lines = [
        f"{result['hands']} real hands ({', '.join(result['sets'])}); differences against `{ref}`, "
        "paired by hand, 95 % bootstrap interval",
        "",
        "| model | 2D error / hand size | vs reference | PA-MPJPE mm (hands) | vs reference "
        "| wrist error mm (hands) | vs reference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["models"].items():
        cells = [name]
        for metric, fmt in (("kp2d_rel", "{:.3f}"), ("pa_mpjpe_mm", "{:.1f}"), ("wrist_mm", "{:.0f}")):
            m = row[metric]
            val = "-" if m["mean"] is None else fmt.format(m["mean"])
            cells.append(val if metric == "kp2d_rel" else f"{val} ({m['hands']})")
            d = m.get("diff_vs_reference")
            cells.append(
                "-"
                if d is None
                else f"{fmt.format(d['mean'])} [{fmt.format(d['ci95'][0])}, {fmt.format(d['ci95'][1])}]"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=bench/results/real_hands*.json (the first is the reference)")
    p.add_argument("--method", default="image_model")
    p.add_argument("--include-set", action="append", default=[], help="keep a set left out by default")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "compare_real.json")
    args = p.parse_args(argv)
    excluded = tuple(s for s in EXCLUDED_SETS if s not in args.include_set)
    models = {}
    for spec in args.runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            p.error(f"{spec!r}: expected NAME=FILE")
        path, _, method = path.partition("@")
        models[name] = per_hand(Path(path), method or args.method, excluded)
    if len(models) < 2:
        p.error("give at least two NAME=FILE runs")
    result = compare(models)
    result["command"] = command_line("compare_real.py", sys.argv[1:] if argv is None else argv)
    result["files"] = {s.partition("=")[0]: s.partition("=")[2] for s in args.runs}
    result["markdown"] = markdown(result)
    write_result(args.out, result)
    print(result["markdown"], end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
