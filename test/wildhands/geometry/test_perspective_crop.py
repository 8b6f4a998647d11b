"""Tests for wildhands.geometry.perspective_crop: the virtual pinhole camera of a rectified hand crop, its
remap, the point mappings both ways, mirroring, and boxes at the image edge / past a lens's range."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from wildhands.geometry import CameraModel, kpe_inputs, square_box_from_xyxy, warp_crop
from wildhands.geometry.perspective_crop import (
    MAX_HALF_ANGLE_RAD,
    RectifiedCrop,
    camera_to_virtual,
    crop_homography,
    crop_outline_px,
    image_to_rectified,
    look_at_rotation,
    max_ray_angle,
    points_to_rectified,
    rectified_crop,
    rectified_maps,
    rectified_to_image,
    rectify_box,
    rectify_rect,
    roll_matrix,
    rotation_to_camera,
    upright_roll,
    uses_rectified_crop,
    virtual_to_camera,
    warp_rectified,
)

W, H = 320, 240
K = np.array([[160.0, 0.0, 159.5], [0.0, 160.0, 119.5], [0.0, 0.0, 1.0]])
PINHOLE = CameraModel(W, H, K)
PLUMB = CameraModel(W, H, K, "plumb_bob", [-0.25, 0.06, 0.001, -0.0015, -0.005])
FISHEYE = CameraModel(
    W, H, np.array([[90.0, 0, 161.0], [0, 90.0, 118.0], [0, 0, 1]]), "equidistant", [0.02, -0.01, 0.002, 0.0]
)
CAMERAS = {"pinhole": PINHOLE, "plumb_bob": PLUMB, "equidistant": FISHEYE}
# a centred box, one at the right edge, one in the top-left corner (partly outside the image)
BOXES = [(130.0, 95.0, 190.0, 145.0), (270.0, 100.0, 320.0, 160.0), (-10.0, -8.0, 45.0, 40.0)]


def _sphere_image(camera: CameraModel) -> np.ndarray:
    """A float32 image whose content is a smooth function of each pixel's ray (0 where there is none)."""
    vv, uu = np.mgrid[0 : camera.height, 0 : camera.width]
    rays = camera.pixels_to_rays(np.stack([uu.ravel(), vv.ravel()], axis=1).astype(np.float64))
    return _pattern(rays).reshape(camera.height, camera.width).astype(np.float32)


def _pattern(rays: np.ndarray) -> np.ndarray:
    d = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    out = 127.5 + 100.0 * np.sin(6.0 * d[:, 0]) * np.cos(5.0 * d[:, 1] + 0.3)
    return np.where(np.all(np.isfinite(d), axis=1), out, 0.0)


def test_pinhole_box_on_the_principal_point_is_the_box_crop():
    box = (159.5 + 0.5 - 40, 119.5 + 0.5 - 30, 159.5 + 0.5 + 40, 119.5 + 0.5 + 30)  # centre = (cx, cy)
    rc = rectify_box(PINHOLE, box, 64, box_scale=1.5)
    np.testing.assert_allclose(rc.R, np.eye(3), atol=1e-12)
    assert rc.f == pytest.approx(64 / (1.5 * 80) * 160.0) and rc.c == 31.5
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (0, 0), 2)
    square = square_box_from_xyxy(box, (W, H), 1.5)
    for mirror in (False, True):
        crop, rc2 = rectified_crop(image, PINHOLE, box, 64, 1.5, mirror=mirror)
        ref = warp_crop(image, square, 64, mirror=mirror)
        assert crop.shape == ref.shape == (64, 64, 3) and crop.dtype == np.uint8
        assert np.abs(crop.astype(int) - ref).max() <= 1, "only interpolation/rounding may differ"
        np.testing.assert_allclose(rc2.K, rc.K)
        # the virtual KPE of the whole crop = the real KPE of the box crop
        np.testing.assert_allclose(
            kpe_inputs(rc.camera, rc.crop_box, "dense", mirror=mirror, grid=3),
            kpe_inputs(PINHOLE, square, "dense", mirror=mirror, grid=3),
            atol=1e-6,
        )


