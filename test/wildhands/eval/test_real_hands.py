"""The real-image fixtures and their loader (wildhands.eval.real_hands), the MediaPipe + PnP peer's PnP
step, the scores (which must be wildhands.eval.metrics'), and bench/real_hands.py's registry and scoring
loop on an oracle method."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from bench_scripts import load_bench
from detector_models import needs_detector_models

from wildhands.eval import metrics
from wildhands.eval.real_hands import (
    INTERHAND_TO_OURS,
    REAL_HANDS_DIR,
    RHD_TO_OURS,
    HandTruth,
    Sample,
    hand_box_xyxy,
    load_real_hands,
    pnp_keypoints_cam,
    samples_from_truth,
    sequence_samples,
    tight_box,
    tracking_rect,
)
from wildhands.eval.scoring import score_hand, summarise_scores
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel.keypoints import FINGER_KEYPOINTS, NUM_KEYPOINTS, SKELETON_EDGES

REPO = Path(__file__).resolve().parents[3]
FIXTURE_SIZE_LIMIT = 2_000_000  # bytes, all real-hand fixtures together


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_real_hands()


def _by_set(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.dataset == name]


def test_fixtures_counts_shapes_and_size(samples):
    inter, coco = _by_set(samples, "interhand2.6m"), _by_set(samples, "coco_wholebody")
    assert len(samples) == len(inter) + len(coco) == 8
    assert (len(inter), sum(len(s.hands) for s in inter)) == (4, 6)
    assert (len(coco), sum(len(s.hands) for s in coco)) == (4, 10)
    for s in samples:
        assert s.image.dtype == np.uint8 and s.image.ndim == 3 and s.image.shape[2] == 3
        assert not s.synthetic
        for h in s.hands:
            assert h.side in ("left", "right")
            assert h.keypoints_px.shape == (NUM_KEYPOINTS, 2) and h.valid.shape == (NUM_KEYPOINTS,)
            assert h.valid.sum() >= 10
            uv = h.keypoints_px[h.valid]
            assert np.all(uv > -1) and np.all(uv < [s.width, s.height])
            np.testing.assert_allclose(h.box_xyxy_px, tight_box(h.keypoints_px, h.valid), atol=0.011)
            box = hand_box_xyxy(h, s.width, s.height)
            assert box is not None and box[0] <= h.box_xyxy_px[0] and box[2] >= h.box_xyxy_px[2]
    for s in inter:
        assert s.camera is not None and all(h.has_3d for h in s.hands)
    for s in coco:
        assert s.camera is None and not any(h.has_3d for h in s.hands)
    sides = sorted(h.side for s in inter for h in s.hands)
    assert sides == ["left", "left", "left", "right", "right", "right"]
    total = sum(p.stat().st_size for p in REAL_HANDS_DIR.rglob("*") if p.is_file())
    assert total < FIXTURE_SIZE_LIMIT
    for folder in (p.parent for p in REAL_HANDS_DIR.glob("*/truth.json")):
        assert (folder / "README.md").is_file() and (folder / "make_truth.py").is_file()
        assert "icence" in (folder / "README.md").read_text()


def test_3d_truth_projects_onto_2d_truth(samples):
    """With the real K, the 3D joints (camera frame, m) land on the 2D truth."""
    checked = 0
    for s in _by_set(samples, "interhand2.6m"):
        for h in s.hands:
            uv = s.camera.project(h.keypoints_cam_m[h.valid])
            err = np.linalg.norm(uv - h.keypoints_px[h.valid], axis=1)
            assert err.max() < 0.5, (s.name, h.side, err.max())
            checked += 1
    assert checked == 6


def test_3d_truth_is_a_hand_in_metres_in_our_order(samples):
    """Wrong units, a wrong joint order or a wrong camera transform break these bounds."""
    for s in _by_set(samples, "interhand2.6m"):
        for h in s.hands:
            k = h.keypoints_cam_m
            assert 0.5 < k[0, 2] < 2.0  # the capture dome: hands ~1 m from the cameras
            for parent, child in SKELETON_EDGES:
                bone = np.linalg.norm(k[child] - k[parent])
                if parent == 0:  # wrist -> each finger's base
                    assert 0.02 < bone < 0.11, (s.name, h.side, parent, child, bone)
                else:
                    assert 0.01 < bone < 0.06, (s.name, h.side, parent, child, bone)
            # palm width: index MCP <-> pinky MCP, 4-10 cm
            width = np.linalg.norm(k[FINGER_KEYPOINTS["index"][0]] - k[FINGER_KEYPOINTS["pinky"][0]])
            assert 0.04 < width < 0.10


def test_index_maps_are_permutations_with_the_wrist_first():
    for m in (INTERHAND_TO_OURS, RHD_TO_OURS):
        assert sorted(m) == list(range(NUM_KEYPOINTS))
    assert INTERHAND_TO_OURS[0] == 20 and INTERHAND_TO_OURS[4] == 0  # wrist last, thumb tip first
    assert RHD_TO_OURS[0] == 0 and RHD_TO_OURS[4] == 1  # thumb tip right after the wrist


def test_truth_round_trip_and_missing_keypoints(tmp_path):
    """``null`` keypoints load as invalid NaN rows; the tight box ignores them."""
    image = np.zeros((40, 60, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    uv = [[10.0 + i, 20.0] for i in range(21)]
    uv[3] = None
    truth = {
        "dataset": "toy",
        "images": [
            {
                "file": "a.png",
                "width": 60,
                "height": 40,
                "K": None,
                "hands": [{"side": None, "keypoints_px": uv, "box_xyxy": [10, 20, 30, 20]}],
            }
        ],
    }
    (s,) = samples_from_truth(json.loads(json.dumps(truth)), tmp_path)
    (h,) = s.hands
    assert s.camera is None and h.side is None and not h.has_3d
    assert h.valid.sum() == 20 and not h.valid[3] and np.isnan(h.keypoints_px[3]).all()


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@pytest.mark.parametrize("distortion", ["none", "plumb_bob"])
def test_pnp_recovers_exact_hand_within_a_millimetre(distortion):
    """World landmarks = the true hand, wrist-centred and arbitrarily rotated; 2D = its exact projection:
    PnP must give back the camera-frame hand."""
    rng = np.random.default_rng(3)
    seq = sequence_samples(every=9)
    D = [0.12, -0.25, 0.001, -0.002, 0.08] if distortion == "plumb_bob" else None
    for s in seq:
        camera = CameraModel.from_K(s.camera.K, s.width, s.height, D=D, distortion_model=distortion)
        for h in s.hands:
            truth = h.keypoints_cam_m
            world = (truth - truth[0]) @ _rotation(rng).T  # a hand frame: any rigid motion of the hand
            uv = camera.project(truth)
            got = pnp_keypoints_cam(world, uv, camera)
            assert got is not None
            err_mm = 1000 * np.linalg.norm(got - truth, axis=1).max()
            assert err_mm < 1.0, (s.name, h.side, err_mm)


def test_pnp_is_sensitive_to_the_shape_scale():
    """A world shape 20 % too large puts the hand ~20 % too far: the lift's depth comes from the scale."""
    (s,) = sequence_samples(every=100)
    truth = s.hands[0].keypoints_cam_m
    got = pnp_keypoints_cam(1.2 * (truth - truth[0]), s.camera.project(truth), s.camera)
    ratio = got[0, 2] / truth[0, 2]
    assert 1.15 < ratio < 1.25


