"""Scoring hands against ground truth: the one module that matches, measures and summarises.

Used by the evaluator (:func:`wildhands.eval.evaluator.evaluate`, hence every accuracy bench through
:mod:`wildhands.eval.conditions`), by the main job (``wildhands demo``: :func:`score_sequence`,
:func:`format_summary`) and by the real-image bench (``bench/real_hands.py``: :func:`score_hand`,
:func:`summarise_scores`). The metrics themselves are :mod:`wildhands.eval.metrics`.

**The hand-matching rule** (:func:`match_hands`). The labelled hands of one image are taken in their
order; each takes, among the estimates not taken yet **of its side**, the nearest one, where "nearest"
ranks candidates by

1. the mean 2D distance (px) between the estimate's keypoints and the label's 2D keypoints, over the
   label's valid keypoints (NaN keypoints left out), when the label has 2D keypoints (given, or the
   projection of its 3D keypoints) and the distance is finite;
2. else (no 2D label, or no finite distance) the distance between the estimate's crop centre and the
   centre of the label's box, after every candidate of rule 1;
3. else (neither) the order of the estimates.

Ties go to the earlier estimate. A label with no free estimate of its side is *missing* (not found); an
estimate never serves two labels. Side first, because the estimator is given (or finds) a side per hand,
and a left hand scored against a right label is a handedness error, not a pose error; 2D keypoints next,
because they are what every estimate has, whichever way its crop was cut (ground-truth box, detector box,
rectified crop), and they separate two hands of one side far better than box centres. With the evaluator's
ground-truth boxes each label gets exactly the estimate of its own box (one estimate per box, of the box's
side) whenever an image has at most one hand per side, as in every synthetic test set and the bundled
clip, so the figures of the benches do not depend on the distance; with a detector (the main job) the
distance picks the estimate that is the labelled hand.

**Per hand** (:func:`score_estimate`, :class:`HandScore`): root-relative MPJPE, PA-MPJPE, absolute root
(wrist) error (when the root is valid), 2D keypoint error and the per-joint root-relative errors for
PCK/AUC; NaN where the label or the estimate lacks what a metric needs. **Per frame**
(:func:`frame_mrrpe`): MRRPE when the frame has exactly one left and one right label, both with 3D and
both matched. **Summaries**: :func:`summarise` (the evaluator's per-dataset means, PCK, AUC) and
:func:`stats` (mean, median, p95 and count of the finite values: the main job's summary).

Units: errors in mm and px; keypoints in metres (camera optical frame) and pixels of the source image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from wildhands.eval import metrics as M
from wildhands.handmodel.keypoints import SKELETON_EDGES, WRIST

if TYPE_CHECKING:
    from wildhands.data.record import HandRecord
    from wildhands.runtime.hands import HandEstimate
    from wildhands.runtime.sequence import FrameResult, Sequence

__all__ = [
    "GT_COLOR_RGB",
    "PCK_THRESHOLDS_MM",
    "AUC_MAX_MM",
    "LabelledHand",
    "match_hands",
    "HandScore",
    "score_estimate",
    "frame_mrrpe",
    "DatasetScores",
    "summarise",
    "stats",
    "nanmean",
    "score_sequence",
    "format_summary",
    "score_hand",
    "summarise_scores",
    "draw_ground_truth",
]

PCK_THRESHOLDS_MM = (10, 20, 30, 40, 50)
AUC_MAX_MM = 50.0
#: Colour of the ground truth on every overlay (the estimate is drawn in its side's colour).
GT_COLOR_RGB = (255, 255, 255)


# --------------------------------------------------------------------------------------------- matching
@dataclass
class LabelledHand:
    """One labelled hand as scoring sees it (any of the keypoints may be missing: None).

    side: ``'left'`` | ``'right'``; keypoints_px: (21, 2) px; keypoints_cam_m: (21, 3) m, camera optical
    frame; valid: (21,) bool labelled keypoints (None: all); box_xyxy_px: (4,) the labelled box.
    """

    side: str
    keypoints_px: np.ndarray | None = None
    keypoints_cam_m: np.ndarray | None = None
    valid: np.ndarray | None = None
    box_xyxy_px: np.ndarray | None = None

    @classmethod
    def from_record(cls, rec: HandRecord) -> LabelledHand:
        """A :class:`~wildhands.data.record.HandRecord`; 2D keypoints = ``keypoints_px``, else the
        projection of the 3D keypoints when they are all in front of the camera."""
        px = rec.keypoints_px
        if px is None and rec.keypoints_cam_m is not None and np.all(rec.keypoints_cam_m[:, 2] > 0):
            px = rec.camera.project(rec.keypoints_cam_m)
        return cls(rec.side, px, rec.keypoints_cam_m, rec.keypoints_valid, rec.box_xyxy_px)

    @classmethod
    def from_label(cls, label: dict[str, Any]) -> LabelledHand:
        """A label of a sequence's ``groundtruth.json`` (``side``, ``keypoints_px``, ``keypoints_cam_m``,
        ``box_xyxy``; all keypoints valid)."""

        def arr(key: str) -> np.ndarray | None:
            return np.asarray(label[key], np.float64) if label.get(key) is not None else None

        return cls(label["side"], arr("keypoints_px"), arr("keypoints_cam_m"), None, arr("box_xyxy"))

    def valid_mask(self) -> np.ndarray:
        return np.ones(21, bool) if self.valid is None else np.asarray(self.valid, bool)


def _rank(label: LabelledHand, hand: HandEstimate) -> tuple[int, float]:
    """The matching rule's distance of ``hand`` to ``label`` (smaller = nearer; see the module docstring)."""
    if label.keypoints_px is not None:
        v = label.valid_mask()
        with np.errstate(invalid="ignore"):
            d = np.linalg.norm(np.asarray(hand.keypoints_px)[v] - np.asarray(label.keypoints_px)[v], axis=1)
        d = d[np.isfinite(d)]
        if d.size:
            return 0, float(np.mean(d))
    if label.box_xyxy_px is not None:
        box = np.asarray(label.box_xyxy_px, np.float64)
        centre = (box[:2] + box[2:] - 1.0) / 2.0
        return 1, float(np.linalg.norm(np.asarray(hand.crop_box.center) - centre))
    return 2, 0.0


