"""VIDEO mode (issue 19, item 1): a tracked hand's landmark pass looks where its previous frame's keypoints
were, without the palm detector; a lost track or a missing hand brings the palm detector back; the
mirrored palm pass runs only when the first pass found fewer than ``max_hands`` hands. Counted on the real
LiteRT models with the bundled 2-hand sample."""

from __future__ import annotations

import numpy as np
import pytest
from detector_models import needs_detector_models

from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb
from wildhands.runtime.pipeline import Pipeline, PipelineConfig
from wildhands.runtime.tracking import HandTracker, TrackingConfig

pytestmark = needs_detector_models


@pytest.fixture(scope="module")
def setup():
    pipeline = Pipeline(PipelineConfig(weights="default"))
    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    return pipeline, image, camera


class _Counted:
    """Counts the palm-model and landmark-model calls of a detector (wraps, does not replace)."""

    def __init__(self, detector):
        self.detector, self.palm, self.landmark = detector, 0, 0
        self._run_palm, self._landmark_pass = detector._run_palm, detector._landmark_pass

        def palm(*a, **k):
            self.palm += 1
            return self._run_palm(*a, **k)

        def landmark(*a, **k):
            self.landmark += 1
            return self._landmark_pass(*a, **k)

        detector._run_palm, detector._landmark_pass = palm, landmark

    def close(self):
        self.detector._run_palm, self.detector._landmark_pass = self._run_palm, self._landmark_pass


@pytest.fixture
def counted(setup):
    """The pipeline's detector with its model calls counted (put back afterwards), and a tracker that asks
    for the detector only when it must."""
    pipeline = setup[0]
    count = _Counted(pipeline.landmark_hands.detector)
    yield count, HandTracker(TrackingConfig(redetect_every=100))
    count.close()


def _frame(pipeline, detector, tracker, image, camera, t):
    """One frame as the node runs it: detector when the tracker asks for it, else the previous frame's
    hands through the detector's landmark pass (``HandTracker.boxes_for_frame``)."""
    boxes, detect = tracker.boxes_for_frame(detector, image, detector.max_hands, pipeline.config.box_scale)
    hands = pipeline(image, camera, boxes) if boxes else []
    return detect, tracker.update(hands, t, camera, detected=detect)


def test_tracked_hands_skip_the_palm_detector_and_a_lost_track_brings_it_back(setup, counted):
    pipeline, image, camera = setup
    count, tracker = counted
    detector = count.detector
    detected, first = _frame(pipeline, detector, tracker, image, camera, 0.0)
    assert detected and len(first) == 2 and count.palm >= 1
    ids = sorted(t.track_id for t in first)
    for k in range(1, 4):
        palm, landmark = count.palm, count.landmark
        detected, tracked = _frame(pipeline, detector, tracker, image, camera, k / 15)
        assert not detected and count.palm == palm, "a tracked hand ran the palm model"
        assert count.landmark - landmark == 2, "one landmark pass per tracked hand, not two"
        assert sorted(t.track_id for t in tracked) == ids
        for t in tracked:  # the tracked pass finds the same hand where it was
            before = next(f for f in first if f.track_id == t.track_id)
            assert np.abs(t.raw.keypoints_px - before.raw.keypoints_px).mean() < 3.0
            # and its box keeps the hand's size (it once shrank by a quarter a frame)
            assert abs(t.raw.crop_box.size / before.raw.crop_box.size - 1.0) < 0.1
    # the hands leave: the tracked passes see no hand, so the palm detector looks at once (and finds
    # none); the next frame is a detector frame again
    blank = np.zeros_like(image)
    palm, landmark = count.palm, count.landmark
    detected, tracked = _frame(pipeline, detector, tracker, blank, camera, 0.5)
    assert detected and tracked == [] and count.palm > palm and count.landmark - landmark >= 2
    palm = count.palm
    detected, tracked = _frame(pipeline, detector, tracker, image, camera, 0.6)
    assert detected and count.palm > palm and len(tracked) == 2


