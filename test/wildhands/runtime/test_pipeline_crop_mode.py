"""PipelineConfig.crop_mode: 'box' as before, 'rectified' (virtual pinhole crops, lifted back into the
camera frame), 'auto' (rectified for fisheye cameras only), and bad values refused."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pytest
import torch

from wildhands.geometry.camera import CameraModel, translation_to_weak_perspective_np
from wildhands.geometry.crop import CropBox, kpe_inputs, mirror_box, square_box_from_xyxy, warp_crop
from wildhands.geometry.perspective_crop import (
    RectifiedCrop,
    look_at_rotation,
    points_to_rectified,
    rectified_to_image,
)
from wildhands.geometry.rotations import mirror_matrix
from wildhands.model.config import ModelConfig
from wildhands.model.preprocess import normalize_crops
from wildhands.runtime.engines.base import EngineOutput
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig

TINY = ModelConfig.from_dict(
    {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}
)
W, H = 320, 240
S = np.diag([-1.0, 1.0, 1.0])
PINHOLE = CameraModel(W, H, np.array([[160.0, 0, 159.5], [0, 160.0, 119.5], [0, 0, 1]]))
FISHEYE = CameraModel(
    W, H, np.array([[90.0, 0, 161.0], [0, 90.0, 118.0], [0, 0, 1]]), "equidistant", [0.02, -0.01, 0.002, 0.0]
)
# two hands near the fisheye's left and right edges (about 60-70 deg off-axis)
EDGE_BOXES = [HandBox((8.0, 70.0, 58.0, 130.0), "left"), HandBox((255.0, 120.0, 312.0, 185.0), "right")]


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    """One untrained TINY network per crop mode (same seed: the same weights)."""
    return {
        m: Pipeline(PipelineConfig(estimator="image", model=TINY, crop_mode=m, seed=0))
        for m in ("box", "rectified", "auto")
    }


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (0, 0), 2.0)


def test_bad_crop_mode_is_refused():
    with pytest.raises(ValueError, match="crop_mode='warp' not in"):
        PipelineConfig(estimator="image", crop_mode="warp")
    assert PipelineConfig(estimator="image").crop_mode == "auto"


def test_box_mode_is_the_box_crop_and_auto_keeps_it_for_pinhole_cameras(pipelines, image):
    box_p = pipelines["box"]
    for camera in (PINHOLE, FISHEYE):
        images, kpe, crop_boxes, net_boxes, mirrored = box_p.prepare(image, camera, EDGE_BOXES)
        for i, hand in enumerate(EDGE_BOXES):
            mirror = hand.side == "left"
            box = square_box_from_xyxy(hand.xyxy_px, (W, H), scale=1.5)
            assert crop_boxes[i] == box
            assert net_boxes[i] == (mirror_box(box, (W - 1) / 2) if mirror else box)
            crop = warp_crop(image, box, 64, mirror=mirror)
            assert np.array_equal(images[i], normalize_crops(crop)[0])  # the training items' normalisation
            assert np.array_equal(kpe[i], kpe_inputs(camera, box, "sparse", mirror=mirror))
        assert mirrored == camera.mirrored()
    # 'auto' on a pinhole camera is 'box', to the bit
    a = pipelines["auto"](image, PINHOLE, EDGE_BOXES)
    b = box_p(image, PINHOLE, EDGE_BOXES)
    assert len(a) == len(b) == 2
    for ha, hb in zip(a, b):
        assert ha.rectified_crop is None and hb.rectified_crop is None
        for name in ("keypoints_cam_m", "keypoints_px", "vertices_cam_m", "wrist_rotation"):
            assert np.array_equal(getattr(ha, name), getattr(hb, name)), name
    # ... and on a fisheye camera it is 'rectified'
    a = pipelines["auto"](image, FISHEYE, EDGE_BOXES)
    r = pipelines["rectified"](image, FISHEYE, EDGE_BOXES)
    assert all(isinstance(h.rectified_crop, RectifiedCrop) for h in a)
    assert all(np.array_equal(x.keypoints_cam_m, y.keypoints_cam_m) for x, y in zip(a, r))


@pytest.mark.parametrize("side", ["right", "left"])
def test_rectified_equals_box_for_a_pinhole_box_on_the_principal_point(pipelines, image, side):
    hand = [HandBox((159.5 + 0.5 - 30, 119.5 + 0.5 - 25, 159.5 + 0.5 + 30, 119.5 + 0.5 + 25), side)]
    pb = pipelines["box"].prepare(image, PINHOLE, hand)
    pr = pipelines["rectified"].prepare(image, PINHOLE, hand)
    rc = pr[3][0]
    assert isinstance(rc, RectifiedCrop) and np.allclose(rc.R, np.eye(3), atol=1e-12)
    assert np.abs(pb[0] - pr[0]).max() <= 1.01 / 255 / 0.224  # one grey level (ImageNet std)
    np.testing.assert_allclose(pb[1], pr[1], atol=1e-6)
    assert pr[2] == pb[2]  # crop_box: the same square box of the image
    # the same network output lifts to the same hand
    rng = np.random.default_rng(1)
    out = EngineOutput(
        look_at_rotation(rng.normal(size=3))[None].astype(np.float32),
        np.tile(np.eye(3, dtype=np.float32), (1, 15, 1, 1)),
        np.zeros((1, 10), np.float32),
        np.array([[2.5, 0.01, -0.02]], np.float32),
        np.zeros((1, 8), np.float32),
    )
    hb = pipelines["box"].lift(out, PINHOLE, pb[4], hand, pb[2], pb[3])[0]
    hr = pipelines["rectified"].lift(out, PINHOLE, pr[4], hand, pr[2], pr[3])[0]
    np.testing.assert_allclose(hr.keypoints_cam_m, hb.keypoints_cam_m, atol=1e-9)
    np.testing.assert_allclose(hr.wrist_rotation, hb.wrist_rotation, atol=1e-9)
    # end to end: the network sees (almost) the same crop
    eb, er = pipelines["box"](image, PINHOLE, hand)[0], pipelines["rectified"](image, PINHOLE, hand)[0]
    assert np.abs(eb.keypoints_cam_m - er.keypoints_cam_m).max() < 2e-3 * np.linalg.norm(
        eb.keypoints_cam_m[0]
    )


def _hand_model_keypoints(pipeline: Pipeline, R: np.ndarray) -> np.ndarray:
    """Root-relative keypoints (21, 3) of the right hand model with global orientation R and a flat pose."""
    with torch.inference_mode():
        out = pipeline.hand_model(
            betas=torch.zeros(1, 10),
            global_orient=torch.from_numpy(R[None].astype(np.float32)),
            hand_pose=torch.eye(3).expand(1, 15, 3, 3).contiguous(),
        )
    kp = out.keypoints[0].numpy().astype(np.float64)
    return kp - kp[:1]


@pytest.mark.parametrize("mode", ["box", "rectified"])
def test_oracle_output_lifts_to_the_true_hands_on_a_fisheye(pipelines, mode):
    """A perfect network's answer for each crop (the true hand, expressed in the crop's camera, mirrored
    for the left hand) lifts back to the true hands in the camera frame, in both crop modes."""
    pipeline = pipelines[mode]
    rng = np.random.default_rng(2)
    truth, rows = [], []
    prepared = pipeline.prepare(np.zeros((H, W, 3), np.uint8), FISHEYE, EDGE_BOXES)
    _, _, crop_boxes, net_boxes, mirrored = prepared
    for hand, nb in zip(EDGE_BOXES, net_boxes):
        x0, y0, x1, y1 = hand.xyxy_px
        wrist = 0.4 * FISHEYE.pixels_to_rays([[(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5]])[0]
        R_right = look_at_rotation(rng.normal(size=3))  # the right hand the network sees (mirrored world)
        rel = _hand_model_keypoints(pipeline, R_right)
        if hand.side == "right":
            truth.append((rel + wrist, R_right))
            R_net, wrist_net = R_right, wrist
        else:  # a left hand is the mirror image of a right hand
            truth.append((rel @ S + wrist, mirror_matrix(R_right)))
            R_net, wrist_net = R_right, S @ wrist
        if mode == "rectified":
            assert isinstance(nb, RectifiedCrop)
            Rv = nb.R if hand.side == "right" else S @ nb.R @ S
            R_net, wrist_net = Rv @ R_net, Rv @ wrist_net
            c = nb.crop_box.center
            cam_wp = translation_to_weak_perspective_np(wrist_net, c, nb.size, nb.f, nb.f, nb.c, nb.c)
        else:
            assert isinstance(nb, CropBox)
            cam = mirrored if hand.side == "left" else FISHEYE
            cam_wp = translation_to_weak_perspective_np(
                wrist_net, nb.center, nb.size, cam.fx, cam.fy, cam.cx, cam.cy
            )
        rows.append((R_net, cam_wp))
    out = EngineOutput(
        np.stack([r[0] for r in rows]).astype(np.float32),
        np.tile(np.eye(3, dtype=np.float32), (2, 15, 1, 1)),
        np.zeros((2, 10), np.float32),
        np.stack([r[1] for r in rows]).astype(np.float32),
        np.zeros((2, 8), np.float32),
    )
    hands = pipeline.lift(out, FISHEYE, mirrored, EDGE_BOXES, crop_boxes, net_boxes)
    assert [h.side for h in hands] == ["left", "right"]
    for h, (kp, R) in zip(hands, truth):
        assert np.abs(h.keypoints_cam_m - kp).max() < 2e-5  # m (float32 network outputs)
        np.testing.assert_allclose(h.wrist_rotation, R, atol=1e-5)
        np.testing.assert_allclose(h.keypoints_px, FISHEYE.project(kp), atol=1e-2)
        assert (h.rectified_crop is not None) == (mode == "rectified")
        assert h.crop_box == crop_boxes[EDGE_BOXES.index(next(b for b in EDGE_BOXES if b.side == h.side))]


def test_untrained_network_on_a_fisheye_lifts_into_the_camera_frame(pipelines, image):
    pipeline = pipelines["rectified"]
    hands = pipeline(image, FISHEYE, EDGE_BOXES)
    images, kpe, crop_boxes, net_boxes, _ = pipeline.prepare(image, FISHEYE, EDGE_BOXES)
    out = pipeline.engine.infer(images, kpe)
    assert len(hands) == 2 and pipeline.timings["crop"] > 0
    for i, (hand, h) in enumerate(zip(EDGE_BOXES, hands)):
        rc = h.rectified_crop
        assert isinstance(rc, RectifiedCrop) and h.crop_box == crop_boxes[i]
        mirror = hand.side == "left"
        # the KPE inputs are the virtual pinhole camera's (an on-axis view), not the fisheye's
        virtual_kpe = kpe_inputs(rc.camera, rc.crop_box, "sparse", mirror=mirror)
        assert np.array_equal(kpe[i], virtual_kpe) and np.abs(virtual_kpe[4]).max() < 1e-6
        assert np.abs(kpe[i] - kpe_inputs(FISHEYE, crop_boxes[i], "sparse", mirror=mirror)).max() > 0.3
        # the weak-perspective camera puts the root at crop pixel (s tx + 1) S / 2 - 0.5; rotated back into
        # the camera frame the root is seen there by the virtual camera, and in the image where the crop
        # pixel's ray lands
        s, tx, ty = out.cam_wp[i].astype(np.float64)
        root_crop = (np.array([s * tx, s * ty]) + 1) * 64 / 2 - 0.5
        np.testing.assert_allclose(
            points_to_rectified(rc, h.keypoints_cam_m[:1], mirror)[0], root_crop, atol=1e-3
        )
        np.testing.assert_allclose(
            h.keypoints_px[0], rectified_to_image(rc, FISHEYE, root_crop[None], mirror)[0], atol=1e-2
        )
        # the root lies inside the crop, and the (untrained, so badly sized) hand around it
        kp_crop = points_to_rectified(rc, h.keypoints_cam_m, mirror)
        assert np.all((root_crop > -0.5) & (root_crop < 63.5))
        assert np.all((kp_crop > -32) & (kp_crop < 96))
        assert np.all(h.keypoints_cam_m[:, 2] > 0)
        R = h.wrist_rotation
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.linalg.det(R) == pytest.approx(1.0, abs=1e-5)


def test_a_box_that_cannot_be_rectified_falls_back_to_the_box_crop(pipelines, image, caplog):
    # this fisheye's model ends about 70 px from the centre: the image corner has no ray, its centre has
    short = CameraModel(W, H, FISHEYE.K, "equidistant", [-0.25, 0.0, 0.0, 0.0])
    boxes = [HandBox((0.0, 0.0, 40.0, 40.0), "right"), HandBox((140.0, 100.0, 180.0, 140.0), "left")]
    pipelines["rectified"]._rectify_warned = -math.inf
    with caplog.at_level(logging.WARNING, logger="wildhands"):
        prepared = pipelines["rectified"].prepare(image, short, boxes)
    assert isinstance(prepared[3][0], CropBox) and isinstance(prepared[3][1], RectifiedCrop)
    assert "box crop used instead" in caplog.text and "outside the lens model" in caplog.text
    assert np.all(np.isfinite(prepared[0])) and np.all(np.isfinite(prepared[1]))


def test_eval_harness_takes_the_crop_mode(pipelines, tmp_path):
    from wildhands.eval.conditions import EvalPipeline, evaluate_condition

    with pytest.raises(ValueError, match="kpe_mode='pinhole' needs crop_mode='box'"):
        EvalPipeline(PipelineConfig(estimator="image", model=TINY, crop_mode="rectified"), kpe_mode="pinhole")
    with pytest.raises(ValueError, match="crop_mode='box' but the given pipeline runs 'rectified'"):
        evaluate_condition(pipelines["rectified"], [], tmp_path, crop_mode="box")


def test_eval_harness_runs_upright_weights(tmp_path):
    """The evaluation's pipeline (EvalPipeline) runs the two passes of crop_roll='upright' weights: every
    hand of a synthetic frame comes back, from a turned rectified crop."""
    from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
    from wildhands.eval.conditions import EvalPipeline

    upright = ModelConfig.from_dict({**TINY.to_dict(), "crop_roll": "upright"})
    pipeline = EvalPipeline(PipelineConfig(estimator="image", model=upright, seed=0))
    stream = SyntheticHandStream(SyntheticConfig.from_dict({"image_sizes": [[320, 240]]}), seed=3, length=1)
    record = stream[0]
    box = HandBox(tuple(float(v) for v in record.box_xyxy_px), record.side)
    (hand,) = pipeline(record.load_image(), record.camera, [box])
    assert hand.rectified_crop is not None and np.isfinite(hand.keypoints_cam_m).all()
    # the pinhole-KPE condition rewrites box crops' KPE: refused for weights that read turned crops
    with pytest.raises(ValueError, match="kpe_mode='pinhole' needs box crops"):
        EvalPipeline(PipelineConfig(estimator="image", model=upright, crop_mode="box"), kpe_mode="pinhole")


def test_upright_crops_take_the_direction_the_box_carries():
    """crop_roll='upright': a box that carries the detector's landmarks (HandBox.landmarks) or the tracker's
    rect (HandBox.landmark_rect) is turned by them, with no first pass for it; a box without gets the first
    pass. Checked by the engine's batches and by where the landmarks' wrist -> middle MCP points in the crop
    the result came from."""
    import dataclasses
    import types

    from wildhands.data.synthetic import SyntheticConfig, generate_frame
    from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST
    from wildhands.runtime.hands import CONTINUOUS_TO_CENTRE_PX

    upright = ModelConfig.from_dict({**TINY.to_dict(), "crop_roll": "upright"})
    pipeline = Pipeline(PipelineConfig(estimator="image", model=upright, seed=0))
    calls: list[int] = []
    infer = pipeline.engine.infer

    def counting_infer(images, kpe):  # the engine's own calls, against the pipeline's record of them
        calls.append(len(images))
        return infer(images, kpe)

    pipeline.engine.infer = counting_infer
    cfg = SyntheticConfig.from_dict({"image_sizes": [[320, 240]], "two_hands_prob": 1.0})
    frame = generate_frame(cfg, seed=5, index=0)
    records, image, camera = frame.hands, frame.image, frame.camera
    assert len(records) == 2
    boxes = [HandBox(tuple(float(v) for v in r.box_xyxy_px), r.side) for r in records]
    # the "detector" reads the first hand turned by 90 deg from the truth: the crop must follow it
    truth = records[0].keypoints_px
    turned = truth.copy()
    centre = truth[WRIST]
    turned[:, 0] = centre[0] - (truth[:, 1] - centre[1])
    turned[:, 1] = centre[1] + (truth[:, 0] - centre[0])
    detection = types.SimpleNamespace(
        landmarks_px=np.column_stack([turned + CONTINUOUS_TO_CENTRE_PX, np.zeros(21)])
    )
    with_landmarks = dataclasses.replace(boxes[0], landmarks=detection)

    (hand,) = pipeline(image, camera, [with_landmarks])
    assert pipeline.engine_batches == calls == [1]  # no first pass
    rays = camera.pixels_to_rays(turned[[WRIST, MIDDLE_MCP]])
    du, dv = np.diff(points_to_rectified(hand.rectified_crop, rays), axis=0)[0]
    assert dv < 0 and abs(du) < 1e-6 * abs(dv)  # the landmarks' wrist -> middle MCP points up
    # the box's landmarks pass on to the hand (pixel centres): the tracker's next rect comes from them
    np.testing.assert_allclose(hand.landmarks_px, turned, atol=1e-9)

    calls.clear()
    hands = pipeline(image, camera, [with_landmarks, boxes[1]])
    assert pipeline.engine_batches == calls == [1, 2] and len(hands) == 2  # a first pass for one box only
    assert hands[0].landmarks_px is not None and hands[1].landmarks_px is None
    calls.clear()
    pipeline(image, camera, boxes)
    assert pipeline.engine_batches == calls == [2, 2]
    assert pipeline.box_rolls(camera, boxes) == [None, None]

    # a tracked box: the tracker's rect (centre, side, rotation from up towards +u) gives the direction
    from wildhands.geometry.crop import up_angle

    rotation = up_angle(turned[WRIST], turned[MIDDLE_MCP])
    centre = turned.mean(0) + CONTINUOUS_TO_CENTRE_PX
    tracked = dataclasses.replace(boxes[0], landmark_rect=(centre[0], centre[1], 80.0, rotation))
    calls.clear()
    (hand,) = pipeline(image, camera, [tracked])
    assert pipeline.engine_batches == calls == [1]
    (roll,) = pipeline.box_rolls(camera, [tracked])
    (from_landmarks,) = pipeline.box_rolls(camera, [with_landmarks])
    assert abs(roll - from_landmarks) < math.radians(3)  # the same direction, seen from another point