def match_hands(
    labels: SequenceABC[LabelledHand], hands: SequenceABC[HandEstimate]
) -> list[HandEstimate | None]:
    """For each label, its estimate (None: missing), by the hand-matching rule of the module docstring."""
    free = list(range(len(hands)))
    out: list[HandEstimate | None] = []
    for label in labels:
        same = [i for i in free if hands[i].side == label.side]
        if not same:
            out.append(None)
            continue
        best = min(same, key=lambda i: _rank(label, hands[i]))
        free.remove(best)
        out.append(hands[best])
    return out


# ---------------------------------------------------------------------------------------------- per hand
@dataclass
class HandScore:
    """The errors of one hand (NaN where the label or the estimate is missing)."""

    dataset: str
    frame_id: str
    side: str
    estimated: bool
    mpjpe_mm: float = math.nan
    pa_mpjpe_mm: float = math.nan
    orientation_deg: float = math.nan  # the hand's turn from the truth (metrics.orientation_error_deg)
    root_error_mm: float = math.nan
    kp2d_px: float = math.nan
    joint_errors_mm: np.ndarray | None = None  # (J_valid,) root-relative, valid joints only

    @property
    def badness(self) -> float:
        """What "worst" means: MPJPE when there is 3D ground truth, else the 2D error, else -inf."""
        for v in (self.mpjpe_mm, self.kp2d_px):
            if math.isfinite(v):
                return v
        return -math.inf


def _keypoint_errors(
    pred_cam_m: Any, pred_px: Any, true_cam_m: Any, true_px: Any, valid: np.ndarray
) -> dict[str, Any]:
    """The per-hand metrics of one prediction (whichever of its 3D / 2D keypoints exist) against one label;
    root (joint 0) error only when the root is valid."""
    out: dict[str, Any] = {}
    if pred_cam_m is not None and true_cam_m is not None:
        pred, gt = np.asarray(pred_cam_m)[None], np.asarray(true_cam_m)[None]
        out["mpjpe_mm"] = float(M.mpjpe_mm(pred, gt, valid=valid[None])[0])
        out["pa_mpjpe_mm"] = float(M.pa_mpjpe_mm(pred, gt, valid=valid[None])[0])
        out["orientation_deg"] = float(M.orientation_error_deg(pred, gt, valid=valid[None])[0])
        if valid[0]:
            out["root_error_mm"] = float(M.root_error_mm(pred[:, 0], gt[:, 0])[0])
        out["joint_errors_mm"] = M.joint_errors_mm(pred, gt)[0][valid]
    if pred_px is not None and true_px is not None:
        pred2d, gt2d = np.asarray(pred_px)[None], np.asarray(true_px)[None]
        out["kp2d_px"] = float(M.kp2d_error_px(pred2d, gt2d, valid[None])[0])
    return out