@pytest.mark.parametrize("name", list(CAMERAS))
@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("mirror", [False, True])
def test_round_trips_virtual_and_image_pixels(name, box, mirror):
    camera = CAMERAS[name]
    rc = rectify_box(camera, box, 48, box_scale=1.5)
    assert np.allclose(rc.R @ rc.R.T, np.eye(3)) and np.linalg.det(rc.R) == pytest.approx(1.0)
    g = np.linspace(-0.5, 47.5, 9)
    uv_crop = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    uv_img = rectified_to_image(rc, camera, uv_crop, mirror)
    ok = np.all(np.isfinite(uv_img), axis=1)  # the plumb_bob lens folds back past ~60 deg (its corner box)
    assert ok.mean() > (0.5 if (name, box) == ("plumb_bob", BOXES[2]) else 0.999)
    np.testing.assert_allclose(image_to_rectified(rc, camera, uv_img[ok], mirror), uv_crop[ok], atol=1e-6)
    # the box centre is the crop centre; the crop contains the whole hand box
    x0, y0, x1, y1 = box
    centre = [[(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5]]
    np.testing.assert_allclose(image_to_rectified(rc, camera, centre, mirror), [[23.5, 23.5]], atol=1e-6)
    t = np.linspace(0, 1, 9)  # the outline rectify_box measures: 9 points per edge
    xs, ys = x0 - 0.5 + t * (x1 - x0), y0 - 0.5 + t * (y1 - y0)
    outline = np.concatenate(
        [np.stack([xs, np.full(9, e)], 1) for e in ys[[0, -1]]]
        + [np.stack([np.full(9, e), ys], 1) for e in xs[[0, -1]]]
    )
    inner = image_to_rectified(rc, camera, outline, mirror)
    # box_scale 1.5: the box's widest point reaches 2/3 of the crop's half side, 24 / 1.5 = 16 px
    assert np.abs(inner - 23.5).max() == pytest.approx(16.0, abs=1e-6)
    # 3-D: camera <-> virtual frame
    p = np.random.default_rng(1).normal(size=(20, 3))
    np.testing.assert_allclose(virtual_to_camera(rc, camera_to_virtual(rc, p, mirror), mirror), p, atol=1e-12)


@pytest.mark.parametrize("name", list(CAMERAS))
@pytest.mark.parametrize("mirror", [False, True])
def test_upright_roll_turns_the_wrist_to_middle_mcp_direction_up(name, mirror):
    """For any direction of the hand in the image (and any lens), the crop turned by ``upright_roll`` shows
    the wrist below the middle MCP on the crop's vertical centre line; the focal length, the crop centre's
    ray and the round trips are those of the unturned crop; the flipped crop of a left hand is upright too."""
    camera = CAMERAS[name]
    box = BOXES[0]
    centre = np.array([(box[0] + box[2]) / 2 - 0.5, (box[1] + box[3]) / 2 - 0.5])
    rc0 = rectify_box(camera, box, 64, 1.5)
    for angle in np.radians([0.0, 37.0, 90.0, 151.0, -170.0, -60.0]):
        d = 18.0 * np.array([math.sin(angle), -math.cos(angle)])  # angle 0: middle MCP straight above
        uv = np.stack([centre - d / 2, centre + d / 2])  # wrist, middle MCP
        rays = camera.pixels_to_rays(uv)
        roll = upright_roll(rc0, rays[0], rays[1])
        rc = rectify_box(camera, box, 64, 1.5, roll_rad=roll)
        np.testing.assert_allclose(rc.R, roll_matrix(roll) @ rc0.R, atol=1e-12)
        assert rc.f == rc0.f and np.allclose(rc.axis_cam, rc0.axis_cam)
        w, m = image_to_rectified(rc, camera, uv, mirror)
        assert m[1] < w[1] - 5.0 and abs(m[0] - w[0]) < 1e-6 * abs(m[1] - w[1]) + 1e-9, (angle, w, m)
        assert abs(m[0] - rc.c) < 1.0 and abs(w[0] - rc.c) < 1.0  # on the centre line (a box-centred hand)
        p = np.random.default_rng(2).normal(size=(5, 3))
        np.testing.assert_allclose(
            virtual_to_camera(rc, camera_to_virtual(rc, p, mirror), mirror), p, atol=1e-12
        )
        # already upright: nothing more to turn
        assert upright_roll(rc, rays[0], rays[1]) == pytest.approx(0.0, abs=1e-9)
    assert upright_roll(rc0, rays[0], rays[0]) == 0.0  # no direction: no roll
    with pytest.raises(ValueError, match="roll_rad"):
        rectify_box(camera, box, 64, 1.5, roll_rad=float("nan"))


def test_rendered_points_land_where_the_image_content_is():
    """Points projected through the real fisheye show up in the rectified crop where the virtual camera
    projects them; the whole crop shows the content of its rays."""
    camera = FISHEYE
    # a hand-sized grid of points 0.35 m away, about 70 deg off-axis towards the right edge
    axis = np.array([math.sin(math.radians(68)), 0.15, math.cos(math.radians(68))])
    R = look_at_rotation(axis)
    grid = np.array([[x, y, 0.0] for x in (-0.05, 0.0, 0.05) for y in (-0.04, 0.04)])
    points = 0.35 * R[2] / np.linalg.norm(R[2]) + grid @ R
    uv = camera.project(points)
    assert np.all((uv > 5) & (uv < [W - 5, H - 5]))
    lo, hi = uv.min(axis=0) - 8, uv.max(axis=0) + 8
    box = (*lo, *hi)
    vv, uu = np.mgrid[0:H, 0:W]
    image = sum(255 * np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / 2.0) for u, v in uv).astype(np.float32)
    errors = []
    for mirror in (False, True):
        crop, rc = rectified_crop(image, camera, box, 96, 1.5, mirror=mirror)
        expected = points_to_rectified(rc, points, mirror)
        assert np.all((expected > 0) & (expected < 95))
        for u, v in expected:
            i0, j0 = int(round(v)), int(round(u))
            win = crop[i0 - 6 : i0 + 7, j0 - 6 : j0 + 7].astype(np.float64)
            jj, ii = np.meshgrid(np.arange(j0 - 6, j0 + 7), np.arange(i0 - 6, i0 + 7))
            found = np.array([(win * jj).sum(), (win * ii).sum()]) / win.sum()
            errors.append(np.linalg.norm(found - [u, v]))
    assert max(errors) < 0.15, errors  # px; a half-pixel slip or a wrong axis is far beyond
    # dense check of the remap: every crop pixel shows the pattern of its own ray
    sphere = _sphere_image(camera)
    rc = rectify_box(camera, box, 64, 1.5)
    crop = warp_rectified(sphere, camera, rc)
    vv, uu = np.mgrid[0:64, 0:64]
    rays = virtual_to_camera(
        rc, np.stack([(uu.ravel() - rc.c) / rc.f, (vv.ravel() - rc.c) / rc.f, np.ones(64 * 64)], 1)
    )
    assert np.abs(crop.ravel() - _pattern(rays)).max() < 2.0


