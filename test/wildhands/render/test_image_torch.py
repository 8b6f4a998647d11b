"""The OpenCV-compatible torch image operations (render.image_torch) against OpenCV itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from wildhands.data.synthetic.scene import motion_blur_kernel
from wildhands.render.image_torch import _pad_index, filter2d_reflect, gaussian_blur, resize, to_uint8


def _planar(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


@pytest.fixture
def image():
    return (np.random.default_rng(0).random((45, 60, 3)) * 255).astype(np.float32)


@pytest.mark.parametrize("src, dst", [((5, 7), (240, 320)), ((31, 41), (60, 80)), ((2, 2), (30, 40))])
def test_resize_matches_opencv(src, dst):
    grid = np.random.default_rng(1).random(src).astype(np.float32)
    for mode, flag in (("cubic", cv2.INTER_CUBIC), ("linear", cv2.INTER_LINEAR)):
        ours = resize(torch.from_numpy(grid), (dst[1], dst[0]), mode).numpy()
        theirs = cv2.resize(grid, (dst[1], dst[0]), interpolation=flag)
        np.testing.assert_allclose(ours, theirs, atol=2e-5)
    with pytest.raises(ValueError, match="mode"):
        resize(torch.from_numpy(grid), (4, 4), "area")


@pytest.mark.parametrize("sigma", [0.31, 0.6, 0.9, 2.5])
def test_gaussian_blur_matches_opencv(image, sigma):
    ours = _hwc(gaussian_blur(_planar(image), sigma))
    np.testing.assert_allclose(ours, cv2.GaussianBlur(image, (0, 0), sigma), atol=1e-3)


@pytest.mark.parametrize("length, angle", [(3.0, 10.0), (11.0, 95.0), (7.3, 45.0), (30.0, 170.0)])
def test_filter2d_reflect_matches_opencv(image, length, angle):
    kernel, anchor = motion_blur_kernel(length, angle)
    ours = _hwc(filter2d_reflect(_planar(image), kernel, anchor))
    theirs = cv2.filter2D(image, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    with pytest.raises(ValueError, match="anchor"):
        filter2d_reflect(_planar(image), kernel, (kernel.shape[1], 0))


def test_pad_index_follows_opencv_borders():
    for n, before, after in ((5, 3, 4), (3, 7, 6), (1, 2, 2)):
        for mode, border in (("reflect101", cv2.BORDER_REFLECT_101), ("reflect", cv2.BORDER_REFLECT)):
            got = _pad_index(n, before, after, mode, torch.device("cpu")).tolist()
            row = np.arange(n, dtype=np.float32)[None]
            want = cv2.copyMakeBorder(row, 0, 0, before, after, border)[0].astype(int).tolist()
            assert got == want, (n, before, after, mode)


def test_to_uint8_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -3.0, 255.5, 300.0, 127.49], np.float32)
    assert to_uint8(torch.from_numpy(x)).tolist() == cv2.add(x, 0.0, dtype=cv2.CV_8U).ravel().tolist()
