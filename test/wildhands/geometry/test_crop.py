"""Tests for wildhands.geometry.crop: boxes, the crop warp, mirroring and KPE inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wildhands.geometry import (
    CameraModel,
    CropBox,
    crop_affine,
    crop_to_image,
    image_to_crop,
    kpe_inputs,
    kpe_sample_points,
    mirror_box,
    square_box_from_points,
    square_box_from_xyxy,
    warp_crop,
)

W, H = 640, 480


def test_cropbox_properties_and_validation() -> None:
    box = CropBox(10.0, 20.0, 100.0)
    assert box.center == (59.5, 69.5)
    assert (box.x1, box.y1) == (110.0, 120.0)
    assert box.as_xyxy() == (10.0, 20.0, 110.0, 120.0)
    assert CropBox.from_center(box.center, 100.0) == box
    with pytest.raises(ValueError, match="size"):
        CropBox(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="x0"):
        CropBox(float("nan"), 0.0, 10.0)


@pytest.mark.parametrize("mirror", [False, True])
def test_image_crop_round_trip(mirror: bool) -> None:
    rng = np.random.default_rng(0)
    box = CropBox(-37.25, 101.5, 173.0)
    uv = rng.uniform(-100, 700, size=(500, 2))
    crop = image_to_crop(uv, box, 224, mirror)
    np.testing.assert_allclose(crop_to_image(crop, box, 224, mirror), uv, atol=1e-9)
    # box edges map to the crop edges, the box centre to the crop centre
    edges = image_to_crop([[box.x0 - 0.5, box.y0 - 0.5], list(box.center)], box, 224, mirror)
    np.testing.assert_allclose(edges[0], [223.5 if mirror else -0.5, -0.5], atol=1e-12)
    np.testing.assert_allclose(edges[1], [111.5, 111.5], atol=1e-12)
    M = crop_affine(box, 224, mirror)
    np.testing.assert_allclose(uv @ M[:, :2].T + M[:, 2], crop, atol=1e-12)


@pytest.mark.parametrize("mirror", [False, True])
def test_warp_crop_single_bright_pixel(mirror: bool) -> None:
    img = np.zeros((H, W, 3), dtype=np.uint8)
    u0, v0 = 301, 177
    img[v0, u0] = (255, 128, 7)
    # same scale: the pixel lands exactly where image_to_crop says
    box = CropBox(250.0, 100.0, 112.0)
    crop = warp_crop(img, box, out_size=112, mirror=mirror)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    uc, vc = image_to_crop([[u0, v0]], box, 112, mirror)[0]
    assert float(uc).is_integer() and float(vc).is_integer()
    np.testing.assert_array_equal(crop[int(vc), int(uc)], (255, 128, 7))
    assert crop.sum() == 255 + 128 + 7
    # 2x upscaling: the bright blob's centroid is the mapped position
    box2 = CropBox(280.0, 150.0, 56.0)
    crop2 = warp_crop(img[:, :, 0].astype(np.float32), box2, out_size=112, mirror=mirror)
    assert crop2.shape == (112, 112)
    vv, uu = np.nonzero(crop2)
    wts = crop2[vv, uu]
    centroid = np.array([np.sum(uu * wts), np.sum(vv * wts)]) / wts.sum()
    np.testing.assert_allclose(centroid, image_to_crop([[u0, v0]], box2, 112, mirror)[0], atol=1e-4)


def test_warp_crop_zero_padding_and_channels() -> None:
    img = np.full((H, W), 200, dtype=np.uint8)
    box = CropBox(-50.0, -50.0, 100.0)  # top-left quarter outside the image
    crop = warp_crop(img, box, out_size=100, interpolation=cv2.INTER_NEAREST)
    assert np.all(crop[:50, :] == 0) and np.all(crop[:, :50] == 0) and np.all(crop[50:, 50:] == 200)
    many = np.random.default_rng(0).random((H, W, 6)).astype(np.float32)
    out = warp_crop(many, CropBox(10.0, 10.0, 50.0), out_size=25)
    assert out.shape == (25, 25, 6)
    np.testing.assert_allclose(out[..., 4], warp_crop(many[..., 4], CropBox(10.0, 10.0, 50.0), out_size=25))
    assert warp_crop(img[:, :, None], box, 32).shape == (32, 32, 1)
    for bad in (np.zeros((0, 5)), np.zeros((5,)), np.zeros((4, 4, 4, 1)), np.zeros((4, 4), dtype=bool)):
        with pytest.raises(ValueError, match="image"):
            warp_crop(bad, box)


def test_square_box_from_xyxy_clamp_vs_zero_pad() -> None:
    xyxy = (600.0, 10.0, 660.0, 50.0)  # sticks out of the right border
    pad = square_box_from_xyxy(xyxy, (W, H), scale=1.5, border="zero_pad")
    assert pad.size == 90.0 and pad.center == (629.5, 29.5)
    assert pad.x1 > W and pad.y0 < 0
    clamp = square_box_from_xyxy(xyxy, (W, H), scale=1.5, border="clamp")
    assert clamp.size == 90.0 and clamp.x1 == W and clamp.y0 == 0.0
    # bigger than the image: shrunk to fit
    huge = square_box_from_xyxy((0, 0, W, H), (W, H), scale=2.0, border="clamp")
    assert huge.size == H and 0 <= huge.x0 and huge.x1 <= W and huge.y0 == 0
    # min size
    assert square_box_from_xyxy((10, 10, 11, 12), (W, H), min_size_px=8).size == 8.0
    for bad in [(700, 10, 800, 50), (10, -90, 50, 0), (10, 10, 10, 50), (float("nan"), 0, 5, 5), (1, 2, 3)]:
        with pytest.raises(ValueError, match="xyxy"):
            square_box_from_xyxy(bad, (W, H))
    with pytest.raises(ValueError, match="border"):
        square_box_from_xyxy((10, 10, 50, 50), (W, H), border="reflect")


def test_square_box_from_points() -> None:
    uv = np.array([[100.0, 200.0], [140.0, 260.0], [np.nan, np.nan]])
    box = square_box_from_points(uv, (W, H), scale=1.5)
    assert box.size == 90.0 and box.center == (120.0, 230.0)
    with pytest.raises(ValueError, match="outside"):
        square_box_from_points([[-10.0, 5.0], [-20.0, 5.0]], (W, H))
    with pytest.raises(ValueError, match="finite"):
        square_box_from_points([[np.nan, 1.0]], (W, H))


def test_mirror_box() -> None:
    box = CropBox(13.0, 40.0, 57.0)
    c = (W - 1) / 2.0
    m = mirror_box(box, c)
    assert mirror_box(m, c) == box
    assert m.center[0] == pytest.approx(W - 1 - box.center[0]) and m.y0 == box.y0
    # the crop of the flipped image in the mirrored box equals the mirrored crop of the original
    img = np.random.default_rng(0).integers(0, 255, (H, W), dtype=np.uint8)
    a = warp_crop(img, box, 64, mirror=True)
    b = warp_crop(img[:, ::-1], m, 64, mirror=False)
    np.testing.assert_array_equal(a, b)


def test_kpe_sample_points_sparse_and_dense() -> None:
    box = CropBox(100.0, 50.0, 70.0)
    sparse = kpe_sample_points(box, "sparse")
    l, t, r, b = box.x0 - 0.5, box.y0 - 0.5, box.x1 - 0.5, box.y1 - 0.5
    np.testing.assert_allclose(sparse, [[l, t], [r, t], [l, b], [r, b], list(box.center)], atol=1e-12)
    dense = kpe_sample_points(box, "dense", grid=7)
    assert dense.shape == (49, 2)
    cell = box.size / 7
    np.testing.assert_allclose(dense[0], [l + cell / 2, t + cell / 2], atol=1e-12)  # row-major, TL first
    np.testing.assert_allclose(dense[6], [r - cell / 2, t + cell / 2], atol=1e-12)
    np.testing.assert_allclose(dense[42], [l + cell / 2, b - cell / 2], atol=1e-12)
    np.testing.assert_allclose(dense[24], box.center, atol=1e-12)  # middle cell = centre
    # the dense corner cells lie inside the sparse corners
    assert (
        np.all(dense[:, 0] > l)
        and np.all(dense[:, 0] < r)
        and np.all(dense[:, 1] > t)
        and np.all(dense[:, 1] < b)
    )
    # mirrored: the flipped crop's TL is the original TR
    ms = kpe_sample_points(box, "sparse", mirror=True)
    np.testing.assert_allclose(ms, sparse[[1, 0, 3, 2, 4]], atol=1e-12)
    md = kpe_sample_points(box, "dense", mirror=True).reshape(7, 7, 2)
    np.testing.assert_allclose(md, dense.reshape(7, 7, 2)[:, ::-1], atol=1e-12)
    with pytest.raises(ValueError, match="variant"):
        kpe_sample_points(box, "medium")


def test_dense_and_sparse_angles_agree_at_same_pixels() -> None:
    cam = CameraModel.from_K(
        [[500.0, 0, 330.0], [0, 505.0, 235.0], [0, 0, 1]],
        W,
        H,
        [-0.25, 0.07, 0.001, 0.0005, 0.0],
        "plumb_bob",
    )
    # a 1x1 dense grid of a box has its single cell centre at the box centre = sparse centre
    box = CropBox(200.0, 100.0, 120.0)
    np.testing.assert_allclose(
        kpe_inputs(cam, box, "dense", grid=1)[0], kpe_inputs(cam, box, "sparse")[4], atol=1e-7
    )
    # a dense grid of the box grown by one cell on each side has its corner-cell centres at the box corners
    g = 7
    big = CropBox(box.x0 - box.size / (g - 1) / 2, box.y0 - box.size / (g - 1) / 2, box.size * g / (g - 1))
    dense = kpe_inputs(cam, big, "dense", grid=g)
    sparse = kpe_inputs(cam, box, "sparse")
    np.testing.assert_allclose(dense[[0, g - 1, g * (g - 1), g * g - 1]], sparse[:4], atol=1e-6)


@pytest.mark.parametrize("variant", ["sparse", "dense", "free"])
@pytest.mark.parametrize("distorted", [False, True])
def test_mirrored_kpe_is_kpe_of_mirrored_box(variant: str, distorted: bool) -> None:
    if distorted:
        cam = CameraModel.from_K(
            [[450.0, 0, 300.0], [0, 460.0, 250.0], [0, 0, 1]],
            W,
            H,
            [-0.2, 0.05, 0.002, -0.003, 0.0],
            "plumb_bob",
        )
    else:
        cam = CameraModel.from_K([[450.0, 0, (W - 1) / 2], [0, 450.0, (H - 1) / 2], [0, 0, 1]], W, H)
    box = CropBox(410.0, 60.0, 150.0)
    a = kpe_inputs(cam, box, variant, mirror=True)
    b = kpe_inputs(cam.mirrored(), mirror_box(box, (W - 1) / 2.0), variant, mirror=False)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a.dtype == np.float32
    # and mirroring really changes the input
    assert not np.allclose(a, kpe_inputs(cam, box, variant, mirror=False), atol=1e-3)


def test_kpe_free_and_none() -> None:
    cam = CameraModel.from_fov(W, H, 1.2)
    full = CropBox(0.0, 0.0, float(W))
    free = kpe_inputs(cam, full, "free")
    np.testing.assert_allclose(free[4], [0.0, (full.center[1] / (H - 1)) * 2 - 1], atol=1e-6)
    assert free.shape == (5, 2)
    none = kpe_inputs(cam, full, "none")
    assert none.shape == (5, 2) and not none.any()


def test_kpe_accepts_enum_variant() -> None:
    import enum

    class Variant(enum.Enum):
        SPARSE = "sparse"

    cam = CameraModel.from_fov(W, H, 1.2)
    box = CropBox(10.0, 10.0, 50.0)
    np.testing.assert_array_equal(kpe_inputs(cam, box, Variant.SPARSE), kpe_inputs(cam, box, "sparse"))


def test_kpe_falls_back_to_pinhole_outside_the_lens_and_warns_once_per_period(caplog) -> None:
    import wildhands.geometry.crop as crop_module

    K = np.array([[300.0, 0, 320], [0, 300.0, 240], [0, 0, 1]])
    # barrel distortion folds over: the distorted radius peaks at 0.54 (r = 0.82), so no pixel beyond
    # ~163 px from the centre has an inverse, whatever the solver
    lens = CameraModel(640, 480, K, "plumb_bob", np.array([-0.5, 0.0, 0, 0, 0]))
    far = CropBox(-3000.0, -3000.0, 500.0)  # past where plumb_bob can be inverted
    assert not np.isfinite(lens.pixels_to_angles(np.array([[-2000.0, -2000.0]]))).all()
    crop_module._lens_warning.update(last=-np.inf, suppressed=0)
    with caplog.at_level("WARNING", logger="wildhands.geometry.crop"):
        angles = [kpe_inputs(lens, far, "sparse") for _ in range(5)]
    pinhole = kpe_inputs(CameraModel(640, 480, K), far, "sparse")
    assert all(np.allclose(a, pinhole) for a in angles)
    warnings = [r for r in caplog.records if "outside the lens model" in r.getMessage()]
    assert len(warnings) == 1 and crop_module._lens_warning["suppressed"] == 4


def test_up_angle_from_the_image_up_clockwise():
    from math import pi

    from wildhands.geometry.crop import up_angle

    wrist = (10.0, 10.0)
    for to, angle in (((10, 0), 0.0), ((20, 10), pi / 2), ((0, 10), -pi / 2), ((20, 0), pi / 4)):
        assert up_angle(wrist, to) == pytest.approx(angle, abs=1e-12)
    assert up_angle(wrist, (10, 20)) == pytest.approx(-pi, abs=1e-12)  # straight down: [-pi, pi)