def score_estimate(
    label: LabelledHand, hand: HandEstimate | None, dataset: str = "", frame_id: str = ""
) -> HandScore:
    """Errors of one estimate (None: missing) against its label."""
    s = HandScore(dataset, frame_id, label.side, estimated=hand is not None)
    if hand is None:
        return s
    e = _keypoint_errors(
        hand.keypoints_cam_m, hand.keypoints_px, label.keypoints_cam_m, label.keypoints_px, label.valid_mask()
    )
    for key, value in e.items():
        setattr(s, key, value)
    return s


def frame_mrrpe(labels: SequenceABC[LabelledHand], matched: SequenceABC[HandEstimate | None]) -> float | None:
    """MRRPE (mm) of one frame: only with exactly one left and one right label, both with 3D, both matched."""
    pairs = {
        lab.side: (lab, h)
        for lab, h in zip(labels, matched)
        if lab.keypoints_cam_m is not None and h is not None
    }
    sides = [lab.side for lab in labels]
    if sides.count("left") != 1 or sides.count("right") != 1 or set(pairs) != {"left", "right"}:
        return None
    (ll, hl), (lr, hr) = pairs["left"], pairs["right"]
    return float(
        M.mrrpe_mm(
            hl.keypoints_cam_m[0],
            hr.keypoints_cam_m[0],
            np.asarray(ll.keypoints_cam_m)[0],
            np.asarray(lr.keypoints_cam_m)[0],
        )[0]
    )