def test_scores_are_the_metrics_modules():
    rng = np.random.default_rng(0)
    (s,) = sequence_samples(every=100)
    h = s.hands[0]
    valid = np.ones(21, bool)
    valid[[4, 7]] = False
    truth = HandTruth(h.side, h.keypoints_px, valid, h.keypoints_cam_m)
    pred = {
        "keypoints_px": h.keypoints_px + rng.normal(scale=3.0, size=(21, 2)),
        "keypoints_cam_m": h.keypoints_cam_m + rng.normal(scale=0.01, size=(21, 3)),
    }
    sc = score_hand(pred, truth)
    p, g, v = pred["keypoints_cam_m"][None], h.keypoints_cam_m[None], valid[None]
    assert sc["found"]
    assert sc["kp2d_px"] == pytest.approx(metrics.kp2d_error_px(pred["keypoints_px"], h.keypoints_px, v)[0])
    assert sc["kp2d_rel"] == pytest.approx(sc["kp2d_px"] / truth.size_px)
    assert sc["pa_mpjpe_mm"] == pytest.approx(metrics.pa_mpjpe_mm(p, g, v)[0])
    assert sc["mpjpe_mm"] == pytest.approx(metrics.mpjpe_mm(p, g, root=0, valid=v)[0])
    assert sc["wrist_mm"] == pytest.approx(metrics.root_error_mm(p, g)[0])
    # a pure translation: no shape error, the whole offset at the wrist; invalid joints do not count
    shifted = h.keypoints_cam_m + [0.03, 0.0, 0.04]
    bad_px = h.keypoints_px.copy()
    bad_px[4] += 500  # an unlabelled keypoint
    sc = score_hand({"keypoints_px": bad_px + [3.0, 4.0], "keypoints_cam_m": shifted}, truth)
    assert sc["kp2d_px"] == pytest.approx(5.0)
    assert sc["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert sc["mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert sc["wrist_mm"] == pytest.approx(50.0)
    # 2D-only truth, a missing hand
    only2d = HandTruth(h.side, h.keypoints_px, valid)
    assert math.isnan(score_hand(pred, only2d)["pa_mpjpe_mm"])
    missing = score_hand(None, truth)
    assert not missing["found"] and math.isnan(missing["kp2d_px"])
    summary = summarise_scores([score_hand(pred, truth), missing])
    assert (summary["hands"], summary["found"], summary["pa_mpjpe_mm_n"]) == (2, 1, 1)


def test_tracking_rect_follows_the_hand_direction():
    """MediaPipe's rect rotation points the wrist -> middle MCP direction up the crop."""
    up = np.zeros((21, 2))
    up[:, 0] = np.linspace(-10, 10, 21)
    up[:, 1] = -np.linspace(0, 60, 21)  # fingers up (image y down)
    up[0] = [0.0, 0.0]
    up[9] = [0.0, -50.0]
    _, size, rot = tracking_rect(up + 100)
    assert abs(rot) < 1e-9 and size > 0
    # the same hand turned 90 degrees (fingers pointing to +x): rotation +-pi/2
    turned = np.stack([-up[:, 1], up[:, 0]], axis=1)
    _, size2, rot2 = tracking_rect(turned + 100)
    assert abs(abs(rot2) - math.pi / 2) < 1e-9 and size2 == pytest.approx(size)


def _bench():
    return load_bench("real_hands")


def test_bench_registry_and_oracle_scores(samples):
    bench = _bench()
    assert {"image_model", "mediapipe_pnp", "mediapipe_palm_pnp"} <= set(bench.METHODS)

    def oracle(sample, hand):
        return {"keypoints_px": hand.keypoints_px, "keypoints_cam_m": hand.keypoints_cam_m}

    def blind(sample, hand):
        return None

    evaluated = bench.evaluate({"oracle": oracle, "blind": blind}, samples, progress=False)
    res = evaluated["methods"]
    assert len(evaluated["per_hand"]) == 16 and evaluated["per_hand"][0]["blind"]["found"] is False
    inter = res["oracle"]["sets"]["interhand2.6m"]
    assert (inter["hands"], inter["found"]) == (6, 6)
    for key in ("kp2d_px", "pa_mpjpe_mm", "mpjpe_mm", "wrist_mm"):
        assert inter[key] == pytest.approx(0.0, abs=1e-6)
    coco = res["oracle"]["sets"]["coco_wholebody"]
    assert coco["kp2d_px"] == 0.0 and coco["pa_mpjpe_mm"] is None
    assert res["blind"]["sets"]["interhand2.6m"]["found"] == 0


@needs_detector_models
def test_landmarks_on_the_box_crop_land_on_the_truth(samples):
    """The landmark model run on a given rect (our pixel convention in and out) finds the clear InterHand
    hands within 10 % of their size, and its tracking re-crop keeps them."""
    from wildhands.eval.real_hands import landmarks_on_rect
    from wildhands.geometry.crop import square_box_from_xyxy
    from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector

    det = MediaPipeHandDetector(threads=1)
    inter = {s.name: s for s in _by_set(samples, "interhand2.6m")}
    s = inter["image2017.jpg"]
    h = s.hands[0]
    crop = square_box_from_xyxy(hand_box_xyxy(h, s.width, s.height), (s.width, s.height), scale=1.5)
    lm = landmarks_on_rect(det, s.image, crop.center, crop.size)
    assert lm["presence"] > 0.9 and lm["side"] == "right"
    assert score_hand({"keypoints_px": lm["landmarks_px"]}, h)["kp2d_rel"] < 0.1
    centre, size, rotation = tracking_rect(lm["landmarks_px"])
    again = landmarks_on_rect(det, s.image, centre, size, rotation)
    assert again["presence"] > 0.9
    assert score_hand({"keypoints_px": again["landmarks_px"]}, h)["kp2d_rel"] < 0.1
    assert again["landmarks_world_m"].shape == (21, 3)


@needs_detector_models
def test_world_landmarks_turn_with_the_hand_in_the_image(samples):
    """The landmark network answers in its rotated crop's axes; the detector turns its world landmarks
    back by the crop's rotation, as MediaPipe's graph does (``world_to_image_axes``): the same hand in the
    image turned by 90 deg gives world landmarks turned by 90 deg about the optical axis (the network sees
    the same crop either way, so without the turn they would be the same)."""
    from wildhands.eval.real_hands import landmarks_on_rect
    from wildhands.geometry.perspective_crop import roll_matrix
    from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector
    from wildhands.runtime.refine import kabsch

    def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
        r = kabsch(a - a[0], b - b[0])
        return math.degrees(math.acos(np.clip((np.trace(r) - 1) / 2, -1, 1)))

    det = MediaPipeHandDetector(threads=1)
    s = {s.name: s for s in _by_set(samples, "interhand2.6m")}["image2017.jpg"]
    centre, size, rotation = tracking_rect(s.hands[0].keypoints_px)
    upright = landmarks_on_rect(det, s.image, centre, size, rotation)["landmarks_world_m"]
    turned_image = np.ascontiguousarray(np.rot90(s.image, k=-1))  # 90 deg clockwise: (x, y) -> (H-1-y, x)
    turned_centre = np.array([s.height - 1 - centre[1], centre[0]])
    turned = landmarks_on_rect(det, turned_image, turned_centre, size, rotation + math.pi / 2)
    world = turned["landmarks_world_m"]
    assert angle_deg(upright @ roll_matrix(math.pi / 2).T, world) < 8.0
    assert angle_deg(upright, world) > 80.0


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_a_turned_sample_keeps_its_truth_on_its_image(samples, quarter_turns):
    """``turned_sample``: the image, 2D and 3D truth and camera turned together -- the turned 3D truth
    projects onto the turned 2D truth through the turned camera, as it did before the turn, and the pixels
    under a keypoint stay the same."""
    from wildhands.eval.real_hands import turned_sample

    s = _by_set(samples, "interhand2.6m")[0]
    t = turned_sample(s, quarter_turns)
    assert t.image.shape == (np.rot90(s.image, k=-quarter_turns)).shape
    for h0, h in zip(s.hands, t.hands):
        ok = h.valid
        uv = t.camera.project(h.keypoints_cam_m[ok])
        before = np.abs(s.camera.project(h0.keypoints_cam_m[ok]) - h0.keypoints_px[ok]).max()
        assert np.abs(uv - h.keypoints_px[ok]).max() < before + 1e-6
        if quarter_turns % 2:
            assert not np.allclose(h.keypoints_px[ok], h0.keypoints_px[ok])
        p0, p = np.rint(h0.keypoints_px[0]).astype(int), np.rint(h.keypoints_px[0]).astype(int)
        np.testing.assert_array_equal(t.image[p[1], p[0]], s.image[p0[1], p0[0]])
    assert turned_sample(s, 4).image.shape == s.image.shape
