"""The node with its own hand detector (detector:=mediapipe, the default) and no hand_boxes, in this process
with real rclpy on loopback: the bundled sample gives a HandArray with one left and one right hand whose crop
boxes sit on the sample's ground-truth boxes (hands.json)."""

from __future__ import annotations

import numpy as np
import pytest
import ros_harness
from detector_models import detector_models_missing
from rclpy.parameter import Parameter
from ros_harness import Harness

from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes
from wildhands_ros.msg import Hand

# Own namespace (every Harness has one): the session `harness` (detector none) lives in this process too.
NAMESPACE = "/detector_test"


@pytest.fixture(scope="module")
def detector_harness(ros_context, sample):
    reason = detector_models_missing(check_hash=True, litert=False)
    if reason:
        pytest.skip(reason)
    params = {"detector": "mediapipe", "detector_score_threshold": 0.5, "max_hands": 2}
    h = Harness(sample, params, namespace=NAMESPACE)
    h._sec = 70_000  # stamps apart from the other harness's
    yield h
    h.close()


def test_detector_finds_both_sample_hands(detector_harness):
    h = detector_harness
    assert h.node.detector is not None, "the node started without its detector: " + str(h.node.health.info)
    assert h.node.get_fully_qualified_name() == f"{NAMESPACE}/wildhands_node"
    header = h.send(boxes=False)  # image + camera_info only: boxes must come from the node's detector
    msg = h.hands_for(header, timeout=20.0)
    assert msg is not None, "no HandArray from the node with detector:=mediapipe"
    assert msg.header.stamp == header.stamp and msg.header.frame_id == ros_harness.FRAME
    assert len(msg.hands) == 2, [(x.side, x.detection_confidence) for x in msg.hands]
    assert sorted(x.side for x in msg.hands) == [Hand.SIDE_LEFT, Hand.SIDE_RIGHT]

    _, entries = load_hand_boxes(SAMPLE_DIR / "hands.json")
    gt = {e["side"]: np.asarray(e["box_xyxy"], dtype=np.float64) for e in entries}
    expected_score = {"left": 0.84, "right": 0.61}  # MediaPipe palm scores on this rendered sample
    for hand in msg.hands:
        side = "left" if hand.side == Hand.SIDE_LEFT else "right"
        x0, y0, x1, y1 = gt[side]
        assert hand.detection_confidence < 1.0, "score 1 = a box from hand_boxes, not from the detector"
        assert abs(hand.detection_confidence - expected_score[side]) < 0.1, (side, hand.detection_confidence)
        cx, cy = hand.crop_x + hand.crop_size / 2, hand.crop_y + hand.crop_size / 2
        assert x0 <= cx <= x1 and y0 <= cy <= y1, (
            f"{side} crop centre ({cx:.1f}, {cy:.1f}) not in gt {gt[side]}"
        )
        # the crop (box_scale x the detected box) covers most of the gt box
        ix = max(0.0, min(x1, hand.crop_x + hand.crop_size) - max(x0, hand.crop_x))
        iy = max(0.0, min(y1, hand.crop_y + hand.crop_size) - max(y0, hand.crop_y))
        assert ix * iy > 0.8 * (x1 - x0) * (y1 - y0), f"{side} crop covers too little of the gt box"
        kp = np.array([[p.x, p.y, p.z] for p in hand.keypoints_3d])
        assert np.all(np.isfinite(kp)) and np.all(kp[:, 2] > 0)
        uv = np.asarray(hand.keypoints_2d, dtype=np.float64).reshape(21, 2)
        assert np.abs(h.camera.project(kp) - uv).max() < 1.0
    assert h.node.health.info.get("detector") == "mediapipe"


def test_redetect_every_runs_the_detector_on_every_nth_frame(detector_harness):
    """redetect_every=3: in between, crops come from the previous frame's hands, and both hands keep coming
    with their track ids; redetect_every=1 runs the detector on every frame (the count can fail)."""
    h = detector_harness
    node = h.node
    calls = []
    detect = node.detector.detect
    node.detector.detect = lambda rgb: calls.append(1) or detect(rgb)  # count, do not replace
    try:
        assert node.set_parameters([Parameter("redetect_every", value=3)])[0].successful
        first = h.hands_for(h.send(boxes=False), timeout=20.0)  # settles the tracks
        assert first is not None and len(first.hands) == 2
        ids = {x.side: x.track_id for x in first.hands}
        calls.clear()
        for _ in range(6):
            msg = h.hands_for(h.send(boxes=False), timeout=20.0)
            assert msg is not None and len(msg.hands) == 2, "a frame without detection lost its hands"
            assert {x.side: x.track_id for x in msg.hands} == ids
            for hand in msg.hands:  # crops around the hands, from the detector or from the last frame
                assert hand.crop_size > 20
        assert len(calls) == 2, f"detector ran {len(calls)} times in 6 frames with redetect_every=3"
        assert node.set_parameters([Parameter("redetect_every", value=1)])[0].successful
        calls.clear()
        for _ in range(3):
            assert h.hands_for(h.send(boxes=False), timeout=20.0) is not None
        assert len(calls) == 3
    finally:
        node.detector.detect = detect
        node.set_parameters([Parameter("redetect_every", value=1)])