def test_mirroring_convention():
    camera = FISHEYE
    box = BOXES[1]
    rc = rectify_box(camera, box, 32)
    image = (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)
    plain = warp_rectified(image, camera, rc)
    flipped = warp_rectified(image, camera, rc, mirror=True)
    assert np.array_equal(flipped, plain[:, ::-1])  # the flipped crop
    mx, my = rectified_maps(rc, camera, mirror=True)
    assert np.array_equal(mx, rectified_maps(rc, camera)[0][:, ::-1]) and my.dtype == np.float32
    # crop pixel u of the flipped crop = crop pixel S - 1 - u of the plain one
    uv = np.array([[3.0, 7.0], [20.25, 1.5]])
    np.testing.assert_allclose(
        rectified_to_image(rc, camera, uv, mirror=True),
        rectified_to_image(rc, camera, [31, 0] + [-1, 1] * uv),
    )
    # the flipped crop is the mirrored virtual world (x -> -x) seen by the same K: it is its own mirror
    p = np.array([[0.1, -0.05, 0.4], [-0.02, 0.03, 0.3]])
    pm = camera_to_virtual(rc, p, mirror=True)
    np.testing.assert_allclose(pm, camera_to_virtual(rc, p) * [-1, 1, 1])
    proj = pm[:, :2] / pm[:, 2:] * rc.f + rc.c
    np.testing.assert_allclose(points_to_rectified(rc, p, mirror=True), proj)
    np.testing.assert_allclose(
        points_to_rectified(rc, p, mirror=True)[:, 0], 31 - points_to_rectified(rc, p)[:, 0]
    )
    assert rc.camera.mirrored() == rc.camera and rc.crop_box.center == (15.5, 15.5)
    # the KPE of the flipped crop: theta_x negated, sample points flipped
    a = kpe_inputs(rc.camera, rc.crop_box, "sparse", mirror=False)
    b = kpe_inputs(rc.camera, rc.crop_box, "sparse", mirror=True)
    np.testing.assert_allclose(b[[1, 0, 3, 2, 4]], a * [-1, 1], atol=1e-7)
    # rotations: virtual -> camera is R^T @ rotation
    Rv = look_at_rotation([0.3, -0.2, 1.0])
    np.testing.assert_allclose(rotation_to_camera(rc, Rv), rc.R.T @ Rv)


