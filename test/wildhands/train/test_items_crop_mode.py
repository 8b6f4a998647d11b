"""Training items in the rectified crop mode: the targets the network learns are exactly what the runtime
pipeline lifts back to the true hand (a network answering the item's targets recovers the labels)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
from wildhands.model.config import ModelConfig
from wildhands.runtime.engines.base import EngineOutput
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig
from wildhands.train.items import AugmentConfig, make_item

TINY = ModelConfig.from_dict(
    {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}
)


def _records(lens: str, seed: int, n: int = 6):
    """``n`` synthetic 320 x 240 frames' hands, every camera with the lens model ``lens``."""
    mix = {"none": 0.0, "plumb_bob": 0.0, "equidistant": 0.0, lens: 1.0}
    cfg = SyntheticConfig.from_dict({"image_sizes": [[320, 240]], "distortion_mix": mix})
    stream = SyntheticHandStream(cfg, seed=seed, length=n)
    return [stream[i] for i in range(n)]


@pytest.fixture(scope="module")
def fisheye_records():
    return _records("equidistant", seed=11)


@pytest.mark.parametrize("mode", ["box", "rectified"])
def test_item_targets_lift_back_to_the_labels(fisheye_records, mode):
    pipeline = Pipeline(PipelineConfig(estimator="image", model=TINY, crop_mode=mode, seed=0))
    augment = AugmentConfig(enabled=False, crop_mode=mode)
    sides = set()
    for record in fisheye_records:
        item = make_item(record, TINY, augment=augment)
        assert bool(item["has_3d"]) and bool(item["has_params"])
        hand = HandBox(tuple(record.box_xyxy_px), record.side)
        _, kpe, crop_boxes, net_boxes, mirrored = pipeline.prepare(record.load_image(), record.camera, [hand])
        # the network sees the same KPE inputs in training and at run time
        np.testing.assert_allclose(kpe[0], item["kpe"].numpy(), atol=1e-5)
        out = EngineOutput(
            item["global_orient"].numpy()[None],
            item["hand_pose"].numpy()[None],
            item["betas"].numpy()[None],
            item["cam_wp"].numpy()[None],
            np.zeros((1, 8), np.float32),
        )
        (estimate,) = pipeline.lift(out, record.camera, mirrored, [hand], crop_boxes, net_boxes)
        err_mm = 1000 * np.linalg.norm(estimate.keypoints_cam_m - record.keypoints_cam_m, axis=1)
        assert err_mm.max() < 1.0, (record.side, err_mm.max())
        assert (estimate.rectified_crop is not None) == (mode == "rectified")
        sides.add(record.side)
        if mode == "rectified":
            # the 2D targets are where the hand is in the rectified crop (virtual camera pixels)
            uv = item["kp2d"].numpy()[item["kp2d_valid"].numpy()]
            assert np.all((uv > -0.5 * 64) & (uv < 1.5 * 64))
    assert sides == {"left", "right"}


