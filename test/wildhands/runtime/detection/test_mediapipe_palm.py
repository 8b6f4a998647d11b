"""The MediaPipe hand detector on real hands (InterHand2.6M), the rendered sample, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from detector_models import needs_detector_models

from wildhands.runtime.detection import build_detector
from wildhands.runtime.pipeline import HandBox

REPO = Path(__file__).resolve().parents[4]
INTERHAND = REPO / "test" / "data" / "interhand2.6m"
SAMPLE = REPO / "wildhands" / "assets" / "sample"
MP_REFERENCE = REPO / "test" / "data" / "mediapipe" / "reference.json"

pytestmark = needs_detector_models


@pytest.fixture(scope="module")
def detector():
    return build_detector("mediapipe")


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _grow(box, margin: float):
    """The joints' box grown as the detector grows its landmark box."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def _mirror(box, width: float):
    x0, y0, x1, y1 = box
    return (width - x1, y0, width - x0, y1)


def _expected():
    return json.loads((INTERHAND / "expected.json").read_text())


def _assert_matches(
    found: list[HandBox], truth: list[dict], margin: float, mirror_width: float | None = None
):
    """Every detection overlaps one annotated hand with IoU >= 0.5 and has its side; at least one found."""
    assert found, "no hand detected"
    flip = {"left": "right", "right": "left"}
    for box in found:
        candidates = []
        for hand in truth:
            gt = _grow(hand["joints_box_xyxy"], margin)
            side = hand["side"]
            if mirror_width is not None:
                gt, side = _mirror(gt, mirror_width), flip[side]
            candidates.append((_iou(box.xyxy_px, gt), side))
        iou, side = max(candidates)
        assert iou >= 0.5, f"{box} overlaps no annotated hand (best IoU {iou:.2f})"
        assert box.side == side, f"{box}: expected side {side}"


@pytest.mark.parametrize("name", ["image29590.jpg", "image44669.jpg"])
def test_finds_real_hands_with_their_side(detector, name):
    truth = _expected()[name]
    image = _rgb(INTERHAND / name)
    found = detector.detect(image)
    _assert_matches(found, truth["hands"], detector.box_margin)
    assert [b.score for b in found] == sorted((b.score for b in found), reverse=True)
    for box in found:
        assert 0.5 <= box.score <= 1.0 and 0.5 <= box.side_score <= 1.0


@pytest.mark.parametrize("name", ["image29590.jpg", "image44669.jpg"])
def test_mirrored_image_swaps_the_side(detector, name):
    truth = _expected()[name]
    image = _rgb(INTERHAND / name)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    found = detector.detect(mirrored)
    _assert_matches(found, truth["hands"], detector.box_margin, mirror_width=image.shape[1])
    sides = [b.side for b in detector.detect(image)]
    assert sorted(sides) == sorted({"left": "right", "right": "left"}[s] for s in [b.side for b in found])


def test_single_left_hand_exactly(detector):
    """One hand in the image: exactly one box, left, confident."""
    found = detector.detect(_rgb(INTERHAND / "image29590.jpg"))
    assert len(found) == 1
    assert found[0].side == "left" and found[0].side_score > 0.9


def test_mirrored_input_keeps_mediapipe_label():
    selfie = build_detector("mediapipe", mirrored_input=True)
    found = selfie.detect(_rgb(INTERHAND / "image29590.jpg"))
    assert [b.side for b in found] == ["right"]


def test_landmarks_agree_with_the_mediapipe_package(detector):
    """Our re-implementation against mediapipe==0.10.21's own output (recorded in a separate venv)."""
    reference = json.loads(MP_REFERENCE.read_text())
    for rel, ref_hands in reference["images"].items():
        ours = detector.detect_with_landmarks(_rgb(REPO / rel))
        assert len(ours) == len(ref_hands), rel
        for ref in ref_hands:
            ref_pts = np.asarray(ref["landmarks_px"])
            # the hand of ours nearest to the reference hand
            errs = [np.linalg.norm(h.landmarks_px[:, :2] - ref_pts, axis=1).mean() for h in ours]
            hand = ours[int(np.argmin(errs))]
            size = np.ptp(ref_pts, axis=0).max()
            assert min(errs) < 0.05 * size, (
                f"{rel}: mean landmark error {min(errs):.1f} px (hand {size:.0f} px)"
            )
            # MediaPipe's label is for a mirrored image: its "Left" is the person's right hand here
            assert hand.box.side == {"Left": "right", "Right": "left"}[ref["label_selfie"]]