def test_look_at_rotation_has_no_roll():
    for axis in ([0, 0, 1], [0.9, 0.1, 0.3], [-0.4, 0.8, 0.2], [0.3, -0.2, -0.6], [0.0, 1.0, 0.0]):
        R = look_at_rotation(axis)
        assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(R[2], np.asarray(axis) / np.linalg.norm(axis))
        if abs(R[2, 1]) < 0.99:
            assert abs(R[0, 1]) < 1e-12 and R[1, 1] > 0  # x_v horizontal, y_v still points down
    with pytest.raises(ValueError, match="axis_cam"):
        look_at_rotation([0, 0, 0])


def test_lens_valid_angle():
    assert math.degrees(max_ray_angle(PINHOLE)) == pytest.approx(90.0, abs=0.1)
    assert math.degrees(max_ray_angle(CameraModel(W, H, K, "equidistant", [0, 0, 0, 0]))) > 179.5
    folding = CameraModel(
        W, H, K, "plumb_bob", [-0.3, 0, 0, 0, 0]
    )  # r (1 - 0.3 r^2) peaks at r = 1/sqrt(0.9)
    assert max_ray_angle(folding) == pytest.approx(math.atan(1 / math.sqrt(0.9)), abs=2e-3)
    # a crop reaching past the fold is black there, never a ghost of the image centre
    box = (70.0, 30.0, 120.0, 80.0)  # ~90 px from the centre; the fold is at ~112 px
    rc = rectify_box(folding, box, 64, box_scale=4.0)
    crop = warp_rectified(np.full((H, W), 200, np.uint8), folding, rc)
    far = rectified_to_image(rc, folding, [[0.0, 0.0]])
    assert np.all(np.isnan(far)) and crop[0, 0] == 0 and crop[32, 32] == 200


def test_edge_boxes_pad_black_and_bad_boxes_raise():
    image = np.full((H, W, 3), 90, np.uint8)
    # a box hanging over the fisheye image's border: black padding, no NaN anywhere
    crop, rc = rectified_crop(image, FISHEYE, (290.0, -30.0, 340.0, 30.0), 40, 2.0)
    mx, my = rectified_maps(rc, FISHEYE)
    assert np.all(np.isfinite(mx)) and np.all(np.isfinite(my))
    assert (crop == 0).any() and (crop == 90).any() and set(np.unique(crop)) <= set(range(91))
    assert np.all(np.isfinite(crop_outline_px(rc, FISHEYE)))
    # a fisheye whose model stops at ~100 deg: a box past that horizon has no ray
    short = CameraModel(W, H, FISHEYE.K, "equidistant", [-0.25, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="outside the lens model"):
        rectify_box(short, (900.0, 100.0, 960.0, 160.0), 32)
    # a box too wide to see through one pinhole
    with pytest.raises(ValueError, match="too wide"):
        rectify_box(FISHEYE, (0.0, 0.0, 320.0, 240.0), 32)
    assert math.degrees(MAX_HALF_ANGLE_RAD) == pytest.approx(80.0)
    for bad, text in [
        ((10, 10, 5, 20), "x1 > x0"),
        ((0, 0, float("nan"), 5), "finite"),
        ((1, 2, 3), "4 numbers"),
    ]:
        with pytest.raises(ValueError, match=text):
            rectify_box(PINHOLE, bad, 32)
    with pytest.raises(ValueError, match="size"):
        rectify_box(PINHOLE, BOXES[0], 0)
    with pytest.raises(ValueError, match="box_scale"):
        rectify_box(PINHOLE, BOXES[0], 32, box_scale=float("inf"))
    with pytest.raises(ValueError, match="camera is"):
        warp_rectified(np.zeros((10, 10), np.uint8), PINHOLE, rc)
    with pytest.raises(ValueError, match="proper rotation"):
        RectifiedCrop(np.diag([1.0, 1.0, -1.0]), rc.K, 40)
    with pytest.raises(ValueError, match="c = "):
        RectifiedCrop(np.eye(3), np.array([[10.0, 0, 3], [0, 10, 3], [0, 0, 1]]), 40)


def test_crop_modes():
    assert [uses_rectified_crop(m, PINHOLE) for m in ("box", "rectified", "auto")] == [False, True, False]
    assert [uses_rectified_crop(m, FISHEYE) for m in ("box", "rectified", "auto")] == [False, True, True]
    assert not uses_rectified_crop("auto", PLUMB)
    with pytest.raises(ValueError, match="crop_mode='warp'"):
        uses_rectified_crop("warp", PINHOLE)


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.0])
def test_rectify_rect_on_the_principal_point_is_the_rects_plain_crop(rotation):
    """A rect centred on a pinhole camera's principal point: the rectified crop is the rect's rotated crop
    (MediaPipe's cut, ``mediapipe_palm.rotated_crop``), pixel for pixel, with the same pixel mapping."""
    from wildhands.runtime.detection.mediapipe_palm import rotated_crop

    image = (_sphere_image(PINHOLE)).astype(np.uint8)
    image = np.repeat(image[:, :, None], 3, axis=2)
    rc = rectify_rect(PINHOLE, (159.5, 119.5), 90.0, rotation, 224)
    plain, to_image = rotated_crop(image, np.array([160.0, 120.0]), 90.0, rotation, 224)  # continuous px
    assert np.abs(warp_rectified(image, PINHOLE, rc).astype(np.float64) - plain * 255.0).max() <= 1.0
    crop_px = np.array([[10.0, 30.0], [200.0, 100.0], [112.0, 112.0]])
    np.testing.assert_allclose(
        rectified_to_image(rc, PINHOLE, crop_px - 0.5) + 0.5, to_image(crop_px), atol=1e-9
    )


