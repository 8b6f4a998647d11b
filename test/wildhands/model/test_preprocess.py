"""wildhands.model.preprocess: the one place that prepares the network input (crop plan, crop, KPE inputs,
normalisation), checked against the geometry functions it composes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import CropBox, kpe_inputs, mirror_box, square_box_from_xyxy, warp_crop
from wildhands.geometry.perspective_crop import rectify_box, warp_rectified
from wildhands.model.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NORMALISATION_TABLE,
    crop_kpe_inputs,
    cut_crop,
    normalize_crops,
    plan_crop,
    preprocess_crops,
    square_crop_box,
)

W, H = 320, 240
PINHOLE = CameraModel(W, H, np.array([[160.0, 0, 150.5], [0, 160.0, 119.5], [0, 0, 1]]))
FISHEYE = CameraModel(
    W, H, np.array([[90.0, 0, 161.0], [0, 90.0, 118.0], [0, 0, 1]]), "equidistant", [0.02, -0.01, 0.002, 0.0]
)
HAND = (200.0, 60.0, 250.0, 130.0)  # x0, y0, x1, y1 px


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def test_normalisation_table_is_the_imagenet_formula():
    v = np.arange(256, dtype=np.float64)[:, None]
    expected = (v / 255.0 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    assert NORMALISATION_TABLE.dtype == np.float32 and NORMALISATION_TABLE.shape == (256, 3)
    np.testing.assert_allclose(NORMALISATION_TABLE, expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        NORMALISATION_TABLE[0, 0] = 1.0  # read-only: nobody changes what the network was trained on


def test_numpy_and_torch_normalisation_agree_bitwise():
    crops = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    crops[0] = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)  # every value in every channel
    images = normalize_crops(crops)
    assert images.dtype == np.float32 and images.shape == (3, 3, 16, 16) and images.flags.c_contiguous
    formula = (crops.astype(np.float32) / 255.0 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(
        IMAGENET_STD, np.float32
    )
    np.testing.assert_array_equal(images, formula.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(preprocess_crops(crops).numpy(), images)
    np.testing.assert_array_equal(preprocess_crops(torch.from_numpy(crops)).numpy(), images)
    np.testing.assert_array_equal(normalize_crops(crops[1]), images[1:2])  # one crop -> B = 1
    assert normalize_crops(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 3, 8, 8)
    for bad in (crops.astype(np.float32), crops[..., :2], crops[0, 0]):
        with pytest.raises(ValueError):
            normalize_crops(bad)


@pytest.mark.parametrize("border", ["zero_pad", "clamp"])
def test_box_plan_is_the_square_box(border):
    crop = plan_crop(PINHOLE, HAND, 64, 1.5, mirror=False, crop_mode="box", border=border)
    assert crop.rectified is None and crop.size == 64 and not crop.mirror
    assert crop.box == square_box_from_xyxy(HAND, (W, H), scale=1.5, border=border)
    assert crop.net_box == crop.box and crop.net_camera is PINHOLE
    left = plan_crop(PINHOLE, HAND, 64, 1.5, mirror=True, crop_mode="auto", border=border)  # auto: pinhole
    assert left.rectified is None and left.box == crop.box
    assert left.net_box == mirror_box(crop.box, (W - 1) / 2.0)
    np.testing.assert_array_equal(left.net_camera.K, PINHOLE.mirrored().K)


def test_shift_moves_the_square_and_the_rectified_crop_alike():
    box = square_box_from_xyxy(HAND, (W, H), scale=1.5)
    moved = square_crop_box(PINHOLE, HAND, 1.5, shift=(0.1, -0.05))
    assert moved == CropBox(box.x0 + 0.1 * box.size, box.y0 - 0.05 * box.size, box.size)
    assert square_crop_box(PINHOLE, HAND, 1.5, shift=(0.0, 0.0)) == box == square_crop_box(PINHOLE, HAND, 1.5)
    crop = plan_crop(FISHEYE, HAND, 64, 1.5, mirror=False, crop_mode="rectified", shift=(0.1, -0.05))
    assert crop.box == square_crop_box(FISHEYE, HAND, 1.5, shift=(0.1, -0.05))
    dx, dy = 0.1 * crop.box.size, -0.05 * crop.box.size
    expected = rectify_box(FISHEYE, (HAND[0] + dx, HAND[1] + dy, HAND[2] + dx, HAND[3] + dy), 64, 1.5)
    np.testing.assert_array_equal(crop.rectified.R, expected.R)
    np.testing.assert_array_equal(crop.rectified.K, expected.K)
    with pytest.raises(ValueError, match="shift"):
        square_crop_box(PINHOLE, HAND, 1.5, shift=(np.nan, 0.0))


@pytest.mark.parametrize("mirror", [False, True])
def test_rectified_plan_crop_and_kpe(image, mirror):
    crop = plan_crop(FISHEYE, HAND, 48, 1.5, mirror=mirror, crop_mode="auto")  # auto: fisheye -> rectified
    rc = rectify_box(FISHEYE, HAND, 48, 1.5)
    np.testing.assert_array_equal(crop.rectified.R, rc.R)
    assert crop.net_box == rc.crop_box and crop.net_camera.width == 48
    np.testing.assert_array_equal(crop.net_camera.K, rc.K)
    np.testing.assert_array_equal(cut_crop(image, crop), warp_rectified(image, FISHEYE, rc, mirror=mirror))
    np.testing.assert_array_equal(
        crop_kpe_inputs(crop, "dense", grid=3), kpe_inputs(rc.camera, rc.crop_box, "dense", mirror, grid=3)
    )
    mask = cut_crop(image[:, :, 0], crop, out_size=16)  # training's masks: rendered at S, resized
    assert mask.shape == (16, 16)


@pytest.mark.parametrize("variant", ["sparse", "dense", "free", "none"])
def test_box_crop_and_kpe_of_a_left_hand_are_the_mirrored_right_hand(image, variant):
    right = plan_crop(PINHOLE, HAND, 64, 1.5, mirror=False)
    left = plan_crop(PINHOLE, HAND, 64, 1.5, mirror=True)
    np.testing.assert_array_equal(cut_crop(image, right), warp_crop(image, right.box, 64))
    np.testing.assert_array_equal(cut_crop(image, left), cut_crop(image, right)[:, ::-1])
    np.testing.assert_array_equal(cut_crop(image, right, out_size=16), warp_crop(image, right.box, 16))
    kpe = crop_kpe_inputs(left, variant, grid=2)
    np.testing.assert_array_equal(kpe, kpe_inputs(PINHOLE, left.box, variant, mirror=True, grid=2))
    # the KPE inputs of the left crop are those of its net camera and box (the mirrored image)
    np.testing.assert_allclose(kpe, kpe_inputs(left.net_camera, left.net_box, variant, grid=2), atol=1e-6)


def test_a_box_that_cannot_be_rectified_gets_the_box_crop():
    errors = []
    wide = (0.0, 0.0, 320.0, 240.0)  # wider than the rectified crop allows on this fisheye
    crop = plan_crop(
        FISHEYE, wide, 32, 1.5, mirror=False, crop_mode="rectified", on_rectify_error=errors.append
    )
    assert crop.rectified is None and crop.box == square_box_from_xyxy(wide, (W, H), scale=1.5)
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert plan_crop(FISHEYE, wide, 32, 1.5, mirror=False, crop_mode="rectified").rectified is None  # silent
