"""Evaluate a Pipeline on labelled records: per-dataset metrics, ``metrics.json``, ``metrics.md``, overlays.

What is measured: the 3D lift from **ground-truth hand boxes and sides** (each record's ``box_xyxy_px``
and ``side`` become a :class:`~wildhands.runtime.pipeline.HandBox` with score 1). Hand detection and
handedness classification are *not* evaluated here.

Hands are matched to records and scored by :mod:`wildhands.eval.scoring` (its docstring states the one
hand-matching rule: same side, then nearest 2D keypoints). Per hand (records with 3D labels):
root-relative MPJPE, PA-MPJPE, absolute root (wrist) error in the camera frame; per hand with 2D labels:
2D keypoint error (px; ground truth = ``keypoints_px``, or the projection of the 3D keypoints when only
those exist); per frame with exactly one left and one right hand (both with 3D labels and both
estimated): MRRPE. PCK@{10..50} mm and AUC over 0-50 mm are computed on the root-relative per-joint errors
of all valid joints. Hands the pipeline did not return (non-finite network output, beyond ``max_hands``)
are counted as ``missing`` and left out of the means; frames that raise are counted as ``failed`` and
logged, never fatal.

Options used by the benchmarks (``bench/kpe_*.py``, ``bench/intrinsics_estimated.py``): ``pipeline_camera``
hands the pipeline another camera than the record's (e.g. intrinsics estimated from a field-of-view prior)
while the errors are still measured against the record's ground truth; ``subsets`` adds named groups of
frames (e.g. per lens model) whose metrics are reported beside their dataset's.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from wildhands.data.record import HandRecord
from wildhands.eval.report import write_markdown
from wildhands.eval.scoring import (
    GT_COLOR_RGB,
    PCK_THRESHOLDS_MM,
    DatasetScores,
    HandScore,
    LabelledHand,
    draw_ground_truth,
    frame_mrrpe,
    match_hands,
    score_estimate,
    summarise,
)
from wildhands.geometry.camera import CameraModel
from wildhands.runtime.overlay import draw_hands
from wildhands.runtime.pipeline import HandBox, HandEstimate, Pipeline

logger = logging.getLogger(__name__)

__all__ = ["evaluate", "group_by_frame"]

_MAX_LOGGED_FAILURES = 50


def group_by_frame(
    records: Iterable[HandRecord], limit: int | None = None
) -> dict[tuple[str, str], list[HandRecord]]:
    """Records grouped by (dataset, frame_id), in order of first appearance; at most ``limit`` frames.

    With a limit, reading stops at the first record of frame ``limit + 1`` (so the hands of one frame
    must be adjacent in ``records``, as every reader and the synthetic folders give them, for the limited
    frames to be complete). Images stay where the records keep them (paths are loaded per frame).
    """
    frames: dict[tuple[str, str], list[HandRecord]] = {}
    for rec in records:
        key = (rec.dataset, rec.frame_id)
        if key not in frames and limit is not None and len(frames) >= limit:
            break
        frames.setdefault(key, []).append(rec)
    return frames


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "frame"


def _write_overlay(
    path: Path, rec: HandRecord, hand: HandEstimate | None, score: HandScore, title: str
) -> None:
    image = rec.load_image()
    out = draw_hands(image, [hand] if hand is not None else [], rec.camera, title=title)
    out = draw_ground_truth(out, LabelledHand.from_record(rec).keypoints_px)
    label = (
        f"GT (white) | MPJPE {score.mpjpe_mm:.1f} mm  root {score.root_error_mm:.1f} mm  "
        f"2D {score.kp2d_px:.1f} px"
    )
    scale = max(out.shape[:2]) / 640.0
    org = (8, out.shape[0] - max(8, round(10 * scale)))
    cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, GT_COLOR_RGB, 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


def evaluate(
    pipeline: Pipeline,
    records: Iterable[HandRecord],
    out_dir: str | Path,
    worst_k: int = 8,
    limit: int | None = None,
    progress: bool = True,
    pipeline_camera: Callable[[CameraModel], CameraModel] | None = None,
    subsets: Callable[[HandRecord], Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Run ``pipeline`` once per frame on its ground-truth boxes and write the metrics and overlays.

    Args:
        pipeline: any :class:`Pipeline` (a trained network, the untrained one, or an oracle in tests).
        records: HandRecords; the hands of one image share ``(dataset, frame_id)``.
        out_dir: gets ``metrics.json``, ``metrics.md`` and ``worst/NN_<dataset>_<frame>_<side>.png``.
        worst_k: overlays of the k worst hands (by MPJPE, or 2D error without 3D labels); 0 = none.
        limit: evaluate at most this many frames.
        progress: show a tqdm bar.
        pipeline_camera: maps a frame's true camera to the one the pipeline is given (default: the true
            one). Ground truth (3D keypoints, 2D keypoints through the true lens) is never changed, so the
            errors include what the other camera costs.
        subsets: names of extra groups a frame belongs to, from its first record (e.g.
            ``"wide_fov/equidistant"``); each gets its own metrics in ``datasets``, after its dataset's.

    Returns:
        The content of ``metrics.json``: ``{"datasets": {name: metrics}, "weights": ..., ...}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    frames = group_by_frame(records, limit)
    keys = list(frames)
    accs: dict[str, DatasetScores] = {}
    failures: list[dict[str, str]] = []
    worst: list[tuple[float, int, HandScore, HandRecord, HandEstimate | None]] = []  # min-heap of size k
    counter = 0
    max_hands = getattr(getattr(pipeline, "config", None), "max_hands", 16)
    for key in tqdm(keys, desc="eval", unit="frame", disable=not progress):
        dataset, frame_id = key
        recs = frames[key]
        groups = [dataset, *(subsets(recs[0]) if subsets is not None else ())]
        group_accs = [accs.setdefault(name, DatasetScores()) for name in dict.fromkeys(groups)]
        for acc in group_accs:
            acc.frames += 1
        if len(recs) > max_hands:
            logger.warning(
                "%s: %d hands but max_hands=%d; the rest count as missing", frame_id, len(recs), max_hands
            )
        try:
            image = recs[0].load_image()
            camera = recs[0].camera if pipeline_camera is None else pipeline_camera(recs[0].camera)
            boxes = [HandBox(tuple(float(v) for v in r.box_xyxy_px), r.side) for r in recs]
            hands = pipeline(image, camera, boxes)
            labels = [LabelledHand.from_record(r) for r in recs]
            matched = match_hands(labels, hands)
            scores = [score_estimate(lab, h, dataset, frame_id) for lab, h in zip(labels, matched)]
            mrrpe = frame_mrrpe(labels, matched)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop an evaluation
            for acc in group_accs:
                acc.failed_frames += 1
            if len(failures) < _MAX_LOGGED_FAILURES:
                logger.warning("frame %s (%s) failed: %s: %s", frame_id, dataset, type(exc).__name__, exc)
            failures.append(
                {"dataset": dataset, "frame_id": frame_id, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        for acc in group_accs:
            acc.hands.extend(scores)
            if mrrpe is not None:
                acc.mrrpe_mm.append(mrrpe)
        for rec, hand, score in zip(recs, matched, scores):
            if worst_k <= 0 or not math.isfinite(score.badness):
                continue
            counter += 1
            item = (score.badness, counter, score, rec, hand)
            if len(worst) < worst_k:
                heapq.heappush(worst, item)
            elif item[0] > worst[0][0]:
                heapq.heapreplace(worst, item)

    datasets = {name: summarise(acc) for name, acc in accs.items()}
    worst_dir = out_dir / "worst"
    worst_list = []
    if worst:
        worst_dir.mkdir(exist_ok=True)
    for rank, (_, _, score, rec, hand) in enumerate(sorted(worst, key=lambda t: -t[0])):
        name = f"{rank:02d}_{_safe_name(score.dataset)}_{_safe_name(score.frame_id)}_{score.side}.png"
        try:
            _write_overlay(
                worst_dir / name, rec, hand, score, f"worst #{rank}: {score.frame_id} {score.side}"
            )
        except Exception as exc:  # noqa: BLE001 - an overlay must not lose the metrics
            logger.warning("overlay %s failed: %s", name, exc)
            name = None
        worst_list.append(
            {
                "dataset": score.dataset,
                "frame_id": score.frame_id,
                "side": score.side,
                "mpjpe_mm": _finite_or_none(score.mpjpe_mm),
                "root_error_mm": _finite_or_none(score.root_error_mm),
                "kp2d_px": _finite_or_none(score.kp2d_px),
                "overlay": f"worst/{name}" if name else None,
            }
        )
    result = {
        "weights": getattr(pipeline, "weights_description", "?"),
        "trained": bool(getattr(pipeline, "trained", False)),
        "kpe": getattr(pipeline, "kpe_variant", "?"),
        "boxes": "ground truth (detection is not evaluated)",
        "pck_thresholds_mm": list(PCK_THRESHOLDS_MM),
        "datasets": datasets,
        "worst": worst_list,
        "failures": failures[:_MAX_LOGGED_FAILURES],
    }
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    write_markdown(out_dir / "metrics.md", result)
    for name, m in datasets.items():
        logger.info(
            "%s: %d hands, %d frames (%d failed), MPJPE %s mm, MRRPE %s mm",
            name,
            m["hands"],
            m["frames"],
            m["frames_failed"],
            m["mpjpe_mm"],
            m["mrrpe_mm"],
        )
    return result


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