@pytest.mark.parametrize("name", ["pinhole", "plumb_bob", "equidistant"])
def test_rectify_rect_looks_at_the_rect_upright_and_fills_the_crop_with_its_shorter_span(name):
    """A rect off the axis: the crop centre shows the middle of its edge midpoints (as the view sees them),
    its bottom -> top midpoints point straight up, and the shorter of its two spans fills the crop."""
    camera = CAMERAS[name]
    centre, side, rotation = np.array([250.0, 70.0]), 60.0, 0.5
    rc = rectify_rect(camera, centre, side, rotation, 224)
    c, s = math.cos(rotation), math.sin(rotation)
    offsets = np.array([[0.0, -30.0], [0.0, 30.0], [-30.0, 0.0], [30.0, 0.0]]) @ np.array([[c, s], [-s, c]])
    mid = image_to_rectified(rc, camera, centre + offsets)  # up, down, left, right (crop px)
    centre_crop = (rc.size - 1) / 2.0
    np.testing.assert_allclose(mid.mean(0), [centre_crop, centre_crop], atol=1.5)  # looks at their middle
    up = mid[0] - mid[1]
    assert abs(up[0]) < 1e-6 * rc.f and up[1] < 0  # bottom -> top is straight up
    spans = [np.linalg.norm(mid[0] - mid[1]), np.linalg.norm(mid[2] - mid[3])]
    assert min(spans) == pytest.approx(rc.size, rel=0.01)
    with pytest.raises(ValueError, match="outside the lens model|behind"):
        rectify_rect(FISHEYE, (-2000.0, 120.0), 60.0, 0.0, 224)
    with pytest.raises(ValueError):
        rectify_rect(camera, centre, 0.0, 0.0, 224)


@pytest.mark.parametrize("mirror", [False, True])
def test_a_pinhole_cameras_rectified_crop_is_a_homography_warp(mirror):
    """Without lens distortion the warp runs as one homography (``crop_homography``): the same crop as the
    per-pixel lens maps; a lens, or crop rays behind the camera, leave it to the maps."""
    image = _sphere_image(PINHOLE)
    for box in BOXES:
        rc = rectify_box(PINHOLE, box, 96, 1.5, 0.4)
        assert crop_homography(rc, PINHOLE, mirror) is not None
        fast = warp_rectified(image, PINHOLE, rc, mirror)
        map_x, map_y = rectified_maps(rc, PINHOLE, mirror)
        maps = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        inside = (map_x > 1) & (map_x < W - 2) & (map_y > 1) & (map_y < H - 2)
        np.testing.assert_allclose(fast[inside], maps[inside], atol=0.05 * 255 / 100)
    assert crop_homography(rectify_box(PLUMB, BOXES[0], 96), PLUMB) is None
    assert crop_homography(rectify_box(FISHEYE, BOXES[0], 96), FISHEYE) is None
    wide = RectifiedCrop(
        R=look_at_rotation([1.0, 0.0, 0.05]), K=[[20.0, 0, 47.5], [0, 20.0, 47.5], [0, 0, 1]], size=96
    )
    assert crop_homography(wide, PINHOLE) is None  # its crop reaches behind the camera
