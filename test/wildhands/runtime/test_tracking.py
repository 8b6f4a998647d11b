"""HandTracker: stable ids when hands cross or vanish briefly, new ids for new hands, One-Euro smoothing
of keypoints / rotation / mesh through the tracker, off switches, and crops from the previous frame."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import square_box_from_points
from wildhands.runtime.pipeline import HandBox, HandEstimate
from wildhands.runtime.tracking import HandTracker, TrackingConfig, box_iou, boxes_from_previous

FPS = 30.0
CAMERA = CameraModel.from_K([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]], 640, 480)
SIZE = (CAMERA.width, CAMERA.height)


def template(side: str) -> np.ndarray:
    """(21, 3) m, an open hand in its own frame (wrist at 0, fingers along -y: up in the image)."""
    pts = [np.zeros(3)]
    for x, y, step in ((-0.04, 0.02, 0.025), (-0.02, 0.08, 0.035), (0.0, 0.085, 0.038), (0.02, 0.08, 0.035),
                       (0.038, 0.07, 0.028)):  # fmt: skip
        pts += [np.array([x * (1 + 0.3 * k), -(y + step * k), 0.0]) for k in range(4)]
    kp = np.asarray(pts)
    return kp * np.array([-1.0, 1.0, 1.0]) if side == "left" else kp


def make_hand(side: str, wrist_m, R=None, noise_m: float = 0.0, rng=None, score: float = 0.9) -> HandEstimate:
    R = np.eye(3) if R is None else np.asarray(R)
    kp = template(side) @ R.T + np.asarray(wrist_m, dtype=np.float64)
    if noise_m:
        kp = kp + rng.normal(0.0, noise_m, kp.shape)
    verts = np.concatenate([kp, kp + R @ np.array([0.0, 0.0, 0.01])])  # (42, 3): a thick "mesh"
    uv = CAMERA.project(kp)
    return HandEstimate(
        side=side, side_confidence=0.95, detection_confidence=score, confidence=0.95 * score,
        crop_box=square_box_from_points(uv, SIZE, 1.5), keypoints_cam_m=kp, keypoints_px=uv,
        vertices_cam_m=verts, faces=np.zeros((0, 3), np.int64), wrist_rotation=R,
        joint_rotations_aa=np.zeros((15, 3)), betas=np.zeros(10), grasp_probabilities=np.full(8, 1 / 8),
        intrinsics_estimated=False, hand_model="test",
    )  # fmt: skip


def ids_by_side(tracked) -> dict[str, int]:
    return {th.hand.side: th.track_id for th in tracked}


# ------------------------------------------------------------------------------------------------ ids
def test_left_and_right_hands_crossing_keep_their_ids():
    """Left hand moves right, right hand moves left along the same line at the same depth: at frame 20
    their wrists coincide and their crops overlap (IoU up to ~1) for several frames, so position alone is
    ambiguous there (a side-blind tracker swaps them for some noise draws). Ids never swap."""
    for seed in range(4):
        _cross(seed)


def _cross(seed: int) -> None:
    tracker = HandTracker()
    rng = np.random.default_rng(seed)
    ids, overlaps = [], []
    for k in range(41):
        s = -0.15 + 0.3 * k / 40
        left = make_hand("left", (s, 0.05, 0.5), noise_m=0.003, rng=rng)
        right = make_hand("right", (-s, 0.05, 0.5), noise_m=0.003, rng=rng)
        overlaps.append(box_iou(left.crop_box.as_xyxy(), right.crop_box.as_xyxy()))
        hands = [right, left] if k % 2 else [left, right]  # order of the detector's output changes
        ids.append(ids_by_side(tracker.update(hands, k / FPS, CAMERA)))
    assert max(overlaps) > 0.8 and sum(o > 0.3 for o in overlaps) >= 5  # the scenario really crosses
    assert all(d == ids[0] for d in ids) and ids[0]["left"] != ids[0]["right"]


def test_same_side_hands_crossing_at_different_depths_keep_their_ids():
    """Two right hands (two people) cross in the image, 0.35 m apart in depth: the 3D wrist distance
    keeps them apart while their boxes overlap."""
    tracker = HandTracker()
    first = None
    overlaps = []
    for k in range(40):
        s = -0.15 + 0.3 * k / 39
        near = make_hand("right", (s * 0.4 / 0.5, 0.05, 0.4))
        far = make_hand("right", (-s * 0.75 / 0.5, 0.05, 0.75))
        overlaps.append(box_iou(near.crop_box.as_xyxy(), far.crop_box.as_xyxy()))
        out = tracker.update([far, near] if k % 2 else [near, far], k / FPS)
        by_depth = {round(th.raw.keypoints_cam_m[0, 2], 2): th.track_id for th in out}
        first = first or by_depth
        assert by_depth == first
    assert max(overlaps) > 0.2


def test_hand_gone_briefly_keeps_its_id_and_long_absence_gives_a_new_one():
    tracker = HandTracker(TrackingConfig(max_age=5))
    path = [make_hand("right", (0.002 * k, 0.0, 0.5)) for k in range(60)]
    ids = {}
    for k in range(60):
        visible = not (10 <= k < 15 or 25 <= k < 32)  # gone 5 frames (= max_age), then 7 (> max_age)
        out = tracker.update([path[k]] if visible else [], k / FPS)
        if visible:
            ids[k] = out[0].track_id
    assert ids[9] == ids[15] == ids[24], "a hand gone for max_age frames keeps its id"
    assert ids[32] != ids[24] and ids[32] > ids[24], "gone longer than max_age: a new, larger id"
    assert len(set(ids[k] for k in range(32, 60))) == 1


def test_new_hand_gets_a_new_id_and_ids_never_repeat():
    tracker = HandTracker()
    a = tracker.update([make_hand("right", (0.1, 0, 0.5))], 0.0)[0].track_id
    out = tracker.update([make_hand("right", (0.1, 0, 0.5)), make_hand("left", (-0.15, 0, 0.5))], 1 / FPS)
    assert out[0].track_id == a and out[1].track_id not in (a, -1)
    # a second right hand far away (another person's): new id, the first keeps its own
    out = tracker.update(
        [
            make_hand("right", (0.1, 0, 0.5)),
            make_hand("left", (-0.15, 0, 0.5)),
            make_hand("right", (-0.2, 0.1, 0.9)),
        ],
        2 / FPS,
    )
    got = [th.track_id for th in out]
    assert got[:2] == [a, out[1].track_id] and got[2] > max(got[:2])
    tracker.reset()
    assert tracker.update([make_hand("right", (0.1, 0, 0.5))], 3 / FPS)[0].track_id > got[2]


def test_gates_refuse_far_jumps():
    """A hand of the same side appearing far away in the next frame (no box overlap, > distance gate)
    is a new hand."""
    tracker = HandTracker(TrackingConfig(distance_gate_m=0.1))
    a = tracker.update([make_hand("right", (0.15, 0, 0.5))], 0.0)[0].track_id
    b = tracker.update([make_hand("right", (-0.15, 0, 0.5))], 1 / FPS)[0].track_id
    assert a != b


# ------------------------------------------------------------------------------------------------ smoothing
def test_tracker_smooths_a_noisy_hand():
    rng = np.random.default_rng(3)
    tracker = HandTracker()
    raw, out, true = [], [], []
    for k in range(60):
        t = k / FPS
        wrist = (0.06 * math.sin(2 * math.pi * 0.3 * t), 0.02, 0.5 + 0.04 * math.sin(2 * math.pi * 0.2 * t))
        R = Rotation.from_rotvec([0.2 * math.sin(2 * math.pi * 0.25 * t), 0.4 * t, 0.0]).as_matrix()
        true.append(make_hand("right", wrist, R).keypoints_cam_m)
        h = make_hand("right", wrist, R, noise_m=0.006, rng=rng)
        th = tracker.update([h], t, CAMERA)[0]
        raw.append(h.keypoints_cam_m)
        out.append(th.hand.keypoints_cam_m)
        # mesh follows the smoothed wrist pose rigidly; 2D keypoints are the smoothed 3D ones projected
        s = th.hand
        expect = (h.vertices_cam_m - h.keypoints_cam_m[0]) @ (s.wrist_rotation @ h.wrist_rotation.T).T
        assert np.allclose(s.vertices_cam_m, expect + s.keypoints_cam_m[0], atol=1e-12)
        assert np.allclose(s.keypoints_px, CAMERA.project(s.keypoints_cam_m))
        assert th.raw is h and s.side == h.side and s.crop_box == h.crop_box
    raw, out, true = np.array(raw), np.array(out), np.array(true)

    def err(x):
        return np.linalg.norm(x - true, axis=-1).mean()

    def jitter(x):
        return np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean()

    assert err(raw) / err(out) > 1.2 and jitter(raw) / jitter(out) > 3.0


def test_constant_hand_passes_unchanged():
    tracker = HandTracker()
    h = make_hand("left", (-0.1, 0.05, 0.45), Rotation.from_rotvec([0.3, 0.2, -1.0]).as_matrix())
    for k in range(10):
        s = tracker.update([h], k / FPS, CAMERA)[0].hand
        assert np.allclose(s.keypoints_cam_m, h.keypoints_cam_m, atol=1e-12)
        assert np.allclose(s.vertices_cam_m, h.vertices_cam_m, atol=1e-12)
        assert np.allclose(s.wrist_rotation, h.wrist_rotation, atol=1e-12)


def test_off_switches():
    rng = np.random.default_rng(0)
    hands = [make_hand("right", (0.001 * k, 0, 0.5), noise_m=0.005, rng=rng) for k in range(5)]
    off = HandTracker(TrackingConfig(enabled=False))
    for k, h in enumerate(hands):
        th = off.update([h], k / FPS)[0]
        assert th.track_id == -1 and th.hand is h
    ids_only = HandTracker(TrackingConfig(smoothing=False))
    out = [ids_only.update([h], k / FPS)[0] for k, h in enumerate(hands)]
    assert len({th.track_id for th in out}) == 1 and all(th.hand is h for th, h in zip(out, hands))


@pytest.mark.parametrize(
    "kwargs, text",
    [({"max_age": -1}, "max_age=-1"), ({"redetect_every": 0}, "redetect_every=0"),
     ({"iou_gate": 1.5}, "iou_gate=1.5"), ({"distance_gate_m": 0.0}, "distance_gate_m=0.0"),
     ({"smoothing": 1}, "smoothing=1"), ({"position_filter": {"beta": 1}}, "position_filter")],
)  # fmt: skip
def test_config_is_validated(kwargs, text):
    with pytest.raises(ValueError, match=text):
        TrackingConfig(**kwargs)


# ------------------------------------------------------------------------------------------------ crops
def test_boxes_from_previous_cover_the_projected_keypoints():
    h = make_hand("left", (-0.05, 0.05, 0.5), score=0.8)
    (box,) = boxes_from_previous([h], SIZE, margin=0.1)
    assert isinstance(box, HandBox) and box.side == "left" and box.score == pytest.approx(0.8)
    assert box.previous is h  # the hand it was carried over from (a tracked start of the fit)
    lo, hi = h.keypoints_px.min(0), h.keypoints_px.max(0)
    x0, y0, x1, y1 = box.xyxy_px
    assert np.allclose([x0, y0], lo - 0.1 * (hi - lo)) and np.allclose([x1, y1], hi + 0.1 * (hi - lo))
    # clipped at the border; a hand outside the image gives no box
    edge = make_hand("right", (0.33, 0.0, 0.5))
    (b,) = boxes_from_previous([edge], SIZE)
    assert b.xyxy_px[2] == SIZE[0] and b.xyxy_px[0] < SIZE[0]
    outside = dataclasses.replace(edge, keypoints_px=edge.keypoints_px + 1000.0)
    assert boxes_from_previous([outside], SIZE) == []


def test_crops_from_previous_hands_change_size_by_a_bounded_factor():
    """A hand seen at half its size must not halve the next crop (which would shrink it frame after
    frame); the crop follows within max_box_scale_change, and not at all without the bound."""
    h = make_hand("left", (-0.05, 0.05, 0.5))
    small = dataclasses.replace(
        h, keypoints_px=h.keypoints_px.mean(0) + 0.5 * (h.keypoints_px - h.keypoints_px.mean(0))
    )
    (free,) = boxes_from_previous([small], SIZE, margin=0.0)
    (bounded,) = boxes_from_previous([small], SIZE, margin=0.0, box_scale=1.5, max_scale_change=0.15)
    longest = lambda b: max(b.xyxy_px[2] - b.xyxy_px[0], b.xyxy_px[3] - b.xyxy_px[1])  # noqa: E731
    previous = h.crop_box.size / 1.5
    assert longest(free) < 0.7 * previous
    assert longest(bounded) == pytest.approx(0.85 * previous)
    assert np.allclose(
        np.add(*np.split(np.asarray(bounded.xyxy_px), 2)), np.add(*np.split(np.asarray(free.xyxy_px), 2))
    )
    with pytest.raises(ValueError, match="max_box_scale_change"):
        TrackingConfig(max_box_scale_change=1.5)


def test_detection_schedule():
    """redetect_every=3: the detector runs on frames 0, 3, 6...; crops come from the previous frame in
    between; a lost track or no hand asks for the detector at once."""
    tracker = HandTracker(TrackingConfig(redetect_every=3))
    schedule = []
    for k in range(7):
        detect = tracker.needs_detection()
        schedule.append(detect)
        if not detect:
            boxes = tracker.boxes_for_next_frame(SIZE)
            assert [b.side for b in boxes] == ["right", "left"]
        tracker.update(
            [make_hand("right", (0.1, 0, 0.5)), make_hand("left", (-0.1, 0, 0.5))], k / FPS, detected=detect
        )
    assert schedule == [True, False, False, True, False, False, True]
    tracker.update([make_hand("right", (0.1, 0, 0.5))], 1.0, detected=False)  # the left hand is lost
    assert tracker.needs_detection()
    assert HandTracker(TrackingConfig(redetect_every=1)).needs_detection()


def test_an_invalid_hand_passes_raw_and_does_not_stop_the_tracker():
    tracker = HandTracker()
    good = make_hand("right", (0.1, 0, 0.5))
    bad = dataclasses.replace(good, wrist_rotation=np.zeros((3, 3)))
    a = tracker.update([good], 0.0)[0]
    b = tracker.update([bad], 1 / FPS)[0]
    assert b.track_id == a.track_id and b.hand is bad
    c = tracker.update([good], 2 / FPS)[0]
    assert c.track_id == a.track_id and np.allclose(c.hand.keypoints_cam_m, good.keypoints_cam_m)


def test_a_track_shares_its_shape_over_frames():
    """The track's β is the running mean of its hands' fitted β; shape_for_box hands it to the next frame's
    box of the same hand (same side, overlapping), and to no other."""
    tracker = HandTracker(TrackingConfig(shape_window=4))
    rng = np.random.default_rng(0)
    betas = []
    for k in range(6):
        hand = dataclasses.replace(
            make_hand("right", (0.05 + 0.002 * k, 0.02, 0.4)), betas=rng.normal(0, 1, 10)
        )
        betas.append(hand.betas)
        tracker.update([hand], k / FPS, CAMERA)
    box = tracker.boxes_for_next_frame(SIZE)[0]
    shared = tracker.shape_for_box(box)
    assert shared is not None and not np.allclose(shared, betas[-1])
    mean_all, mean_last4 = np.mean(betas, axis=0), np.mean(betas[-4:], axis=0)
    assert np.linalg.norm(shared - mean_last4) < np.linalg.norm(shared - betas[-1])
    assert np.linalg.norm(shared - mean_all) < 1.0  # a running mean, not the last frame
    assert tracker.shape_for_box(dataclasses.replace(box, side="left")) is None
    far = HandBox((0.0, 0.0, 30.0, 30.0), "right")
    assert tracker.shape_for_box(far) is None
    # with_shapes: each box with its own (the node's and the pipeline bench's one call)
    with_shape, without = tracker.with_shapes([box, far])
    assert np.array_equal(with_shape.betas, shared) and without.betas is None
    assert with_shape.xyxy_px == box.xyxy_px and with_shape.previous is box.previous
    with pytest.raises(ValueError, match="shape_window"):
        TrackingConfig(shape_window=0)
