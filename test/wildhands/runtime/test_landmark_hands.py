"""The pipeline's default estimator (landmarks) through the Python API (issue 18, item 5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig


@pytest.fixture(scope="module")
def sample():
    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    return load_image_rgb(SAMPLE_DIR / "image.png"), load_camera_yaml(SAMPLE_DIR / "camera_info.yaml"), boxes


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(PipelineConfig(weights="default"))


def test_default_is_the_landmark_estimator_and_boxes_keep_working(pipeline, sample):
    image, camera, boxes = sample
    assert PipelineConfig().estimator == "landmarks" and pipeline.engine_name == "landmarks"
    hands = pipeline(image, camera, boxes)  # plain HandBoxes: a landmark pass on each box
    assert [h.side for h in hands] == [b.side for b in sorted(boxes, key=lambda b: -b.score)][: len(hands)]
    assert len(hands) == 2
    for h in hands:
        assert np.isfinite(h.fit_residual_px) and h.fit_residual_px < 5.0
        assert h.keypoints_cam_m.shape == (21, 3) and np.all(h.keypoints_cam_m[:, 2] > 0.1)
        assert np.allclose(h.keypoints_px, camera.project(h.keypoints_cam_m))
        assert h.vertices_cam_m.shape[1] == 3 and h.faces.shape[1] == 3
        assert np.isclose(h.grasp_probabilities.sum(), 1.0)
    assert set(pipeline.timings) >= {"landmarks", "fit", "hand_layer", "total"}
    # crop_box means what it means for the image model: box_scale x the box's longest side (the tracker
    # sizes the next frame's box from it; a box-sized crop_box shrank tracked boxes frame by frame)
    for h in hands:
        box = next(b for b in boxes if b.side == h.side)
        x0, y0, x1, y1 = box.xyxy_px
        assert h.crop_box.size == pytest.approx(pipeline.config.box_scale * max(x1 - x0, y1 - y0))


def test_refine_off_is_the_lifting_heads_answer(sample):
    image, camera, boxes = sample
    on = Pipeline(PipelineConfig(weights="default"))(image, camera, boxes)
    off = Pipeline(PipelineConfig(weights="default", refine=False))(image, camera, boxes)
    assert len(on) == len(off) == 2
    moved = [np.abs(a.keypoints_cam_m - b.keypoints_cam_m).max() for a, b in zip(on, off)]
    assert max(moved) > 1e-4  # the fit changes the head's hands
    assert all(b.fit_residual_px >= a.fit_residual_px - 1e-6 for a, b in zip(on, off))


def test_a_box_with_its_detection_skips_the_landmark_pass(pipeline, sample):
    image, camera, boxes = sample
    detector = pipeline.landmark_hands.detector
    detections = [detector.landmarks_in_box(image, b) for b in boxes]
    with_landmarks = [dataclasses.replace(b, landmarks=d) for b, d in zip(boxes, detections)]
    calls = []
    original = detector.landmarks_in_box
    detector.landmarks_in_box = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        hands = pipeline(image, camera, with_landmarks)
    finally:
        detector.landmarks_in_box = original
    assert len(hands) == 2 and not calls


def test_image_estimator_stays_selectable(sample):
    image, camera, boxes = sample
    p = Pipeline(PipelineConfig(weights="default", estimator="image", engine="torch"))
    hands = p(image, camera, boxes)
    assert p.landmark_hands is None and p.engine_name == "torch" and len(hands) == 2
    assert all(np.isnan(h.fit_residual_px) for h in hands)


def test_bad_estimator_is_refused():
    with pytest.raises(ValueError, match="estimator='mediapipe' not in"):
        PipelineConfig(estimator="mediapipe")
    with pytest.raises(ValueError, match="refine"):
        PipelineConfig(refine="yes")


def test_a_box_without_a_hand_gives_no_hand(pipeline, sample):
    image, camera, _ = sample
    assert pipeline(image, camera, [HandBox((2.0, 2.0, 40.0, 40.0), "right")]) == []


def test_invalid_hands_are_dropped_and_counted_in_one_place(pipeline, sample, monkeypatch):
    """A box with no hand in it is no hand (not an invalid one); a hand with non-finite values is dropped
    by the pipeline and counted in ``dropped_invalid`` (what the node warns about)."""
    image, camera, boxes = sample
    empty = HandBox((5.0, 5.0, 60.0, 60.0), "right")  # the sample's corner: no hand there
    assert pipeline(image, camera, [empty]) == [] and pipeline.dropped_invalid == 0
    hands = pipeline(image, camera, boxes)
    broken = dataclasses.replace(hands[0], keypoints_cam_m=np.full((21, 3), np.nan))
    monkeypatch.setattr(type(pipeline.landmark_hands), "__call__", lambda self, *a: [broken, hands[1]])
    out = pipeline(image, camera, boxes)
    assert len(out) == 1 and out[0] is hands[1] and pipeline.dropped_invalid == 1


def test_the_fits_joint_limits_follow_the_lifting_heads_pose_convention():
    """``RefineConfig.joint_limits`` left open (None) takes the lifting head's convention; set, it stays."""
    from wildhands.handmodel.open_hand import OpenHandModel
    from wildhands.model.lifting import LiftingConfig, LiftingNet
    from wildhands.runtime.landmark_hands import LandmarkHands, LandmarkHandsConfig
    from wildhands.runtime.refine import RefineConfig

    hand = OpenHandModel("right")
    planes = LiftingNet(LiftingConfig(pose_convention="finger_planes"))
    assert LandmarkHands(None, hand, lifter=planes).refine_config.joint_limits == "finger_planes"
    assert LandmarkHands(None, hand, lifter=LiftingNet()).refine_config.joint_limits == "components"
    assert LandmarkHands(None, hand).refine_config.joint_limits is None  # PnP start: components
    fixed = LandmarkHandsConfig(refine_config=RefineConfig(joint_limits="components"))
    assert LandmarkHands(None, hand, config=fixed, lifter=planes).refine_config.joint_limits == "components"


