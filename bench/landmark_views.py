#!/usr/bin/env python3
"""The landmark estimator's landmark passes cut out of the image or seen through the lens, hand by hand.

``crop_mode='box'`` (and ``'auto'``): MediaPipe's landmark network reads the rotated rect cut out of the
(distorted) image, as MediaPipe does. ``crop_mode='rectified'``: it reads the rect seen through a virtual
camera looking straight at it (``MediaPipeHandDetector``'s ``camera``; ``perspective_crop.rectify_rect``
and ``mediapipe_palm.view_from_landmarks``): no stretch in a wide lens's periphery, no fisheye bend.

Each hand of ``wildhands synth`` folders goes through both pipelines with its ground-truth box (the two
landmark passes of a given box); per hand: found or not (a pass whose hand presence is below the
threshold gives none), and for the hands both found the wrist-relative MPJPE, PA-MPJPE, root error,
orientation error (mm, deg) and 2D error (px). Reported per lens model and by the wrist's angle off the
optical axis: the mean of each, its median, and the mean paired difference (rectified - box) with a 95 %
bootstrap interval (``compare_real.bootstrap_ci``).

    wildhands synth --out /tmp/fp/v6_s7 --n 300 --seed 7 --config look.yaml   # docs/render-realism.md
    python bench/landmark_views.py --synthetic v6_s7=/tmp/fp/v6_s7 --synthetic v6_s8=/tmp/fp/v6_s8

Results: ``bench/results/landmark_views.json``; log ``out/bench/landmark_views.log``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]

from _eval_common import close_log, command_line, named_folders, setup_log, table, write_result  # noqa: E402
from compare_real import bootstrap_ci  # noqa: E402
from machine import machine_facts  # noqa: E402

MODES = ("box", "rectified")
METRICS = ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "orientation_deg", "kp2d_px")
OFF_AXIS_BINS_DEG = (0.0, 30.0, 50.0, 180.0)  # the wrist's angle off the optical axis


def hand_errors(hand, record) -> dict[str, float]:
    """One estimated hand against its record's truth (``scoring.score_estimate``, the evaluator's per-hand
    metrics; mm, deg, px; to 0.01)."""
    from wildhands.eval.scoring import LabelledHand, score_estimate

    score = score_estimate(LabelledHand.from_record(record), hand)
    return {m: round(float(getattr(score, m)), 2) for m in METRICS}


def off_axis_deg(wrist_cam_m: np.ndarray) -> float:
    """The wrist's angle (deg) off the optical axis."""
    return math.degrees(math.atan2(math.hypot(wrist_cam_m[0], wrist_cam_m[1]), wrist_cam_m[2]))


def run_folder(name: str, folder: Path, frames: int, threads: int, progress: bool) -> list[dict[str, Any]]:
    """Per hand of ``folder`` (its first ``frames`` frames; 0: all): set, lens, off-axis angle and each
    mode's errors (None: not found)."""
    from wildhands.eval.sources import open_records
    from wildhands.runtime.hands import HandBox
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    pipelines = {
        m: Pipeline(PipelineConfig(estimator="landmarks", crop_mode=m, threads=threads)) for m in MODES
    }
    rows = []
    records = list(open_records(str(folder)))
    if frames:
        keep = set(sorted({r.frame_id for r in records})[:frames])
        records = [r for r in records if r.frame_id in keep]
    for record in tqdm(records, desc=name, unit="hand", disable=not progress):
        image = record.load_image() if record.image is None else record.image
        box = HandBox(tuple(float(v) for v in record.box_xyxy_px), record.side)
        row: dict[str, Any] = {
            "set": name,
            "frame": record.frame_id,
            "lens": record.camera.distortion_model.value,
            "off_axis_deg": round(off_axis_deg(record.keypoints_cam_m[0]), 2),
        }
        for mode, pipeline in pipelines.items():
            hands = pipeline(image, record.camera, [box])
            row[mode] = hand_errors(hands[0], record) if hands else None
        rows.append(row)
    return rows