def test_crop_mode_is_validated():
    with pytest.raises(ValueError, match="crop_mode"):
        AugmentConfig(crop_mode="warp")
    for bad in ({"upright_prob": 1.5}, {"roll_sigma_deg": -1.0}, {"unturned_roll_deg": 190.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AugmentConfig(**bad)


def _outputs(item) -> EngineOutput:
    """The engine output a network answering the item's targets would give."""
    return EngineOutput(
        item["global_orient"].numpy()[None],
        item["hand_pose"].numpy()[None],
        item["betas"].numpy()[None],
        item["cam_wp"].numpy()[None],
        np.zeros((1, 8), np.float32),
    )


@pytest.mark.parametrize("records", ["fisheye_records", "pinhole_records"])
def test_upright_items_and_the_pipelines_two_passes(records, request):
    """crop_roll='upright': the item's crop shows the wrist below the middle MCP; a first pass that reads
    the unturned crop right gives the pipeline the same roll as the labels gave the item; the second pass's
    crop then has the item's KPE inputs, and the item's targets lift back to the labels."""
    from wildhands.geometry.perspective_crop import upright_roll
    from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST

    upright = ModelConfig.from_dict({**TINY.to_dict(), "crop_roll": "upright"})
    pipeline = Pipeline(PipelineConfig(estimator="image", model=upright, seed=0))
    plain = AugmentConfig(enabled=False, crop_mode="auto")
    for record in request.getfixturevalue(records):
        item = make_item(record, upright, augment=plain)
        uv = item["kp2d"].numpy()
        d = uv[MIDDLE_MCP] - uv[WRIST]
        assert d[1] < -2.0 and abs(d[0]) < 1e-6 * abs(d[1]) + 1e-6, (record.side, d)  # straight up
        hand = HandBox(tuple(record.box_xyxy_px), record.side)
        image = record.load_image()
        # first pass: the unturned crop (what a network trained without the roll would be given)
        _, _, crop_boxes, net_boxes, mirrored = pipeline.prepare(image, record.camera, [hand])
        first_item = make_item(record, TINY, augment=plain)
        first = pipeline.lift(_outputs(first_item), record.camera, mirrored, [hand], crop_boxes, net_boxes)
        (roll,) = pipeline.upright_rolls(record.camera, [hand], crop_boxes, net_boxes, first)
        unturned = pipeline.plan_crop(record.camera, hand, 0.0).rectified
        kp = record.keypoints_cam_m
        assert roll == pytest.approx(upright_roll(unturned, kp[WRIST], kp[MIDDLE_MCP]), abs=1e-6)
        # second pass
        _, kpe, crop_boxes, net_boxes, mirrored = pipeline.prepare(image, record.camera, [hand], [roll])
        np.testing.assert_allclose(kpe[0], item["kpe"].numpy(), atol=1e-5)
        (estimate,) = pipeline.lift(_outputs(item), record.camera, mirrored, [hand], crop_boxes, net_boxes)
        assert 1000 * np.linalg.norm(estimate.keypoints_cam_m - kp, axis=1).max() < 1.0
        assert np.allclose(estimate.rectified_crop.R, net_boxes[0].R)
    # the whole call runs both passes (an untrained network: any hand, but turned crops)
    record = request.getfixturevalue(records)[0]
    (hand,) = pipeline(record.load_image(), record.camera, [HandBox(tuple(record.box_xyxy_px), record.side)])
    assert hand.rectified_crop is not None and hand.keypoints_cam_m.shape == (21, 3)


@pytest.fixture(scope="module")
def pinhole_records():
    return _records("none", seed=12)


def test_unturned_crops_turned_any_way(pinhole_records):
    """``unturned_roll_deg``: the crops that are not turned upright are turned by a random roll within the
    bound instead (the hand pointing any way, as the first pass meets it); off (0), they stay unturned and no
    random numbers are drawn, so items of older configs are unchanged."""
    from wildhands.train.items import _upright_roll

    upright = ModelConfig.from_dict({**TINY.to_dict(), "crop_roll": "upright"})
    record = pinhole_records[0]
    any_way = AugmentConfig(crop_mode="auto", upright_prob=0.0, unturned_roll_deg=180.0)
    rolls = [
        _upright_roll(record, upright, any_way, np.random.default_rng(i), 1.5, np.zeros(2)) for i in range(40)
    ]
    assert all(r is not None and abs(r) <= math.pi for r in rolls)
    assert max(rolls) - min(rolls) > math.pi  # spread over the circle
    off = AugmentConfig(crop_mode="auto", upright_prob=0.0)
    rng_off, rng_ref = np.random.default_rng(1), np.random.default_rng(1)
    assert _upright_roll(record, upright, off, rng_off, 1.5, np.zeros(2)) is None
    rng_ref.random()
    assert rng_off.random() == rng_ref.random()  # one draw (upright or not), nothing more
    item = make_item(record, upright, augment=any_way, rng=np.random.default_rng(3))
    assert item["images"].shape[-1] == TINY.image_size