def test_crop_mode_rectified_sends_the_landmark_passes_through_the_lens(sample):
    """``crop_mode='rectified'``: the landmark passes get the camera (they see each hand through a virtual
    camera looking at it) and the hands still come out right; 'auto' and 'box' keep MediaPipe's plain rect
    (``LandmarkHandsConfig.view_camera``); a bad crop mode is refused."""
    from wildhands.runtime.landmark_hands import LandmarkHandsConfig

    image, camera, boxes = sample
    assert LandmarkHandsConfig(crop_mode="rectified").view_camera(camera) is camera
    assert LandmarkHandsConfig(crop_mode="auto").view_camera(camera) is None
    assert LandmarkHandsConfig(crop_mode="box").view_camera(camera) is None
    with pytest.raises(ValueError, match="crop_mode"):
        LandmarkHandsConfig(crop_mode="fisheye")
    plain = Pipeline(PipelineConfig(weights="default"))
    through = Pipeline(PipelineConfig(weights="default", crop_mode="rectified"))
    assert through.view_camera(camera) is camera and plain.view_camera(camera) is None
    detector = through.landmark_hands.detector
    cameras = []
    original = detector.landmarks_for_box
    detector.landmarks_for_box = lambda image, box, camera=None: (
        cameras.append(camera) or original(image, box, camera)
    )
    try:
        hands = through(image, camera, boxes)
    finally:
        detector.landmarks_for_box = original
    assert cameras == [camera, camera]
    reference = plain(image, camera, boxes)
    assert [h.side for h in hands] == [h.side for h in reference] and len(hands) == 2
    for a, b in zip(hands, reference):  # the sample's hands are near the axis: nearly the same reading
        assert np.linalg.norm(a.keypoints_px - b.keypoints_px, axis=1).mean() < 4.0
        assert np.isfinite(a.fit_residual_px) and a.fit_residual_px < 5.0


@pytest.fixture(scope="module")
def tracked_pipeline():
    return Pipeline(PipelineConfig(weights="default", tracked_steps=2))