def test_a_tracked_box_follows_the_hand_in_this_frame(setup, counted):
    """The carried-over box is redrawn round this frame's landmarks (``MediaPipeHandDetector.track``):
    the hands move 24 px right and the boxes go with them, where the previous frame's box stays put; side
    and score stay the track's. This is what the image model's box and direction read between detections."""
    pipeline, image, camera = setup
    count, tracker = counted
    detector = count.detector
    shift = 24
    moved = np.zeros_like(image)
    moved[:, shift:] = image[:, :-shift]
    _, first = _frame(pipeline, detector, tracker, image, camera, 0.0)
    carried = tracker.boxes_for_next_frame((image.shape[1], image.shape[0]), pipeline.config.box_scale)
    palm = count.palm
    boxes, detected = tracker.boxes_for_frame(detector, moved, 2, pipeline.config.box_scale)
    assert not detected and count.palm == palm and len(boxes) == len(carried) == 2
    for box in boxes:
        before = next(b for b in carried if b.side == box.side)
        assert (box.side, box.score, box.side_score) == (before.side, before.score, before.side_score)
        assert box.landmarks is not None and box.landmark_rect is None
        dx, dy = (np.asarray(box.xyxy_px) - before.xyxy_px).reshape(2, 2).mean(axis=0)
        assert abs(dx - shift) < 6.0 and abs(dy) < 6.0, (dx, dy)
        wrist = box.landmarks.landmarks_px[0, :2]
        track = next(t for t in first if t.raw.side == box.side)
        np.testing.assert_allclose(wrist, track.raw.landmarks_px[0] + [shift + 0.5, 0.5], atol=4.0)
    # the pipeline uses the attached landmarks: no second landmark pass
    landmark = count.landmark
    assert len(pipeline(moved, camera, boxes)) == 2 and count.landmark == landmark
    # a hand that has left is dropped, not passed on with a stale box
    assert detector.track(np.zeros_like(image), carried) == []


def test_a_hand_lost_by_the_tracked_pass_brings_the_palm_detector_in_the_same_frame(setup, counted):
    """One of two tracked hands is painted out: its landmark pass loses it, and the palm detector runs on
    this frame (not only the next), so the hand still in view comes as a detection."""
    pipeline, image, camera = setup
    count, tracker = counted
    detector = count.detector
    _, first = _frame(pipeline, detector, tracker, image, camera, 0.0)
    gone = next(t for t in first if t.raw.side == "right").raw.keypoints_px
    (x0, y0), (x1, y1) = gone.min(0).astype(int) - 10, gone.max(0).astype(int) + 40
    painted = image.copy()
    painted[max(y0, 0) : y1, max(x0, 0) : x1] = 0  # the right hand and its forearm
    palm = count.palm
    boxes, detected = tracker.boxes_for_frame(detector, painted, 2, pipeline.config.box_scale)
    assert detected and count.palm > palm
    assert [b.side for b in boxes] == ["left"] and boxes[0].landmarks is not None


def test_fewer_tracked_hands_than_max_hands_runs_the_detector(setup):
    pipeline, image, camera = setup
    tracker = HandTracker(TrackingConfig(redetect_every=100))
    detector = pipeline.landmark_hands.detector
    _, tracked = _frame(pipeline, detector, tracker, image, camera, 0.0)
    assert len(tracked) == 2
    assert not tracker.needs_detection(2) and tracker.needs_detection(3)
    tracker.update([tracked[0].raw], 0.1, camera, detected=False)  # one hand lost
    assert tracker.needs_detection(2)


def test_the_mirrored_palm_pass_runs_only_when_hands_are_missing(setup):
    pipeline, image, _ = setup
    detector = pipeline.landmark_hands.detector
    count = _Counted(detector)
    max_hands = detector.max_hands
    try:
        assert detector.flip_palms
        detector.max_hands = 1
        assert len(detector.detect(image)) == 1 and count.palm == 1  # found at once: no mirrored pass
        detector.max_hands = 3  # the sample holds 2: the mirrored pass looks for a third
        count.palm = 0
        assert len(detector.detect(image)) == 2 and count.palm == 2
    finally:
        detector.max_hands = max_hands
        count.close()


def test_with_tracked_steps_tracked_hands_start_from_their_previous_fit(setup):
    """``tracked_steps``: the node's step hands the tracked boxes their previous hands
    (``HandBox.previous``, through ``MediaPipeHandDetector.track``), so the lifting head runs on detector
    frames only and the tracked hands stay where they were on a still image."""
    _, image, camera = setup
    pipeline = Pipeline(PipelineConfig(weights="default", tracked_steps=2))
    lh, detector = pipeline.landmark_hands, pipeline.landmark_hands.detector
    tracker = HandTracker(TrackingConfig(redetect_every=3))
    lifted = []
    lift = lh.lift
    lh.lift = lambda ev, cams: lifted.append(len(ev)) or lift(ev, cams)
    frames = [_frame(pipeline, detector, tracker, image, camera, k / 15) for k in range(4)]
    assert [d for d, _ in frames] == [True, False, False, True] and lifted == [2, 2]
    first = {t.track_id: t.raw for t in frames[0][1]}
    for _, tracked in frames[1:3]:
        assert sorted(t.track_id for t in tracked) == sorted(first)
        for t in tracked:  # this frame's landmarks (a pass on the tracked rect) differ a little
            moved = np.linalg.norm(t.raw.keypoints_cam_m - first[t.track_id].keypoints_cam_m, axis=1)
            assert (
                moved.mean() < 0.01
                and np.abs(t.raw.keypoints_px - first[t.track_id].keypoints_px).mean() < 3.0
            )
