"""Held-out synthetic test sets and the evaluation conditions of the KPE / intrinsics benchmarks: sets are
deterministic, disjoint from training, of the lens model they claim; pinhole KPE changes only the KPE input
and only for distorted lenses; estimated intrinsics misplace even a perfect network's hands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from oracle import OraclePipeline

from wildhands.eval.conditions import (
    DEFAULT_ESTIMATE_HFOV_DEG,
    EvalPipeline,
    estimate_intrinsics,
    evaluate_condition,
    kpe_camera,
)
from wildhands.eval.sources import open_records
from wildhands.eval.testsets import TESTSETS, get_testset, lens_subsets, write_testset
from wildhands.eval.testsets import testset_dir as folder_of  # (test* names would be collected by pytest)
from wildhands.eval.testsets import testset_records as records_of
from wildhands.geometry.camera import CameraModel, DistortionModel
from wildhands.geometry.crop import kpe_inputs
from wildhands.model.config import ModelConfig
from wildhands.runtime.pipeline import HandBox, PipelineConfig
from wildhands.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[3]
TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


@pytest.fixture(scope="module")
def pinhole_frames():
    """Two frames (three or four hands, at least one two-hand frame) of the undistorted test set."""
    return list(records_of("pinhole", 2, cache=False))


def _training_seeds() -> set[int]:
    seeds = {TrainConfig.__dataclass_fields__["eval_seed"].default}
    for path in sorted((REPO / "config" / "train").glob("*.yaml")):
        cfg = TrainConfig.from_yaml(path)
        seeds |= {s.seed for s in cfg.data} | {cfg.eval_seed}
    return seeds


def test_testsets_are_held_out_and_deterministic():
    train = _training_seeds()
    assert 1 in train and 12345 in train  # the default run's data seed and the trainer's evaluation seed
    seeds = [t.seed for t in TESTSETS.values()]
    assert len(set(seeds)) == len(seeds) and not set(seeds) & train
    a = list(records_of("wide_fov", 1, cache=False))
    b = list(records_of("wide_fov", 1, cache=False))
    assert len(a) == len(b) >= 1
    for x, y in zip(a, b):
        assert x.dataset == "wide_fov" and f"_s{get_testset('wide_fov').seed}_" in x.frame_id
        assert np.array_equal(x.image, y.image) and np.array_equal(x.keypoints_cam_m, y.keypoints_cam_m)
        assert x.camera == y.camera and np.array_equal(x.box_xyxy_px, y.box_xyxy_px)
    with pytest.raises(ValueError, match="unknown test set"):
        get_testset("nope")
    with pytest.raises(ValueError, match="frames"):
        records_of("wide_fov", 0)


@pytest.mark.parametrize(
    ("name", "model"),
    [("fisheye", DistortionModel.EQUIDISTANT), ("plumb_bob", DistortionModel.PLUMB_BOB)],
)
def test_lens_sets_have_their_lens(name, model):
    records = list(records_of(name, 2, cache=False))
    assert records and all(r.camera.distortion_model is model for r in records)
    assert all(float(r.extra["visible_fraction"]) >= get_testset(name).min_visible_fraction for r in records)


def test_wide_fov_mixes_lenses_and_focal_lengths():
    cfg = get_testset("wide_fov").config()
    assert cfg.distortion_mix[0] == cfg.distortion_mix[1] == cfg.distortion_mix[2] > 0
    assert cfg.fx_range_px[0] <= 200 and cfg.fisheye_fx_range_px[0] <= 200  # short focal lengths included
    assert get_testset("fisheye").config().distortion_mix[:2] == (0.0, 0.0)


def test_cache_gives_the_rendered_records(tmp_path, pinhole_frames):
    folder = write_testset("pinhole", 2, root=tmp_path, progress=False)
    assert folder == folder_of("pinhole", 2, root=tmp_path) and folder.name == "pinhole-2-v1"
    cached = list(records_of("pinhole", 2, root=tmp_path, progress=False))
    assert len(cached) == len(pinhole_frames)
    for c, r in zip(cached, pinhole_frames):
        assert (c.dataset, c.frame_id, c.side) == (r.dataset, r.frame_id, r.side)
        assert c.image is None and np.array_equal(c.load_image(), r.image)
        assert np.allclose(c.keypoints_cam_m, r.keypoints_cam_m) and np.allclose(c.camera.K, r.camera.K)
    labels = folder / "labels.jsonl"
    mtime = labels.stat().st_mtime_ns
    write_testset("pinhole", 2, root=tmp_path, progress=False)
    assert labels.stat().st_mtime_ns == mtime  # complete: not written again
    meta = json.loads((folder / "meta.json").read_text())
    meta["seed"] = 1
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="another version"):
        write_testset("pinhole", 2, root=tmp_path, progress=False)


def test_open_records_names_test_sets(tmp_path, monkeypatch, pinhole_frames):
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path))
    records = list(open_records("testset:pinhole:2"))
    assert [r.frame_id for r in records] == [r.frame_id for r in pinhole_frames]
    assert (tmp_path / "testsets" / "pinhole-2-v1" / "labels.jsonl").exists()
    with pytest.raises(ValueError, match="FRAMES"):
        open_records("testset:pinhole:many")


def _cameras():
    K = np.array([[300.0, 0.0, 330.0], [0.0, 302.0, 235.0], [0.0, 0.0, 1.0]])
    pinhole = CameraModel.from_K(K, 640, 480)
    fisheye = CameraModel.from_K(K, 640, 480, [0.05, -0.02, 0.01, -0.004], "equidistant")
    plumb = CameraModel.from_K(K, 640, 480, [-0.3, 0.09, 0.001, -0.001, -0.01], "plumb_bob")
    return pinhole, fisheye, plumb


@pytest.mark.parametrize("variant", ["sparse", "dense", "free"])
def test_pinhole_kpe_changes_only_the_kpe_of_distorted_cameras(variant):
    model = ModelConfig.from_dict({**TINY, "kpe": {"variant": variant, "dense_grid": 2}})
    aware = EvalPipeline(
        PipelineConfig(estimator="image", model=model, crop_mode="box"), kpe_mode="distortion_aware"
    )
    pin = EvalPipeline(PipelineConfig(estimator="image", model=model, crop_mode="box"), kpe_mode="pinhole")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    boxes = [HandBox((20.0, 30.0, 140.0, 170.0), "left"), HandBox((420.0, 300.0, 560.0, 470.0), "right")]
    pinhole, fisheye, plumb = _cameras()
    assert kpe_camera(pinhole, "pinhole") == pinhole and kpe_camera(fisheye, "distortion_aware") is fisheye
    for camera in (pinhole, fisheye, plumb):
        a = aware.prepare(image, camera, boxes)
        p = pin.prepare(image, camera, boxes)
        assert np.array_equal(a[0], p[0])  # the crops
        assert [b.as_xyxy() for b in a[2]] == [b.as_xyxy() for b in p[2]] and a[4] == p[4]
        undistorted = CameraModel(camera.width, camera.height, camera.K)
        for i, (hand, box) in enumerate(zip(boxes, p[2])):
            expected = kpe_inputs(undistorted, box, variant, mirror=hand.side == "left", grid=2)
            assert np.allclose(p[1][i], expected)
        same = np.allclose(a[1], p[1])
        assert same == (camera is pinhole or variant == "free"), (variant, camera.distortion_model)
    if variant != "free":
        assert len(pin.kpe_change_deg) == 6 and pin.kpe_change_deg[:2] == [0.0, 0.0]
        assert min(pin.kpe_change_deg[2:]) > 0.1  # degrees: the lenses above move every crop's angles
    # the full pipeline runs in both modes; a fisheye changes the output, a pinhole camera does not
    assert np.allclose(
        aware(image, pinhole, boxes)[0].keypoints_cam_m, pin(image, pinhole, boxes)[0].keypoints_cam_m
    )
    if variant != "free":
        assert not np.allclose(
            aware(image, fisheye, boxes)[0].keypoints_cam_m, pin(image, fisheye, boxes)[0].keypoints_cam_m
        )


def test_estimate_intrinsics_is_the_fov_prior_of_the_node():
    node = yaml.safe_load((REPO / "config" / "hands.yaml").read_text())
    params = next(v["ros__parameters"] for v in node.values() if "ros__parameters" in v)
    assert params["estimate_hfov_deg"] == pytest.approx(DEFAULT_ESTIMATE_HFOV_DEG)
    _, fisheye, _ = _cameras()
    est = estimate_intrinsics(fisheye, 90.0)
    assert est.estimated and est.distortion_model is DistortionModel.NONE
    assert (est.width, est.height) == (640, 480) and est.fx == pytest.approx(320.0)  # 90 deg over 640 px
    assert (est.cx, est.cy) == (319.5, 239.5)
    assert est == CameraModel.from_fov(640, 480, math.radians(90.0))
    for bad in (0.0, 180.0, float("nan"), True):
        with pytest.raises(ValueError, match="hfov_deg"):
            estimate_intrinsics(fisheye, bad)
    with pytest.raises(ValueError, match="kpe_mode"):
        kpe_camera(fisheye, "fisheye")


def test_estimated_intrinsics_misplace_a_perfect_network(pinhole_frames, tmp_path):
    """An oracle that reads the true hand off the image (its weak-perspective camera is the true camera's)
    is exact with the true K; lifted with the FoV-prior K its hands land elsewhere, root-relative poses
    unchanged."""
    small = PipelineConfig(estimator="image", model=ModelConfig.from_dict(TINY))
    oracle = OraclePipeline(pinhole_frames, small, wp_from_true_camera=True)
    true = evaluate_condition(oracle, pinhole_frames, tmp_path / "t", subsets=lens_subsets, progress=False)
    est = evaluate_condition(
        oracle, pinhole_frames, tmp_path / "e", intrinsics="estimated", hfov_deg=90.0, progress=False
    )
    t, e = true["datasets"]["pinhole"], est["datasets"]["pinhole"]
    assert t["hands"] == e["hands"] == len(pinhole_frames) and t["frames_mrrpe"] >= 1
    assert t["root_error_mm"] < 0.5 and t["mrrpe_mm"] < 0.5 and t["kp2d_px"] < 0.1
    assert e["root_error_mm"] > 5.0 and e["mrrpe_mm"] > 1.0 and e["kp2d_px"] > 0.5
    assert e["mpjpe_mm"] < 0.5 and e["pa_mpjpe_mm"] < 0.5  # the pose itself is still exact
    assert est["condition"] == {"kpe_mode": "distortion_aware", "intrinsics": "estimated", "hfov_deg": 90.0}
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["condition"]["intrinsics"] == "estimated"
    assert true["datasets"]["pinhole/none"]["hands"] == t["hands"]  # the lens subset of every frame
    with pytest.raises(ValueError, match="intrinsics"):
        evaluate_condition(oracle, pinhole_frames, tmp_path / "x", intrinsics="guess")
    with pytest.raises(ValueError, match="kpe_mode"):
        evaluate_condition(oracle, pinhole_frames, tmp_path / "x", kpe_mode="pinhole")