def test_a_tracked_start_is_the_previous_hand_itself(tracked_pipeline, sample):
    """``tracked_start`` turns a hand the pipeline returned back into the fit's parameters (canonical frame:
    a left hand mirrored): the skeleton at that start gives the hand's keypoints again, for both sides."""
    from wildhands.runtime.landmark_hands import evidence_from_detection

    image, camera, boxes = sample
    lh = tracked_pipeline.landmark_hands
    hands = tracked_pipeline(image, camera, boxes)
    assert sorted(h.side for h in hands) == ["left", "right"]
    mirror = np.diag([-1.0, 1.0, 1.0])
    for hand in hands:
        box = next(b for b in boxes if b.side == hand.side)
        (det,) = lh.detections(image, [box], camera)
        ev = evidence_from_detection(det, camera.width if hand.side == "left" else None)
        start = lh.tracked_start(dataclasses.replace(box, previous=hand), ev)
        kp = lh.skeleton(
            start.betas[None], start.global_orient[None], start.hand_pose[None], start.transl[None]
        )[0]
        kp = kp @ mirror if hand.side == "left" else kp
        assert np.abs(kp - hand.keypoints_cam_m).max() < 1e-6
        # a previous hand of the other side, or a box without one, gives no start
        other = dataclasses.replace(hand, side="right" if hand.side == "left" else "left")
        assert lh.tracked_start(dataclasses.replace(box, previous=other), ev) is None
        assert lh.tracked_start(box, ev) is None


def test_tracked_hands_skip_the_lifting_head_and_take_their_own_steps(tracked_pipeline, sample, monkeypatch):
    """A box carrying its previous hand is fitted from it with ``tracked_steps`` steps, without the lifting
    head; a fresh box from the head with the fit's own steps; off (0) or with ``refine`` off, the previous
    hand is ignored. On a still image the tracked fit stays on the hand."""
    import wildhands.runtime.landmark_hands as module

    image, camera, boxes = sample
    lh = tracked_pipeline.landmark_hands
    fresh = tracked_pipeline(image, camera, boxes)
    by_side = {h.side: h for h in fresh}
    carried = [dataclasses.replace(b, previous=by_side[b.side]) for b in boxes]
    lifted, refined = [], []
    lift, refine = lh.lift, module.refine
    monkeypatch.setattr(lh, "lift", lambda ev, cams: lifted.append(len(ev)) or lift(ev, cams))
    monkeypatch.setattr(
        module, "refine", lambda ev, *a: refined.append((len(ev), a[3].iterations)) or refine(ev, *a)
    )
    hands = tracked_pipeline(image, camera, carried)
    assert lifted == [] and refined == [(2, 2)]
    for h in hands:  # the same still image: the tracked fit stays where the fresh one was
        assert np.abs(h.keypoints_cam_m - by_side[h.side].keypoints_cam_m).max() < 0.01
        assert h.fit_residual_px < 5.0
    lifted.clear(), refined.clear()
    tracked_pipeline(image, camera, [carried[0], boxes[1]])  # one carried, one fresh
    assert lifted == [1] and sorted(refined) == [(1, 2), (1, 5)]
    for config in (
        dataclasses.replace(lh.config, tracked_steps=0),
        dataclasses.replace(lh.config, refine=False),
    ):
        monkeypatch.setattr(lh, "config", config)
        lifted.clear(), refined.clear()
        ignored = tracked_pipeline(image, camera, carried)
        assert lifted == [2] and refined == [(2, 5 if config.refine else 0)]
        plain = tracked_pipeline(image, camera, boxes)  # the same hands as boxes that carry nothing
        for a, b in zip(ignored, plain, strict=True):
            assert np.array_equal(a.keypoints_cam_m, b.keypoints_cam_m) and np.array_equal(a.betas, b.betas)


def test_tracked_steps_are_checked():
    from wildhands.runtime.landmark_hands import LandmarkHandsConfig

    for bad in (-1, 101, True, 2.0):
        with pytest.raises(ValueError, match="tracked_steps"):
            PipelineConfig(tracked_steps=bad)
        with pytest.raises(ValueError, match="tracked_steps"):
            LandmarkHandsConfig(tracked_steps=bad)


def test_tracked_steps_that_cannot_act_are_said(caplog):
    """``tracked_steps`` with the fit off, or with the image model, does nothing, and the pipeline says so."""
    with caplog.at_level("WARNING", logger="wildhands.runtime.pipeline"):
        Pipeline(PipelineConfig(weights="default", refine=False, tracked_steps=2))
        Pipeline(PipelineConfig(weights="default", estimator="image", engine="torch", tracked_steps=3))
    assert "tracked_steps=2 does nothing with refine off" in caplog.text
    assert "tracked_steps=3 does nothing with estimator=image" in caplog.text
