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
    python bench/landmark_views.py --clip --results bench/results/landmark_views_clip.json

``--clip``: the bundled clip (the main job's), hands found by MediaPipe's detector on every frame as the
python demo backend does (each mode's detector through its own lens), matched to the truth by side; per
hand also the two mixes that say which of the rectified pass's outputs moves the fit: its 2D landmarks
with the box pass's world landmarks (``rectified_2d``) and the reverse (``rectified_world``). Reported per
side of the body (the clip has one hand of each).

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

from _eval_common import close_log, command_line, named_folders, publish_result, setup_log, table  # noqa: E402
from compare_real import bootstrap_ci  # noqa: E402
from machine import machine_facts  # noqa: E402

MODES = ("box", "rectified")
#: --clip: the rectified pass's 2D landmarks with the box pass's world landmarks, and the reverse
MIXES = ("rectified_2d", "rectified_world")
METRICS = ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "orientation_deg", "kp2d_px")
OFF_AXIS_BINS_DEG = (0.0, 30.0, 50.0, 180.0)  # the wrist's angle off the optical axis


def hand_errors(hand, label) -> dict[str, float]:
    """One estimated hand against its truth (a ``scoring.LabelledHand``; ``scoring.score_estimate``, the
    evaluator's per-hand metrics; mm, deg, px; to 0.01)."""
    from wildhands.eval.scoring import score_estimate

    score = score_estimate(label, hand)
    return {m: round(float(getattr(score, m)), 2) for m in METRICS}


def off_axis_deg(wrist_cam_m: np.ndarray) -> float:
    """The wrist's angle (deg) off the optical axis."""
    return math.degrees(math.atan2(math.hypot(wrist_cam_m[0], wrist_cam_m[1]), wrist_cam_m[2]))


def run_folder(name: str, folder: Path, frames: int, threads: int, progress: bool) -> list[dict[str, Any]]:
    """Per hand of ``folder`` (its first ``frames`` frames; 0: all): set, lens, off-axis angle and each
    mode's errors (None: not found)."""
    from wildhands.eval.scoring import LabelledHand
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
        label = LabelledHand.from_record(record)
        row: dict[str, Any] = {
            "set": name,
            "frame": record.frame_id,
            "lens": record.camera.distortion_model.value,
            "off_axis_deg": round(off_axis_deg(record.keypoints_cam_m[0]), 2),
        }
        for mode, pipeline in pipelines.items():
            hands = pipeline(image, record.camera, [box])
            row[mode] = hand_errors(hands[0], label) if hands else None
        rows.append(row)
    return rows


def run_clip(threads: int, progress: bool) -> list[dict[str, Any]]:
    """Per hand of the bundled clip found by both modes' detections (MediaPipe's detector on every frame,
    each mode through its own lens): frame, side, lens, off-axis angle, each mode's errors and each mix's
    (:data:`MIXES`; None: not matched to the truth)."""
    import dataclasses

    from wildhands.eval.scoring import LabelledHand, match_hands
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig
    from wildhands.runtime.sequence import load_sequence

    sequence = load_sequence()
    camera = sequence.camera
    pipeline = Pipeline(PipelineConfig(estimator="landmarks", crop_mode="rectified", threads=threads))
    estimator = pipeline.landmark_hands  # fits the landmarks a box carries: no pass of its own
    detector = estimator.detector

    def mixed(box, world_from):
        det = dataclasses.replace(box.landmarks, landmarks_world_m=world_from.landmarks.landmarks_world_m)
        return dataclasses.replace(box, landmarks=det)

    rows = []
    for index in tqdm(range(len(sequence)), desc="clip", unit="frame", disable=not progress):
        image = sequence.read_rgb(index)
        labels = [LabelledHand.from_label(label) for label in sequence.ground_truth[index]]
        plain = {b.side: b for b in detector.detect(image) if b.landmarks is not None}
        seen = {b.side: b for b in detector.detect(image, camera=pipeline.view_camera(camera))}
        seen = {side: b for side, b in seen.items() if b.landmarks is not None}
        sides = [side for side in plain if side in seen]
        boxes = {
            "box": [plain[s] for s in sides],
            "rectified": [seen[s] for s in sides],
            "rectified_2d": [mixed(seen[s], plain[s]) for s in sides],
            "rectified_world": [mixed(plain[s], seen[s]) for s in sides],
        }
        scored = {}
        for mode, given in boxes.items():
            hands = estimator(image, camera, given) if given else []
            for label, hand in zip(labels, match_hands(labels, hands)):
                if hand is not None:
                    scored.setdefault(label.side, {})[mode] = hand_errors(hand, label)
        for label in labels:
            if label.side not in sides:
                continue
            row: dict[str, Any] = {
                "set": "clip",
                "frame": str(index),
                "side": label.side,
                "lens": camera.distortion_model.value,
                "off_axis_deg": round(off_axis_deg(label.keypoints_cam_m[0]), 2),
            }
            row.update({mode: scored.get(label.side, {}).get(mode) for mode in boxes})
            rows.append(row)
    return rows


def group_summary(rows: list[dict[str, Any]], other: str = "rectified") -> dict[str, Any]:
    """Hands found by ``box`` and by ``other`` (a mode or a mix); for the hands both found, per metric: the
    two means and medians and the mean paired difference (other - box) with its 95 % bootstrap interval
    (keys ``rectified_*`` whatever ``other``: the one table layout)."""
    both = [r for r in rows if r["box"] and r[other]]
    out: dict[str, Any] = {
        "hands": len(rows),
        "found": {"box": sum(1 for r in rows if r["box"]), "rectified": sum(1 for r in rows if r[other])},
        "found_by_both": len(both),
    }
    if len(both) < 3:
        return out
    for metric in METRICS:
        a = np.array([r["box"][metric] for r in both])
        b = np.array([r[other][metric] for r in both])
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
    """:func:`group_summary` of every set, and of each per lens model and off-axis bin; rows with a side
    (``--clip``) also per side, and with the mixes (:data:`MIXES`) each against box, per side."""
    out: dict[str, Any] = {}
    for name in sorted({r["set"] for r in rows}):
        mine = [r for r in rows if r["set"] == name]
        out[name] = group_summary(mine)
        for side in sorted({r["side"] for r in mine if r.get("side")}):
            of_side = [r for r in mine if r.get("side") == side]
            out[f"{name} {side} hand"] = group_summary(of_side)
            for mix in MIXES:
                if all(mix in r for r in of_side):
                    out[f"{name} {side} hand, {mix}"] = group_summary(of_side, mix)
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
    p.add_argument("--synthetic", action="append", default=[], metavar="NAME=DIR",
                   help="a `wildhands synth` folder (repeatable)")  # fmt: skip
    p.add_argument("--clip", action="store_true", help="the bundled clip, hands found by the detector")
    p.add_argument("--frames", type=int, default=0, help="at most this many frames per folder (0: all)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads of each pipeline")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "landmark_views.json")
    p.add_argument("--log", type=Path, default=REPO / "out" / "bench" / "landmark_views.log")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.synthetic = named_folders(p, "--synthetic", args.synthetic)
    if not args.synthetic and not args.clip:
        p.error("give --synthetic NAME=DIR and/or --clip")
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
        if args.clip:
            rows += run_clip(args.threads, not args.no_progress)
            log.info("clip: %d hands", sum(1 for r in rows if r["set"] == "clip"))
        summary = summarise(rows)
        result = {
            "bench": "landmark_views",
            "command": command_line("landmark_views.py", argv),
            "machine": machine_facts(),
            "boxes": "synthetic folders: ground truth (each hand alone); clip: the detector's, each mode's",
            "mixes": {
                "rectified_2d": "the rectified pass's 2D landmarks with the box pass's world landmarks",
                "rectified_world": "the box pass's 2D landmarks with the rectified pass's world landmarks",
            },
            "modes": {
                "box": "MediaPipe's rect cut out of the image (crop_mode box / auto)",
                "rectified": "the rect seen through a virtual camera looking at it (crop_mode rectified)",
            },
            "folders": {n: str(f) for n, f in args.synthetic},
            "summary": summary,
            "hands": rows,
            "seconds": round(time.perf_counter() - start, 1),
        }
        publish_result(log, args.results, result, markdown(summary))
    finally:
        close_log(log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
