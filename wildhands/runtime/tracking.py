"""Hand tracking across frames: stable track ids, One-Euro smoothing, and crops from the previous frame.

    tracker = HandTracker(TrackingConfig())
    for image, camera, t in frames:                       # t: image timestamp, s
        boxes, detected = tracker.boxes_for_frame(detector, image)   # palm detector, or the tracked hands
        tracked = tracker.update(pipeline(image, camera, boxes), t, camera, detected)
        tracked[0].track_id, tracked[0].hand.keypoints_cam_m   # stable id, smoothed (21, 3) m

**Association** (per frame): every new :class:`HandEstimate` is matched to at most one live track by the
Hungarian method (``scipy.optimize.linear_sum_assignment``) on the cost ``(1 - IoU) + d / distance_gate_m``,
where IoU is that of the crop boxes (px) and ``d`` the 3D wrist distance (m) to the track's last raw
estimate. A pair is admissible only for the **same side** and when ``IoU >= iou_gate`` **or**
``d <= distance_gate_m`` (either cue suffices: boxes carry a hand whose depth is noisy, the wrist carries a
hand whose box jumped). Left and right hands therefore never swap ids, even while their boxes overlap.
Unmatched hands start new tracks; ids are integers from 0, increasing, never reused. A track not matched
for more than ``max_age`` consecutive frames dies; one that is matched again within ``max_age`` frames keeps
its id (and its filter state: the One-Euro ``alpha`` grows with the gap, so it catches up at once).

**Smoothing** (``smoothing=True``): per track, the 21 keypoints are One-Euro filtered per point
(``vector_speed``: the cutoff follows each point's 3D speed; keypoint 0 is the wrist, i.e. the hand's
translation) and the wrist rotation on SO(3) (:class:`RotationOneEuroFilter`). The mesh vertices are not
filtered one by one: they get the smoothed rigid wrist pose, ``v' = R' R^T (v - p) + p'`` (``p``, ``R``: raw
wrist position and rotation; primes: smoothed), so the mesh moves as the smoothed wrist frame while its
finger articulation is the current frame's. ``keypoints_px`` are re-projected from the smoothed keypoints
when a camera is passed to :meth:`HandTracker.update` (the raw ones are kept otherwise). Everything else
(side, confidences, crop box, betas, joint rotations, grasp) is the current frame's.

**Off switches**: ``enabled=False`` gives every hand ``track_id=-1`` and passes it unchanged;
``smoothing=False`` keeps ids but passes values unchanged.

**Crops from the previous frame** (:func:`boxes_from_previous`): the box around the projected keypoints of
each hand tracked in the last frame (grown by ``box_margin`` on each side, as the MediaPipe detector's
landmark boxes are), with the rotated rect the landmark estimator's single landmark pass looks in
(``HandBox.landmark_rect``, MediaPipe's ``hand_landmark_landmarks_to_roi``), so that the palm detector
need only run every ``redetect_every`` frames, when a track was lost or none is live, or when fewer than
``max_hands`` hands are tracked (:meth:`HandTracker.needs_detection`: MediaPipe's VIDEO mode).
:meth:`HandTracker.boxes_for_frame` is that step whole: the palm detector when it is needed, else the
tracked hands' boxes through the detector's landmark pass on their rects (``MediaPipeHandDetector.track``),
so that the next box and the upright direction of every estimator come from this frame's landmarks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from wildhands.handmodel.keypoints import NUM_KEYPOINTS
from wildhands.runtime.detection.mediapipe_palm import rect_from_landmarks
from wildhands.runtime.filters import OneEuroConfig, OneEuroFilter, RotationOneEuroFilter
from wildhands.runtime.hands import CONTINUOUS_TO_CENTRE_PX, HandBox, HandEstimate

logger = logging.getLogger(__name__)

__all__ = ["TrackingConfig", "TrackedHand", "HandTracker", "boxes_from_previous", "box_iou"]

_INF = 1e9


def _default_position_filter() -> OneEuroConfig:
    return OneEuroConfig(min_cutoff=1.0, beta=5.0, d_cutoff=1.0)


def _default_rotation_filter() -> OneEuroConfig:
    return OneEuroConfig(min_cutoff=1.0, beta=0.5, d_cutoff=1.0)


@dataclass(frozen=True)
class TrackingConfig:
    """How hands are tracked and smoothed (ValueError naming a bad field).

    enabled: assign track ids (False: every hand gets -1 and passes unchanged).
    smoothing: One-Euro smoothing of keypoints, wrist rotation and mesh (False: ids only).
    max_age: frames a track survives without a match (>= 0); it dies on the next miss.
    iou_gate: a same-side pair with crop-box IoU >= iou_gate is admissible, in [0, 1].
    distance_gate_m: m, a same-side pair with wrist distance <= this is admissible, > 0.
    redetect_every: run the detector at least every N frames (1 = every frame); in between, crops come
        from the previous frame's hands (:meth:`HandTracker.boxes_for_next_frame`).
    box_margin: fraction of the keypoint box's width/height added on each side for those crops, in [0, 1].
    max_box_scale_change: those crops' size may differ from the previous crop's by at most this fraction
        per frame, in [0, 1] (an estimate that sees the hand too small or too large must not shrink or
        grow the crop frame after frame until the hand is lost).
    position_filter: One-Euro parameters of the keypoints (beta in s/m).
    rotation_filter: One-Euro parameters of the wrist rotation (beta in s/rad).
    shape_window: frames over which a track's shape β is averaged (``HandTracker.shape_for_box``), >= 1.
    """

    enabled: bool = True
    smoothing: bool = True
    max_age: int = 10
    iou_gate: float = 0.1
    distance_gate_m: float = 0.15
    redetect_every: int = 1
    box_margin: float = 0.08
    max_box_scale_change: float = 0.15
    position_filter: OneEuroConfig = field(default_factory=_default_position_filter)
    rotation_filter: OneEuroConfig = field(default_factory=_default_rotation_filter)
    shape_window: int = 30

    def __post_init__(self) -> None:
        if not (isinstance(self.shape_window, int) and self.shape_window >= 1):
            raise ValueError(f"shape_window={self.shape_window!r} must be an integer >= 1")
        for name in ("enabled", "smoothing"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrackingConfig.{name}={getattr(self, name)!r} must be a bool")
        for name, lo in (("max_age", 0), ("redetect_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"TrackingConfig.{name}={value!r} must be an int >= {lo}")
        for name in ("iou_gate", "box_margin", "max_box_scale_change"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"TrackingConfig.{name}={value!r} must be in [0, 1]")
        d = self.distance_gate_m
        if not (isinstance(d, (int, float)) and math.isfinite(d) and d > 0):
            raise ValueError(f"TrackingConfig.distance_gate_m={d!r} must be a finite number > 0")
        for name in ("position_filter", "rotation_filter"):
            if not isinstance(getattr(self, name), OneEuroConfig):
                raise ValueError(f"TrackingConfig.{name} must be a OneEuroConfig")


@dataclass
class TrackedHand:
    """One hand of the current frame with its track.

    track_id: stable id (-1 when tracking is off).
    hand: the estimate to publish (smoothed when smoothing is on).
    raw: the pipeline's estimate of this frame.
    age: frames the track had gone unmatched before this one (0 = seen in the previous frame).
    hits: frames this track has been matched, this one included.
    """

    track_id: int
    hand: HandEstimate
    raw: HandEstimate
    age: int = 0
    hits: int = 1


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes (x0, y0, x1, y1) px; 0 when either is empty."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class _Track:
    def __init__(self, track_id: int, hand: HandEstimate, config: TrackingConfig) -> None:
        self.id = track_id
        self.side = hand.side
        self.last_raw = hand
        self.last_out = hand
        self.misses = 0
        self.hits = 0
        self.betas = np.asarray(hand.betas, dtype=np.float64).copy()  # the track's shared shape
        self.betas_frames = 1
        self.keypoints = OneEuroFilter(config.position_filter, vector_speed=True)
        self.rotation = RotationOneEuroFilter(config.rotation_filter)

    def share_shape(self, betas: np.ndarray, window: int) -> None:
        """Running mean of the fitted β over the last ~``window`` frames (a hand does not change size)."""
        b = np.asarray(betas, dtype=np.float64)
        if b.shape != self.betas.shape or not np.all(np.isfinite(b)):
            return
        self.betas_frames = min(self.betas_frames + 1, window)
        self.betas += (b - self.betas) / self.betas_frames

    def smooth(self, hand: HandEstimate, t: float, camera) -> HandEstimate:
        kp = self.keypoints(hand.keypoints_cam_m, t)
        R = self.rotation(hand.wrist_rotation, t)
        p_raw, R_raw = hand.keypoints_cam_m[0], hand.wrist_rotation
        verts = (hand.vertices_cam_m - p_raw) @ (R @ R_raw.T).T + kp[0]
        uv = camera.project(kp) if camera is not None else hand.keypoints_px
        return dataclasses.replace(
            hand, keypoints_cam_m=kp, keypoints_px=uv, vertices_cam_m=verts, wrist_rotation=R
        )


class HandTracker:
    """Stable ids + One-Euro smoothing of the hands of consecutive frames (see the module docstring)."""

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        self.reset()

    def reconfigure(self, config: TrackingConfig) -> None:
        """Use ``config`` from the next :meth:`update` on; live tracks keep their ids and filter state
        (their filters take the new parameters)."""
        self.config = config
        for tr in self._tracks:
            tr.keypoints.config = config.position_filter
            tr.rotation.config = config.rotation_filter

    def reset(self) -> None:
        """Forget every track (ids keep increasing)."""
        self._tracks: list[_Track] = []
        self._next_id = getattr(self, "_next_id", 0)
        self._frames_since_detection: int | None = None  # None: never detected
        self._lost = False
        self._last: list[TrackedHand] = []

    @property
    def track_ids(self) -> list[int]:
        """Ids of the live tracks."""
        return [tr.id for tr in self._tracks]

    @property
    def last(self) -> list[TrackedHand]:
        """The hands returned by the last :meth:`update`."""
        return list(self._last)

    # ------------------------------------------------------------------ detection scheduling
    def needs_detection(self, max_hands: int | None = None) -> bool:
        """True when the detector should run on the next frame: tracking off, redetect_every reached, no
        hand tracked in the last frame, a track missed in the last frame, or fewer than ``max_hands``
        hands tracked (a new hand may have come in: MediaPipe's VIDEO mode rule)."""
        c = self.config
        if not c.enabled or c.redetect_every <= 1 or self._frames_since_detection is None:
            return True
        if max_hands is not None and len(self._last) < max_hands:
            return True
        return self._lost or not self._last or self._frames_since_detection + 1 >= c.redetect_every

    def shape_for_box(self, box: HandBox) -> np.ndarray | None:
        """The shared β of the live track this box belongs to (same side, its last crop box overlapping by
        IoU >= ``iou_gate`` or the same centre within half a box), or None: the prior that lets the
        landmark estimator's fit keep a hand's size over the frames of its track."""
        if not self.config.enabled:
            return None
        best, best_iou = None, 0.0
        bx = np.asarray(box.xyxy_px, dtype=np.float64)
        for tr in self._tracks:
            if tr.side != box.side:
                continue
            last = np.asarray(tr.last_raw.crop_box.as_xyxy(), dtype=np.float64)
            iou = box_iou(last, bx)
            near = np.linalg.norm((last[:2] + last[2:]) / 2 - (bx[:2] + bx[2:]) / 2) <= 0.5 * (
                last[2] - last[0]
            )
            if (iou >= self.config.iou_gate or near) and iou >= best_iou:
                best, best_iou = tr, iou
        return None if best is None else best.betas.copy()

    def with_shapes(self, boxes: Sequence[HandBox]) -> list[HandBox]:
        """``boxes`` each with its track's shape (``HandBox.betas``: :meth:`shape_for_box`, None where it
        belongs to no track): what the node hands the landmark estimator, whatever found the boxes."""
        return [dataclasses.replace(b, betas=self.shape_for_box(b)) for b in boxes]

    def boxes_for_frame(
        self,
        detector,
        image_rgb: np.ndarray,
        max_hands: int | None = None,
        box_scale: float = 1.5,
        camera=None,
    ) -> tuple[list[HandBox], bool]:
        """This frame's hand boxes in MediaPipe's VIDEO mode, and whether they are fresh detections (pass
        it on to :meth:`update`): the detector's (``detector.detect``) when :meth:`needs_detection`; else
        the hands of the last frame carried over (:meth:`boxes_for_next_frame`), each through the
        detector's landmark pass on its rect where the detector has one (``detector.track``: MediaPipe's);
        the detector's again, in this frame, when there is no hand to carry over or the landmark pass lost
        one of them (a hand leaving the image or turning away: the palm detector may still find it).
        ``box_scale``: the pipeline's crop side / box side (``PipelineConfig.box_scale``). ``camera``: the
        image's camera where the detector's landmark passes should see hands through it (MediaPipe's
        ``camera`` argument; ``Pipeline.view_camera``), passed on only when given."""
        lens = {} if camera is None else {"camera": camera}
        if not self.needs_detection(max_hands):
            height, width = image_rgb.shape[:2]
            boxes = self.boxes_for_next_frame((width, height), box_scale)
            track = getattr(detector, "track", None)
            if boxes and track is None:
                return boxes, False
            if boxes:
                kept = track(image_rgb, boxes, **lens)
                if len(kept) == len(boxes):
                    return kept, False
        return detector.detect(image_rgb, **lens), True

    def boxes_for_next_frame(self, image_size: tuple[int, int], box_scale: float = 1.5) -> list[HandBox]:
        """Crops for the next frame from the hands of the last :meth:`update` (see boxes_from_previous);
        ``box_scale``: the pipeline's crop side / box side (``PipelineConfig.box_scale``)."""
        return boxes_from_previous(
            self._last, image_size, self.config.box_margin, box_scale, self.config.max_box_scale_change
        )

    # ------------------------------------------------------------------ update
    def _cost(self, tracks: list[_Track], hands: Sequence[HandEstimate]) -> np.ndarray:
        c = self.config
        cost = np.full((len(tracks), len(hands)), _INF)
        for i, tr in enumerate(tracks):
            for j, hand in enumerate(hands):
                if hand.side != tr.side:
                    continue
                iou = box_iou(tr.last_raw.crop_box.as_xyxy(), hand.crop_box.as_xyxy())
                d = float(np.linalg.norm(hand.keypoints_cam_m[0] - tr.last_raw.keypoints_cam_m[0]))
                if not math.isfinite(d):
                    d = _INF
                if iou >= c.iou_gate or d <= c.distance_gate_m:
                    cost[i, j] = (1.0 - iou) + min(d, 10.0 * c.distance_gate_m) / c.distance_gate_m
        return cost

    def update(
        self, hands: Sequence[HandEstimate], t: float, camera=None, detected: bool = True
    ) -> list[TrackedHand]:
        """Associate ``hands`` (one frame, timestamp ``t`` s) with the tracks; one :class:`TrackedHand` per
        hand, in the order of ``hands``.

        camera: the frame's :class:`~wildhands.geometry.camera.CameraModel`; re-projects smoothed keypoints.
        detected: whether the boxes of this frame came from the detector (schedules the next detection).
        """
        c = self.config
        if not math.isfinite(float(t)):
            raise ValueError(f"timestamp must be finite, got {t}")
        t = float(t)
        if not c.enabled:
            self._last = [TrackedHand(-1, h, h) for h in hands]
            return self.last
        tracks = self._tracks
        cost = self._cost(tracks, hands)
        match: dict[int, int] = {}  # hand index -> track index
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            match = {int(j): int(i) for i, j in zip(rows, cols) if cost[i, j] < _INF}
        out: list[TrackedHand] = []
        matched_tracks: set[int] = set()
        for j, hand in enumerate(hands):
            if j in match:
                tr = tracks[match[j]]
                matched_tracks.add(match[j])
            else:
                tr = _Track(self._next_id, hand, c)
                self._next_id += 1
                tracks.append(tr)
                matched_tracks.add(len(tracks) - 1)
                logger.debug("new track %d (%s hand)", tr.id, hand.side)
            age = tr.misses
            smoothed = hand
            if c.smoothing:
                try:
                    smoothed = tr.smooth(hand, t, camera)
                except ValueError as exc:  # non-finite values or an improper wrist rotation: pass it raw
                    logger.warning("track %d: not smoothed (%s); its filters restart", tr.id, exc)
                    tr.keypoints.reset()
                    tr.rotation.reset()
            if tr.hits:  # a new track already starts from this hand's β
                tr.share_shape(hand.betas, c.shape_window)
            tr.last_raw, tr.last_out, tr.misses = hand, smoothed, 0
            tr.hits += 1
            out.append(TrackedHand(tr.id, smoothed, hand, age, tr.hits))
        self._lost = False
        survivors = []
        for i, tr in enumerate(tracks):
            if i not in matched_tracks:
                tr.misses += 1
                self._lost = True
                if tr.misses > c.max_age:
                    logger.debug("track %d (%s hand) ended", tr.id, tr.side)
                    continue
            survivors.append(tr)
        self._tracks = survivors
        if detected or self._frames_since_detection is None:
            self._frames_since_detection = 0
        else:
            self._frames_since_detection += 1
        self._last = out
        return self.last


def boxes_from_previous(
    tracked: Sequence[TrackedHand | HandEstimate],
    image_size: tuple[int, int],
    margin: float = 0.08,
    box_scale: float = 1.5,
    max_scale_change: float | None = None,
) -> list[HandBox]:
    """Hand boxes for the next frame from the previous frame's hands: the box around each hand's projected
    keypoints (``raw`` ones for a TrackedHand: no filter lag), grown by ``margin`` x its width/height on
    each side and clipped to the image (w, h). Hands fully outside the image are left out. Side and scores
    are the hand's, and the box carries the hand (``HandBox.previous``: the raw estimate).

    With ``max_scale_change`` the box is rescaled about its centre so that the crop it gives (longest side
    x ``box_scale``) is within ``1 +- max_scale_change`` of the hand's previous crop: without it, a network
    that sees the hand slightly too small shrinks the crop every frame until the hand is lost."""
    w, h = int(image_size[0]), int(image_size[1])
    boxes = []
    for item in tracked:
        hand = item.raw if isinstance(item, TrackedHand) else item
        uv = np.asarray(hand.keypoints_px, dtype=np.float64).reshape(-1, 2)
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        if len(uv) == 0:
            continue
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        grow = (hi - lo) * margin
        lo, hi = lo - grow, hi + grow
        if max_scale_change is not None:
            side = float((hi - lo).max())
            previous = hand.crop_box.size / box_scale
            target = float(
                np.clip(side, (1 - max_scale_change) * previous, (1 + max_scale_change) * previous)
            )
            centre, factor = (lo + hi) / 2, target / max(side, 1e-6)
            lo, hi = centre - (centre - lo) * factor, centre + (hi - centre) * factor
        lo = np.clip(lo, 0.0, [w, h])
        hi = np.clip(hi, 0.0, [w, h])
        if hi[0] - lo[0] < 1.0 or hi[1] - lo[1] < 1.0:
            continue
        # the rect MediaPipe's tracking looks in next: from the landmark network's own landmarks where the
        # hand has them (the landmark estimator), else from the projected keypoints
        rect = rect_from = None
        lm = uv if hand.landmarks_px is None else np.asarray(hand.landmarks_px, dtype=np.float64)
        if lm.shape == (NUM_KEYPOINTS, 2) and np.all(np.isfinite(lm)):
            rect_from = lm + CONTINUOUS_TO_CENTRE_PX
            centre, size, rotation = rect_from_landmarks(rect_from)
            rect = (float(centre[0]), float(centre[1]), size, rotation)
        boxes.append(
            HandBox(
                (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
                hand.side,
                float(np.clip(hand.detection_confidence, 0.0, 1.0)),
                float(np.clip(hand.side_confidence, 0.0, 1.0)),
                landmark_rect=rect,
                landmark_rect_from=rect_from,
                previous=hand,
            )
        )
    return boxes
