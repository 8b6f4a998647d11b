"""The Pipeline: geometry of the lift (with an oracle engine that returns the true hand parameters),
the untrained network end to end, engines agreeing, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wildhands.geometry.camera import translation_to_weak_perspective_np
from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.geometry.crop import mirror_box
from wildhands.geometry.rotations import mirror_axis_angle
from wildhands.model.config import KPEConfig, ModelConfig
from wildhands.runtime.engines.base import EngineOutput
from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig

SMALL = ModelConfig(backbone="resnet18")


@pytest.fixture(scope="module")
def sample():
    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    boxes, entries = load_hand_boxes(SAMPLE_DIR / "hands.json")
    return image, camera, boxes, entries


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(PipelineConfig(estimator="image", model=SMALL))


def _rotmat(aa: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack(
        [cv2.Rodrigues(np.asarray(a, np.float64).reshape(3, 1))[0] for a in np.reshape(aa, (-1, 3))]
    )


class OracleEngine:
    """Returns the ground-truth parameters of the sample's hands, as a perfect network would.

    It sees the same crop boxes the pipeline makes, so the test checks crops, mirroring, the
    weak-perspective -> translation conversion and the hand-model lift, not the network.
    """

    name = "oracle"

    def __init__(self, pipeline: Pipeline, camera, boxes, entries):
        self.outputs = []
        for hand, entry in zip(boxes, entries):
            orient = np.asarray(entry["global_orient_axis_angle"])
            pose = np.asarray(entry["hand_pose_axis_angle"]).reshape(15, 3)
            wrist = np.asarray(entry["keypoints_cam_m"][0])
            _, _, crop_boxes, net_boxes, mirrored = pipeline.prepare(
                np.zeros((camera.height, camera.width, 3), np.uint8), camera, [hand]
            )
            cam, box = camera, net_boxes[0]
            if hand.side == "left":  # the network sees the mirrored (right) hand in the mirrored camera
                orient, pose, wrist, cam = (
                    mirror_axis_angle(orient),
                    mirror_axis_angle(pose),
                    wrist * [-1, 1, 1],
                    mirrored,
                )
                assert box == mirror_box(crop_boxes[0], (camera.width - 1) / 2)
            cam_wp = translation_to_weak_perspective_np(
                wrist, box.center, box.size, cam.fx, cam.fy, cam.cx, cam.cy
            )
            self.outputs.append(
                [_rotmat(orient)[0], _rotmat(pose), np.asarray(entry["betas"]), cam_wp, np.eye(8)[2] * 5]
            )
        self.nan_hand: int | None = None

    def infer(self, images, kpe):
        arrays = [np.stack([o[k] for o in self.outputs]).astype(np.float32) for k in range(5)]
        out = EngineOutput(*arrays)
        if self.nan_hand is not None:
            out.cam_wp[self.nan_hand] = np.nan
        return out


def test_oracle_parameters_are_lifted_to_the_true_metric_hands(pipeline, sample):
    image, camera, boxes, entries = sample
    assert {b.side for b in boxes} == {"left", "right"}
    original_engine = pipeline.engine
    pipeline.engine = OracleEngine(pipeline, camera, boxes, entries)
    try:
        hands = pipeline(image, camera, boxes)
    finally:
        pipeline.engine = original_engine
    assert len(hands) == 2
    for hand in hands:
        entry = next(e for e in entries if e["side"] == hand.side)
        gt_cam = np.asarray(entry["keypoints_cam_m"])
        gt_px = np.asarray(entry["keypoints_px"])
        err_mm = 1000 * np.linalg.norm(hand.keypoints_cam_m - gt_cam, axis=1)
        assert err_mm.max() < 0.5, f"{hand.side}: 3D error {err_mm.max():.3f} mm"
        assert np.abs(hand.keypoints_px - gt_px).max() < 0.05
        assert hand.grasp_label == "power_prismatic"
        # the mesh goes with the keypoints: the fingertips are mesh vertices
        d = np.linalg.norm(
            hand.vertices_cam_m[:, None, :] - hand.keypoints_cam_m[None, [4, 8, 12, 16, 20]], axis=2
        )
        assert d.min(axis=0).max() < 1e-5
        assert np.allclose(hand.wrist_rotation @ hand.wrist_rotation.T, np.eye(3), atol=1e-5)
        assert np.linalg.det(hand.wrist_rotation) == pytest.approx(1.0, abs=1e-5)


def test_engine_nan_drops_that_hand_only(pipeline, sample):
    image, camera, boxes, entries = sample
    oracle = OracleEngine(pipeline, camera, boxes, entries)
    oracle.nan_hand = 0
    original_engine = pipeline.engine
    pipeline.engine = oracle
    try:
        hands = pipeline(image, camera, boxes)
    finally:
        pipeline.engine = original_engine
    assert len(hands) == 1 and hands[0].side == boxes[1].side


def test_untrained_network_runs_end_to_end(pipeline, sample):
    image, camera, boxes, _ = sample
    hands = pipeline(image, camera, boxes)
    assert [h.side for h in hands] == [b.side for b in boxes]
    for hand in hands:
        assert hand.keypoints_cam_m.shape == (21, 3) and np.all(np.isfinite(hand.keypoints_cam_m))
        assert np.all(hand.keypoints_cam_m[:, 2] > 0)
        assert np.allclose(hand.keypoints_px, camera.project(hand.keypoints_cam_m))
        assert hand.grasp_probabilities.sum() == pytest.approx(1.0)
        assert hand.vertices_cam_m.shape[0] > hand.faces.max()
        assert not hand.intrinsics_estimated
    assert not pipeline.trained and "UNTRAINED" in pipeline.weights_description


def test_no_boxes_gives_no_hands(pipeline, sample):
    image, camera, _, _ = sample
    assert pipeline(image, camera, []) == []


def test_max_hands_keeps_the_best_scores(sample):
    image, camera, boxes, _ = sample
    p = Pipeline(PipelineConfig(estimator="image", model=SMALL, max_hands=1))
    scored = [HandBox(b.xyxy_px, b.side, score=s) for b, s in zip(boxes, (0.2, 0.9))]
    hands = p(image, camera, scored)
    assert len(hands) == 1 and hands[0].detection_confidence == pytest.approx(0.9)


@pytest.mark.onnxruntime
def test_onnxruntime_engine_matches_torch_engine(sample, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path))
    image, camera, boxes, _ = sample
    cfg = ModelConfig(backbone="resnet18", kpe=KPEConfig(variant="dense"))
    torch_hands = Pipeline(PipelineConfig(estimator="image", model=cfg, engine="torch"))(image, camera, boxes)
    ort_hands = Pipeline(PipelineConfig(estimator="image", model=cfg, engine="onnxruntime"))(
        image, camera, boxes
    )
    assert list(tmp_path.glob("onnx/*.onnx")), "the export should be cached"
    for a, b in zip(torch_hands, ort_hands):
        assert np.abs(a.keypoints_cam_m - b.keypoints_cam_m).max() < 1e-4  # m: 0.1 mm
        assert np.abs(a.grasp_probabilities - b.grasp_probabilities).max() < 1e-4


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((0, 640, 3), np.uint8), "empty"),
        (np.zeros((480, 640, 3), np.float32), "dtype"),
        (np.zeros((480, 640, 4), np.uint8), "RGB"),
        (np.zeros((240, 320, 3), np.uint8), "camera is 640x480"),
    ],
)
def test_bad_images_raise_clear_errors(pipeline, sample, image, message):
    _, camera, boxes, _ = sample
    with pytest.raises(ValueError, match=message):
        pipeline(image, camera, boxes)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"engine": "trt"}, "engine"),
        ({"box_scale": 0.5}, "box_scale"),
        ({"border": "wrap"}, "border"),
        ({"max_hands": 0}, "max_hands"),
        ({"hand_model": "mano"}, "mano_model_path"),
        ({"threads": -1}, "threads"),
    ],
)
def test_bad_config_values_are_refused(kwargs, field):
    with pytest.raises(ValueError, match=field):
        PipelineConfig(estimator="image", **kwargs)


@pytest.mark.parametrize(
    "args, field",
    [
        (((10, 10, 5, 50), "left"), "xyxy_px"),
        (((0, 0, np.nan, 5), "right"), "xyxy_px"),
        (((0, 0, 10, 10), "both"), "side"),
        (((0, 0, 10, 10), "left", 1.5), "score"),
    ],
)
def test_bad_hand_boxes_are_refused(args, field):
    with pytest.raises(ValueError, match=field):
        HandBox(*args)


def test_sample_ground_truth_is_consistent(sample):
    """The bundled sample's labels agree with its camera (guards scripts/make_sample.py)."""
    image, camera, boxes, entries = sample
    assert image.shape == (camera.height, camera.width, 3)
    for box, entry in zip(boxes, entries):
        px = camera.project(np.asarray(entry["keypoints_cam_m"]))
        assert np.abs(px - np.asarray(entry["keypoints_px"])).max() < 0.01
        x0, y0, x1, y1 = box.xyxy_px
        assert np.all((px[:, 0] >= x0) & (px[:, 0] <= x1) & (px[:, 1] >= y0) & (px[:, 1] <= y1))
    data = json.loads(Path(SAMPLE_DIR / "hands.json").read_text())
    assert data["hand_model"] == "open_hand_v1"
