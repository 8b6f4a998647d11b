#!/usr/bin/env python3
"""How many Levenberg-Marquardt steps the landmark estimator's fit needs, and whether a tracked hand may
start from its previous frame's fit instead of the lifting head's answer.

The fit (lifting head + ``RefineConfig().iterations`` steps of ``wildhands.runtime.refine``) is what keeps
the default estimator's VIDEO frame above MediaPipe's own (docs/engines.md): this bench asks what fewer
steps, or a tracked start, would cost in accuracy.

Every hand gets its ground-truth box (``real_hands.hand_box_xyxy``) and ONE landmark pass (MediaPipe's
detector, ``landmarks_for_box``), computed once and attached to the box, so that every budget fits the same
landmarks; a frame's hands are fitted together, as the pipeline fits them (``LandmarkHands.__call__``).
Budgets:

* ``lift+N``: the lifting head's answer, then N steps (``lift+5`` is the default; ``lift+0`` the head alone,
  what ``refine: false`` does);
* ``warm+N`` (sequences only: the bundled clip): a hand whose side was in the previous frame starts from
  that frame's hand instead of the head's answer, then N steps: the estimator's tracked start
  (``PipelineConfig.tracked_steps`` = N; the box carries the previous hand, ``HandBox.previous``, as the
  tracker's boxes do); the head runs again every ``--relift-every`` frames (the node's
  ``redetect_every``: a detector frame) and for a hand new to the sequence.

Scores: ``wildhands.eval.scoring.score_hand`` (the real-image bench's): 2D error (px), PA-MPJPE, orientation,
MPJPE (wrist-relative) and the wrist's error (mm, deg), and the median of how far each hand was placed over
how far it is (``distance_ratio``: a depth bias); per set the mean of each, and per budget the mean
paired difference against the default with a 95 % bootstrap interval (``compare_real.bootstrap_ci``);
the fit stage's median milliseconds per frame (``LandmarkHands.timings``; compare budgets within one run).

Sets: the committed real hands with 3D truth (``test/data/real_hands``: InterHand2.6M, 6 hands), the
bundled clip (36 frames, 60 hands), and any ``--synthetic NAME=DIR`` (a ``wildhands synth`` folder).

    python bench/refine_budget.py           # the real hands and the clip -> bench/results/refine_budget.json
    python bench/refine_budget.py --synthetic v6_s7=/tmp/fp/v6_s7 --frames 100
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]

from _eval_common import close_log, command_line, named_folders, publish_result, setup_log, table  # noqa: E402
from compare_real import bootstrap_ci  # noqa: E402
from machine import machine_facts  # noqa: E402

METRICS = ("kp2d_px", "pa_mpjpe_mm", "orientation_deg", "mpjpe_mm", "wrist_mm")
DEFAULT = "lift+5"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", default="0,1,2,3,4,5", help="lift+N budgets, comma-separated step counts")
    p.add_argument("--warm-steps", default="1,2,3,5", help="warm+N budgets on sequences ('' = none)")
    p.add_argument("--relift-every", type=int, default=10, help="warm budgets: the head again every N frames")
    p.add_argument("--synthetic", action="append", default=[], metavar="NAME=DIR", help="more sets")
    p.add_argument("--frames", type=int, default=0, help="first N frames of each --synthetic set (0: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "refine_budget.json")
    p.add_argument("--log", type=Path, default=REPO / "out" / "bench" / "refine_budget.log")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        args.steps = sorted({int(v) for v in args.steps.split(",") if v.strip()} | {5})
        args.warm_steps = sorted({int(v) for v in args.warm_steps.split(",") if v.strip()})
    except ValueError:
        p.error("--steps and --warm-steps take comma-separated whole numbers")
    if min(args.steps + args.warm_steps) < 0 or args.relift_every < 1 or args.frames < 0:
        p.error("step counts >= 0, --relift-every >= 1, --frames >= 0")
    args.synthetic = named_folders(p, "--synthetic", args.synthetic)
    return args


class Budgets:
    """The landmark estimator of the default pipeline, fitting prepared boxes under each budget."""

    def __init__(self, threads: int) -> None:
        from wildhands.runtime.pipeline import Pipeline, PipelineConfig

        self.estimator = Pipeline(PipelineConfig(estimator="landmarks", threads=threads)).landmark_hands
        self.config, self.refine_config = self.estimator.config, self.estimator.refine_config

    def prepare(self, sample) -> list:
        """The sample's hands as boxes carrying their landmark pass (None: no hand found in the box)."""
        from wildhands.eval.real_hands import hand_box_xyxy, sample_camera
        from wildhands.runtime.hands import HandBox

        boxes = []
        for hand in sample.hands:
            xyxy = hand_box_xyxy(hand, sample.width, sample.height)
            box = None if xyxy is None else HandBox(tuple(float(v) for v in xyxy), hand.side or "right")
            if box is not None:
                (det,) = self.estimator.detections(sample.image, [box], sample_camera(sample))
                box = None if det is None else dataclasses.replace(box, landmarks=det)
            boxes.append(box)
        return boxes

    def run(self, sample, boxes: list, steps: int, tracked: bool):
        """Per hand of ``sample`` its estimate (None: not found) and the fit's ms: ``lift+steps``, or with
        ``tracked`` the estimator's tracked start (``LandmarkHandsConfig.tracked_steps`` = ``steps``) for
        the boxes that carry their previous hand (``HandBox.previous``)."""
        from wildhands.eval.real_hands import sample_camera

        est = self.estimator
        if tracked:
            est.config = dataclasses.replace(self.config, tracked_steps=steps)
            est.refine_config = self.refine_config
        else:
            est.config = dataclasses.replace(self.config, tracked_steps=0)
            est.refine_config = dataclasses.replace(self.refine_config, iterations=steps)
        given = [(i, b) for i, b in enumerate(boxes) if b is not None]
        if not given:
            return [None] * len(boxes), None
        hands = est(sample.image, sample_camera(sample), [b for _, b in given])
        by_side = {h.side: h for h in hands}  # one hand of each side per frame in these sets
        return [None if b is None else by_side.get(b.side) for b in boxes], est.timings.get("fit", 0.0)


