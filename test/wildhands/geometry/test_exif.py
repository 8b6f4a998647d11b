"""Intrinsics from EXIF: real JPEG files written with EXIF tags by Pillow."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from wildhands.geometry.exif import camera_from_exif, focal_px_from_exif


def _jpeg(path, tags: dict[int, object], size=(640, 480)):
    exif = Image.Exif()
    exif.get_ifd(0x8769).update(tags)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path, exif=exif.tobytes())
    return path


def test_35mm_equivalent_focal_length_gives_the_same_diagonal_fov(tmp_path):
    # a 26 mm-equivalent phone camera: diagonal FoV 2 atan(43.27 / 2 / 26) = 79.5 deg
    path = _jpeg(tmp_path / "phone.jpg", {0xA405: 26})
    camera, source = camera_from_exif(path, 640, 480)
    assert "FocalLengthIn35mmFilm 26 mm" in source
    diag_fov = 2 * math.atan(math.hypot(640, 480) / 2 / camera.fx)
    assert math.degrees(diag_fov) == pytest.approx(79.5, abs=0.1)
    assert camera.estimated and camera.fx == camera.fy
    assert (camera.cx, camera.cy) == (319.5, 239.5)


def test_focal_length_and_focal_plane_resolution_scaled_to_a_resized_image(tmp_path):
    # 4.0 mm lens, 1000 px per mm on the sensor, captured 4000 px wide, stored resized to 640 px wide
    path = _jpeg(tmp_path / "cam.jpg", {0x920A: 4.0, 0xA20E: 1000.0, 0xA210: 4, 0xA002: 4000})
    fx, source = focal_px_from_exif(path, 640, 480)
    assert fx == pytest.approx(4.0 * 1000.0 * 640 / 4000) and "FocalLength 4 mm" in source
    inch = _jpeg(tmp_path / "inch.jpg", {0x920A: 4.0, 0xA20E: 25400.0, 0xA210: 2})
    assert focal_px_from_exif(inch, 640, 480)[0] == pytest.approx(4000.0)


def test_no_or_implausible_exif_gives_none_with_a_reason(tmp_path):
    plain = tmp_path / "plain.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(plain)
    assert camera_from_exif(plain, 64, 48) == (None, "no EXIF focal length")
    assert camera_from_exif(_jpeg(tmp_path / "odd.jpg", {0xA405: 100000}), 640, 480)[0] is None
    assert camera_from_exif(_jpeg(tmp_path / "zero.jpg", {0xA405: 0}), 640, 480)[0] is None
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe1garbage")
    camera, reason = camera_from_exif(broken, 640, 480)
    assert camera is None and "unreadable" in reason
