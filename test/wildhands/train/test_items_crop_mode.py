"""Training items in the rectified crop mode: the targets the network learns are exactly what the runtime
pipeline lifts back to the true hand (a network answering the item's targets recovers the labels)."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def fisheye_records():
    cfg = SyntheticConfig.from_dict(
        {"image_sizes": [[320, 240]], "distortion_mix": {"none": 0.0, "plumb_bob": 0.0, "equidistant": 1.0}}
    )
    stream = SyntheticHandStream(cfg, seed=11, length=6)
    return [stream[i] for i in range(6)]


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