def prediction(hand) -> dict | None:
    """A HandEstimate as ``score_hand`` takes a prediction (None: not found)."""
    return (
        None if hand is None else {"keypoints_px": hand.keypoints_px, "keypoints_cam_m": hand.keypoints_cam_m}
    )


def evaluate_set(name: str, samples: list, budgets: Budgets, args, sequence: bool, progress: bool) -> dict:
    """Per budget: per hand its scores, and the fit's ms per frame."""
    from wildhands.eval.scoring import score_hand

    labels = [f"lift+{n}" for n in args.steps] + ([f"warm+{n}" for n in args.warm_steps] if sequence else [])
    scores: dict[str, list[dict]] = {b: [] for b in labels}
    ms: dict[str, list[float]] = {b: [] for b in labels}
    previous: dict[str, dict[str, Any]] = {b: {} for b in labels}  # warm budgets: per side, the last hand
    for index, sample in enumerate(tqdm(samples, desc=name, unit="frame", disable=not progress)):
        boxes = budgets.prepare(sample)
        for label in labels:
            kind, _, n = label.partition("+")
            given = boxes
            if kind == "warm" and index % args.relift_every:  # carried over, as the tracker's boxes are
                given = [b if b is None else dataclasses.replace(b, previous=previous[label].get(b.side))
                         for b in boxes]  # fmt: skip
            hands, fit_ms = budgets.run(sample, given, int(n), kind == "warm")
            if fit_ms is not None:
                ms[label].append(fit_ms)
            previous[label] = {h.side: h for h in hands if h is not None}
            scores[label] += [
                {**score_hand(prediction(h), truth), "distance_ratio": distance_ratio(h, truth)}
                for h, truth in zip(hands, sample.hands)
            ]
    return {"scores": scores, "fit_ms": ms}


def distance_ratio(hand, truth) -> float:
    """How far the hand was placed over how far it is: wrist distances from the camera (NaN: not found, or
    no 3D truth). A bias, where the wrist error (``wrist_mm``) is bias and noise together."""
    if hand is None or truth.keypoints_cam_m is None or not truth.valid[0]:
        return float("nan")
    return float(np.linalg.norm(hand.keypoints_cam_m[0]) / np.linalg.norm(truth.keypoints_cam_m[0]))