def group_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Hands found per mode; for the hands both found, per metric: box and rectified means and medians
    and the mean paired difference (rectified - box) with its 95 % bootstrap interval."""
    both = [r for r in rows if r["box"] and r["rectified"]]
    out: dict[str, Any] = {
        "hands": len(rows),
        "found": {m: sum(1 for r in rows if r[m]) for m in MODES},
        "found_by_both": len(both),
    }
    if len(both) < 3:
        return out
    for metric in METRICS:
        a = np.array([r["box"][metric] for r in both])
        b = np.array([r["rectified"][metric] for r in both])
        lo, hi = bootstrap_ci(b - a)
        out[metric] = {
            "box_mean": round(float(a.mean()), 2),
            "rectified_mean": round(float(b.mean()), 2),
            "box_median": round(float(np.median(a)), 2),
            "rectified_median": round(float(np.median(b)), 2),
            "difference": round(float((b - a).mean()), 2),
            "ci95": [round(lo, 2), round(hi, 2)],
        }
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`group_summary` of every set, and of each per lens model and off-axis bin."""
    out: dict[str, Any] = {}
    for name in sorted({r["set"] for r in rows}):
        mine = [r for r in rows if r["set"] == name]
        out[name] = group_summary(mine)
        for lens in sorted({r["lens"] for r in mine}):
            out[f"{name} {lens}"] = group_summary([r for r in mine if r["lens"] == lens])
        for lo, hi in zip(OFF_AXIS_BINS_DEG[:-1], OFF_AXIS_BINS_DEG[1:]):
            sel = [r for r in mine if lo <= r["off_axis_deg"] < hi]
            out[f"{name} off-axis {lo:g}-{hi:g} deg"] = group_summary(sel)
    return out


def markdown(summary: dict[str, Any]) -> str:
    header = ["hands", "found box / rectified", "both", "MPJPE mm", "PA-MPJPE mm", "root mm", "2D px",
              "rectified - box (MPJPE; 2D)"]  # fmt: skip
    rows = []
    for name, s in summary.items():
        if "mpjpe_mm" not in s:
            continue
        cells = [f"{s[m]['box_mean']} -> {s[m]['rectified_mean']}" for m in
                 ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "kp2d_px")]  # fmt: skip
        d = [
            f"{s[m]['difference']:+} [{s[m]['ci95'][0]:+}, {s[m]['ci95'][1]:+}]"
            for m in ("mpjpe_mm", "kp2d_px")
        ]
        found = f"{s['found']['box']} / {s['found']['rectified']}"
        rows.append([name, found, str(s["found_by_both"]), *cells, "; ".join(d)])
    return table(header, rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synthetic", action="append", required=True, metavar="NAME=DIR",
                   help="a `wildhands synth` folder (repeatable)")  # fmt: skip
    p.add_argument("--frames", type=int, default=0, help="at most this many frames per folder (0: all)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads of each pipeline")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "landmark_views.json")
    p.add_argument("--log", type=Path, default=REPO / "out" / "bench" / "landmark_views.log")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.synthetic = named_folders(p, "--synthetic", args.synthetic)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    log = setup_log(args.log, "bench.landmark_views")
    try:
        log.info("landmark_views: %s", command_line("landmark_views.py", argv))
        start = time.perf_counter()
        rows = []
        for name, folder in args.synthetic:
            rows += run_folder(name, folder, args.frames, args.threads, not args.no_progress)
            log.info("%s: %d hands", name, sum(1 for r in rows if r["set"] == name))
        summary = summarise(rows)
        result = {
            "bench": "landmark_views",
            "command": command_line("landmark_views.py", argv),
            "machine": machine_facts(),
            "boxes": "ground truth (each hand alone)",
            "modes": {
                "box": "MediaPipe's rect cut out of the image (crop_mode box / auto)",
                "rectified": "the rect seen through a virtual camera looking at it (crop_mode rectified)",
            },
            "folders": {n: str(f) for n, f in args.synthetic},
            "summary": summary,
            "hands": rows,
            "seconds": round(time.perf_counter() - start, 1),
        }
        write_result(args.results, result)
        text = markdown(summary)
        log.info("\n%s", text)
        print(text)
        print(f"wrote {args.results}")
    finally:
        close_log(log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