def test_landmarks_and_box_are_consistent(detector):
    (hand,) = detector.detect_with_landmarks(_rgb(INTERHAND / "image29590.jpg"))
    assert hand.landmarks_px.shape == (21, 3) and hand.landmarks_world_m.shape == (21, 3)
    x0, y0, x1, y1 = hand.box.xyxy_px
    assert np.all(hand.landmarks_px[:, 0] >= x0) and np.all(hand.landmarks_px[:, 0] <= x1)
    assert np.all(hand.landmarks_px[:, 1] >= y0) and np.all(hand.landmarks_px[:, 1] <= y1)
    # world landmarks are metres: a hand spans 5-30 cm
    assert 0.05 < np.ptp(hand.landmarks_world_m, axis=0).max() < 0.3
    assert 0.5 <= hand.presence <= 1.0


def test_rendered_sample(detector):
    """Our procedural hands: both found with the right side; the left box matches the rendered one."""
    truth = json.loads((SAMPLE / "hands.json").read_text())["hands"]
    found = detector.detect(_rgb(SAMPLE / "image.png"))
    assert sorted(b.side for b in found) == ["left", "right"]
    for box in found:
        gt = next(h["box_xyxy"] for h in truth if h["side"] == box.side)
        cx, cy = (box.xyxy_px[0] + box.xyxy_px[2]) / 2, (box.xyxy_px[1] + box.xyxy_px[3]) / 2
        assert gt[0] < cx < gt[2] and gt[1] < cy < gt[3]
    left = next(b for b in found if b.side == "left")
    assert _iou(left.xyxy_px, next(h["box_xyxy"] for h in truth if h["side"] == "left")) > 0.5


@pytest.mark.parametrize("kind", ["black", "white", "noise", "background"])
def test_no_hands_gives_empty_list(detector, kind):
    rng = np.random.default_rng(0)
    if kind == "black":
        image = np.zeros((480, 640, 3), np.uint8)
    elif kind == "white":
        image = np.full((480, 640, 3), 255, np.uint8)
    elif kind == "noise":
        image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:  # the sample's wall, box and plate, above the table
        image = np.ascontiguousarray(_rgb(SAMPLE / "image.png")[:240])
    assert detector.detect(image) == []
    assert detector.detect_with_landmarks(image) == []


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((1, 640, 3), np.uint8),
        np.zeros((480, 640), np.uint8),
        np.zeros((480, 640, 4), np.uint8),
        np.zeros((480, 640, 3), np.float32),
        [[0, 0, 0]],
        None,
    ],
    ids=["empty", "one-row", "grey", "rgba", "float", "list", "none"],
)
def test_bad_input_raises(detector, image):
    with pytest.raises(ValueError):
        detector.detect(image)


def test_odd_sizes_and_views(detector):
    """Non-contiguous views and tiny or very wide images are fine."""
    image = _rgb(INTERHAND / "image29590.jpg")
    assert len(detector.detect(image[:, ::-1])) == 1  # a negative-stride view
    assert detector.detect(np.zeros((3, 2000, 3), np.uint8)) == []
    assert detector.detect(np.zeros((2, 2, 3), np.uint8)) == []


def test_max_hands_limits_the_output():
    one = build_detector("mediapipe", max_hands=1)
    assert len(one.detect(_rgb(SAMPLE / "image.png"))) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score_threshold": 1.5},
        {"nms_iou": -0.1},
        {"max_hands": 0},
        {"max_hands": 1.5},
        {"box_margin": 2.0},
        {"threads": 0},
        {"no_such_option": 1},
    ],
)
def test_bad_options_raise(kwargs):
    with pytest.raises(ValueError):
        build_detector("mediapipe", **kwargs)


def test_concurrent_calls_agree_with_sequential(detector):
    from concurrent.futures import ThreadPoolExecutor

    images = [_rgb(INTERHAND / "image29590.jpg"), _rgb(SAMPLE / "image.png")] * 3
    sequential = [detector.detect(im) for im in images]
    with ThreadPoolExecutor(3) as pool:
        parallel = list(pool.map(detector.detect, images))
    assert parallel == sequential
