"""Training and inference prepare the network input identically.

A training item without jitter (``AugmentConfig(enabled=False)``) and the pipeline's ``prepare`` for the same
image, camera, hand box and side must hand the network the same tensors, bit for bit: the normalised crop
and the KPE inputs (left hands included: both mirror), and the crop's box and camera the targets and the
lift refer to. Both go through :mod:`wildhands.model.preprocess`; this test fails when either side
prepares differently (another crop, box scale, normalisation, mirroring or KPE sample points).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
from wildhands.geometry.perspective_crop import RectifiedCrop
from wildhands.model.config import ModelConfig
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig
from wildhands.train.items import AugmentConfig, make_item

TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


@pytest.fixture(scope="module")
def records():
    """Synthetic hands through all three lens models, each as a right and as a left hand."""
    cfg = SyntheticConfig.from_dict(
        {"image_sizes": [[320, 240]], "distortion_mix": {"none": 0.3, "plumb_bob": 0.3, "equidistant": 0.4}}
    )
    stream = SyntheticHandStream(cfg, seed=5, length=4)
    out = []
    for record in (stream[i] for i in range(4)):
        for side in ("right", "left"):
            out.append(dataclasses.replace(record, side=side))
    models = {r.camera.distortion_model.value for r in out}
    assert {"equidistant"} < models, models  # a fisheye (auto: rectified) and a non-fisheye camera
    return out


@pytest.mark.parametrize("variant", ["sparse", "dense"])
@pytest.mark.parametrize("crop_mode", ["box", "rectified", "auto"])
def test_training_item_is_the_pipeline_input(records, crop_mode, variant):
    model = ModelConfig.from_dict({**TINY, "kpe": {"variant": variant, "dense_grid": 2}})
    pipeline = Pipeline(
        PipelineConfig(estimator="image", model=model, crop_mode=crop_mode)
    )  # default box_scale, border
    augment = AugmentConfig(enabled=False, crop_mode=crop_mode)  # default box_scale
    rectified = set()
    for record in records:
        item = make_item(record, model, augment=augment)
        hand = HandBox(tuple(record.box_xyxy_px), record.side)
        images, kpe, _, net_boxes, mirrored = pipeline.prepare(record.load_image(), record.camera, [hand])
        what = f"{record.side} hand, {record.camera.distortion_model.value} camera"
        np.testing.assert_array_equal(item["images"].numpy(), images[0], err_msg=f"images, {what}")
        np.testing.assert_array_equal(item["kpe"].numpy(), kpe[0], err_msg=f"kpe, {what}")
        assert bool(item["is_left"]) == (record.side == "left")
        # the box and camera of the crop (targets in training, the lift at run time)
        net = net_boxes[0]
        if isinstance(net, RectifiedCrop):
            box, K = net.crop_box, net.K
            rectified.add(record.side)
        else:
            box, K = net, (mirrored if record.side == "left" else record.camera).K
        np.testing.assert_array_equal(item["box_center"].numpy(), np.float32(box.center))
        np.testing.assert_array_equal(item["box_size"].numpy(), np.float32(box.size))
        np.testing.assert_array_equal(item["K"].numpy(), K.astype(np.float32))
    assert rectified == ({"left", "right"} if crop_mode != "box" else set())