# --------------------------------------------------------------------------------------------- summaries
def nanmean(values: list[float]) -> float | None:
    """Mean of the finite values; None when there is none."""
    a = np.asarray(values, np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else None


def stats(values: list[float]) -> dict[str, float | None]:
    """``mean``, ``median``, ``p95`` (None when empty) and ``n`` of the finite values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"mean": None, "median": None, "p95": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p95": float(np.percentile(v, 95)),
        "n": int(v.size),
    }


@dataclass
class DatasetScores:
    """What :func:`summarise` aggregates for one dataset (or subset)."""

    hands: list[HandScore] = field(default_factory=list)
    mrrpe_mm: list[float] = field(default_factory=list)
    frames: int = 0
    failed_frames: int = 0


def summarise(acc: DatasetScores) -> dict[str, Any]:
    """Per-dataset metrics from the per-hand scores (None where nothing could be measured)."""
    hands = acc.hands
    joint_errors = [h.joint_errors_mm for h in hands if h.joint_errors_mm is not None]
    errors = np.concatenate(joint_errors) if joint_errors else np.zeros(0)
    pcks = M.pck(errors, PCK_THRESHOLDS_MM) if errors.size else [None] * len(PCK_THRESHOLDS_MM)
    auc = M.auc(errors, AUC_MAX_MM, steps=101) if errors.size else None
    out: dict[str, Any] = {
        "hands": len(hands),
        "hands_estimated": sum(h.estimated for h in hands),
        "hands_missing": sum(not h.estimated for h in hands),
        "hands_3d": sum(math.isfinite(h.mpjpe_mm) for h in hands),
        "frames": acc.frames,
        "frames_failed": acc.failed_frames,
        "frames_mrrpe": len(acc.mrrpe_mm),
        "mpjpe_mm": nanmean([h.mpjpe_mm for h in hands]),
        "pa_mpjpe_mm": nanmean([h.pa_mpjpe_mm for h in hands]),
        "orientation_deg": nanmean([h.orientation_deg for h in hands]),
        "mrrpe_mm": nanmean(acc.mrrpe_mm),
        "root_error_mm": nanmean([h.root_error_mm for h in hands]),
        "kp2d_px": nanmean([h.kp2d_px for h in hands]),
    }
    for t, v in zip(PCK_THRESHOLDS_MM, pcks):
        out[f"pck_{t}mm"] = None if v is None or not np.isfinite(v) else float(v)
    out[f"auc_0_{int(AUC_MAX_MM)}mm"] = None if auc is None or not np.isfinite(auc) else float(auc)
    return out


# -------------------------------------------------------------------------------------- the main job
def score_sequence(sequence: Sequence, results: list[FrameResult]) -> dict[str, Any]:
    """The main job's summary: hands per frame, latency (ms) and, when the sequence has ground truth, the
    errors (mm / px) of the hands matched by :func:`match_hands` (``stats`` of each) and the recall."""
    counts = [len(r.hands) for r in results]
    summary: dict[str, Any] = {
        "frames": len(sequence),
        "frames_answered": sum(r.received for r in results),
        "hands_per_frame": {
            "mean": float(np.mean(counts)) if counts else 0.0,
            "histogram": {str(k): counts.count(k) for k in sorted(set(counts))},
        },
        "latency_ms": stats([1000 * r.latency_s for r in results]),
        "processing_ms": stats([1000 * r.processing_s for r in results]),
        "camera": sequence.camera_source,
        "intrinsics_estimated": bool(sequence.camera.estimated),
    }
    if sequence.ground_truth is None:
        return summary
    scores: list[HandScore] = []
    mrrpe: list[float] = []
    n_gt = 0
    for r in results:
        labels = [LabelledHand.from_label(label) for label in sequence.ground_truth[r.index]]
        n_gt += len(labels)
        matched = match_hands(labels, r.hands)
        scores += [score_estimate(lab, h) for lab, h in zip(labels, matched) if h is not None]
        m = frame_mrrpe(labels, matched)
        if m is not None:
            mrrpe.append(m)
    summary["ground_truth"] = {
        "hands": n_gt,
        "found": len(scores),
        "recall": len(scores) / n_gt if n_gt else None,
        "mpjpe_mm": stats([s.mpjpe_mm for s in scores]),
        "pa_mpjpe_mm": stats([s.pa_mpjpe_mm for s in scores]),
        "orientation_deg": stats([s.orientation_deg for s in scores]),
        "root_error_mm": stats([s.root_error_mm for s in scores]),
        "mrrpe_mm": stats(mrrpe),
        "kp2d_px": stats([s.kp2d_px for s in scores]),
    }
    return summary


def _fmt(st: dict[str, Any] | None, key: str = "mean", unit: str = "") -> str:
    if not st or st.get(key) is None:
        return "-"
    return f"{st[key]:.1f}{unit}"


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen text summary of :func:`score_sequence`'s result."""
    hpf = summary["hands_per_frame"]
    lat = summary["latency_ms"]
    lines = [
        f"frames       {summary['frames']} ({summary['frames_answered']} answered)",
        f"hands/frame  mean {hpf['mean']:.2f}  histogram {hpf['histogram']}",
        f"latency      median {_fmt(lat, 'median', ' ms')}  p95 {_fmt(lat, 'p95', ' ms')}"
        + (
            f"  (processing median {_fmt(proc, 'median', ' ms')}  p95 {_fmt(proc, 'p95', ' ms')})"
            if (proc := summary.get("processing_ms")) and proc.get("n")
            else ""
        ),
        f"camera       {summary['camera']}",
    ]
    gt = summary.get("ground_truth")
    if gt:
        recall = "-" if gt["recall"] is None else f"{100 * gt['recall']:.0f}%"
        lines += [
            f"found        {gt['found']} of {gt['hands']} labelled hands ({recall})",
            f"3D error     MPJPE {_fmt(gt['mpjpe_mm'], unit=' mm')}"
            f"  PA-MPJPE {_fmt(gt['pa_mpjpe_mm'], unit=' mm')}"
            f"  root {_fmt(gt['root_error_mm'], unit=' mm')}  MRRPE {_fmt(gt['mrrpe_mm'], unit=' mm')}",
            f"orientation  {_fmt(gt.get('orientation_deg'), unit=' deg')} (the hand's turn from the truth)",
            f"2D error     {_fmt(gt['kp2d_px'], unit=' px')} (mean over keypoints and hands)",
        ]
    return "\n".join(lines)


# ------------------------------------------------------------------- predictions of any method (real images)
def score_hand(pred: dict[str, Any] | None, truth: Any) -> dict[str, float | bool]:
    """Scores of one prediction of any method against one labelled hand (the real-image bench):

    ``found`` (a prediction exists); ``kp2d_px`` (mean 2D error over the labelled keypoints, px);
    ``kp2d_rel`` (that error / the longest side of the tight keypoint box); where both have 3D:
    ``pa_mpjpe_mm``, ``orientation_deg`` (the hand's orientation error, camera frame:
    ``metrics.orientation_error_deg``), ``mpjpe_mm`` (root-relative, root = wrist) and ``wrist_mm``
    (absolute wrist error, camera frame); the last two only when the wrist is labelled. NaN where a score
    does not apply.

    ``pred``: ``keypoints_px`` (21, 2) and ``keypoints_cam_m`` (21, 3) or None; None = hand not found.
    ``truth``: a :class:`wildhands.eval.real_hands.HandTruth` (``keypoints_px``, ``valid``,
    ``keypoints_cam_m`` or None, ``size_px``).
    """
    nan = float("nan")
    out: dict[str, float | bool] = {
        "found": pred is not None,
        "kp2d_px": nan,
        "kp2d_rel": nan,
        "pa_mpjpe_mm": nan,
        "orientation_deg": nan,
        "mpjpe_mm": nan,
        "wrist_mm": nan,
    }
    if pred is None:
        return out
    valid = np.asarray(truth.valid, bool)
    e = _keypoint_errors(
        pred.get("keypoints_cam_m"),
        np.asarray(pred["keypoints_px"], np.float64),
        truth.keypoints_cam_m,
        truth.keypoints_px,
        valid,
    )
    out["kp2d_px"] = e["kp2d_px"]
    out["kp2d_rel"] = e["kp2d_px"] / truth.size_px if truth.size_px > 0 else nan
    if "pa_mpjpe_mm" in e:
        out["pa_mpjpe_mm"] = e["pa_mpjpe_mm"]
        out["orientation_deg"] = e["orientation_deg"]
        if valid[WRIST]:
            out["mpjpe_mm"] = e["mpjpe_mm"]
            out["wrist_mm"] = e["root_error_mm"]
    return out


def _stat(values: list[float], fn) -> float | None:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
    return float(fn(v)) if v.size else None


def summarise_scores(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate :func:`score_hand` dicts of one method on one set: ``hands``, ``found``, the mean of each
    score over the hands found (and the median of ``wrist_mm``); None where no hand has the score."""
    found = [s for s in scores if s["found"]]
    out: dict[str, Any] = {"hands": len(scores), "found": len(found)}
    for key in ("kp2d_px", "kp2d_rel", "pa_mpjpe_mm", "orientation_deg", "mpjpe_mm", "wrist_mm"):
        out[key] = _stat([s[key] for s in found], np.mean)
        out[f"{key}_n"] = int(sum(1 for s in found if math.isfinite(s[key])))
    out["wrist_mm_median"] = _stat([s["wrist_mm"] for s in found], np.median)
    return out


# ----------------------------------------------------------------------------------------------- drawing
def draw_ground_truth(
    image_rgb: np.ndarray,
    keypoints_px: np.ndarray | None,
    color: tuple[int, int, int] = GT_COLOR_RGB,
    thickness: int | None = None,
    joints: bool = True,
) -> np.ndarray:
    """Draw ground-truth 2D keypoints and skeleton (thin, ``color``) on a copy of the image.

    ``thickness``: of the lines (default: 1 px per 640 px of the longer image side); ``joints``: also a
    circle per keypoint. Nothing is drawn when a keypoint is missing or not finite."""
    out = image_rgb.copy()
    if keypoints_px is None or not np.all(np.isfinite(keypoints_px)):
        return out
    thick = max(1, round(max(out.shape[:2]) / 640.0)) if thickness is None else int(thickness)
    pts = np.round(keypoints_px).astype(int)
    for a, b in SKELETON_EDGES:
        cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, thick, cv2.LINE_AA)
    if joints:
        for p in pts:
            cv2.circle(out, tuple(p), thick + 1, color, 1, cv2.LINE_AA)
    return out