def summarise(runs: dict[str, dict]) -> dict[str, Any]:
    """Per set and budget: hands found, mean scores, paired difference against the default, fit ms."""
    out: dict[str, Any] = {}
    for name, run in runs.items():
        ref = run["scores"][DEFAULT]
        rows = {}
        for label, scores in run["scores"].items():
            row: dict[str, Any] = {"hands": len(scores), "found": int(sum(s["found"] for s in scores))}
            for m in METRICS:
                v = np.array([s[m] for s in scores], np.float64)
                row[m] = round(float(np.nanmean(v)), 2) if np.isfinite(v).any() else None
                d = v - np.array([s[m] for s in ref], np.float64)
                d = d[np.isfinite(d)]
                if label != DEFAULT and len(d) >= 2:
                    lo, hi = bootstrap_ci(d)
                    row[f"{m}_vs_default"] = {
                        "mean": round(float(d.mean()), 2),
                        "ci95": [round(lo, 2), round(hi, 2)],
                    }
            ratios = np.array([s["distance_ratio"] for s in scores], np.float64)
            ratios = ratios[np.isfinite(ratios)]
            row["distance_ratio_median"] = round(float(np.median(ratios)), 3) if ratios.size else None
            ms = run["fit_ms"][label]
            row["fit_ms_median"] = round(float(np.median(ms)), 2) if ms else None
            rows[label] = row
        out[name] = rows
    return out


def markdown(summary: dict[str, Any]) -> str:
    header = ["set", "budget", "found", "fit ms", *METRICS, "distance ratio", "MPJPE vs default [95 %]",
              "PA vs default [95 %]"]  # fmt: skip
    rows = []
    for name, budgets in summary.items():
        for label, r in budgets.items():

            def diff(m: str, r: dict = r) -> str:
                d = r.get(f"{m}_vs_default")
                return "" if d is None else f"{d['mean']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"

            cells = ["-" if r[m] is None else f"{r[m]:.2f}" for m in METRICS]
            fit = "-" if r["fit_ms_median"] is None else f"{r['fit_ms_median']:.1f}"
            rows.append(
                [
                    name,
                    label,
                    f"{r['found']}/{r['hands']}",
                    fit,
                    *cells,
                    "-" if r["distance_ratio_median"] is None else f"{r['distance_ratio_median']:.3f}",
                    diff("mpjpe_mm"),
                    diff("pa_mpjpe_mm"),
                ]
            )
    return table(header, rows)


def main(argv: list[str] | None = None) -> int:
    from wildhands.eval.real_hands import load_real_hands, records_samples, sequence_samples
    from wildhands.eval.sources import open_records

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    log = setup_log(args.log, "bench.refine_budget")
    try:
        log.info("refine_budget: %s", command_line("refine_budget.py", argv))
        start = time.perf_counter()
        budgets = Budgets(args.threads)
        progress = not args.no_progress
        real = [s for s in load_real_hands() if any(h.keypoints_cam_m is not None for h in s.hands)]
        runs = {"real (3D truth)": evaluate_set("real", real, budgets, args, False, progress)}
        runs["clip"] = evaluate_set("clip", sequence_samples(), budgets, args, True, progress)
        for name, folder in args.synthetic:
            samples = records_samples(open_records(str(folder)), dataset=name)
            runs[name] = evaluate_set(name, samples[: args.frames or None], budgets, args, False, progress)
        summary = summarise(runs)
        result = {
            "bench": "refine_budget",
            "command": command_line("refine_budget.py", argv),
            "machine": machine_facts(),
            "default": DEFAULT,
            "relift_every": args.relift_every,
            "boxes": "ground truth (keypoints' box + 10 %), one landmark pass per hand for every budget",
            "folders": {n: str(f) for n, f in args.synthetic},
            "summary": summary,
            "seconds": round(time.perf_counter() - start, 1),
        }
        publish_result(log, args.results, result, markdown(summary))
    finally:
        close_log(log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
