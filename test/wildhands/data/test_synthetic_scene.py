"""The fast paths of the synthetic generator's scene pieces give what the straightforward code gives: the
cropped motion-blur kernel, the tabulated Gaussian noise, the vectorised tiles, the white balance lookup
table."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from wildhands.data.synthetic import SyntheticConfig, scene


@pytest.mark.parametrize(
    "length, angle", [(3.0, 0.0), (5.5, 30.0), (11.0, 90.0), (7.3, 135.0), (10.2, 179.0)]
)
def test_cropped_motion_kernel_is_the_full_filter(length, angle):
    k = int(math.ceil(length)) | 1
    full = np.zeros((k, k), np.float32)
    c = (k - 1) / 2
    dx, dy = math.cos(math.radians(angle)) * length / 2, math.sin(math.radians(angle)) * length / 2
    cv2.line(full, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    full /= full.sum()
    img = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.float32)
    kernel, anchor = scene.motion_blur_kernel(length, angle)
    assert kernel.size <= full.size
    expected = cv2.filter2D(img, -1, full, borderType=cv2.BORDER_REFLECT)
    got = cv2.filter2D(img, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_gaussian_noise():
    a = scene.gaussian_noise(np.random.default_rng(1), (480, 640, 3), 4.0)
    b = scene.gaussian_noise(np.random.default_rng(1), (480, 640, 3), 4.0)
    assert a.dtype == np.float32 and a.shape == (480, 640, 3) and np.array_equal(a, b)
    assert abs(float(a.mean())) < 0.02 and abs(float(a.std()) - 4.0) < 0.02
    # Gaussian tails: P(|z| > 2) = 4.55%, P(|z| > 3) = 0.27%
    assert abs(np.mean(np.abs(a) > 8.0) - 0.0455) < 0.002 and abs(np.mean(np.abs(a) > 12.0) - 0.0027) < 0.0005
    # odd sizes (not a multiple of four 16-bit draws) work too
    assert scene.gaussian_noise(np.random.default_rng(2), (3, 5, 3), 1.0).shape == (3, 5, 3)


def test_tiles_as_a_loop_over_tiles():
    """The vectorised tiles equal the loop they replace (same draws, same pixels)."""
    for seed, (h, w) in enumerate([(240, 320), (97, 131)]):
        got = scene._tiles(np.random.default_rng(seed), h, w)
        rng = np.random.default_rng(seed)
        size = int(rng.integers(24, 120))
        grout = scene._random_color(rng, 60, 220)
        img = np.empty((h, w, 3), np.float32)
        img[:] = grout
        base = scene._random_color(rng, 80, 240)
        gap = max(1, size // 20)
        for y in range(0, h, size):
            for x in range(0, w, size):
                img[y + gap : y + size - gap, x + gap : x + size - gap] = base * rng.uniform(0.9, 1.1)
        img *= (0.9 + 0.2 * scene._value_noise(rng, h, w, cell=size * 2.0, octaves=2))[..., None]
        np.testing.assert_allclose(got, img, rtol=1e-5, atol=1e-3)


def test_degrade_white_balance_lookup_table():
    """Without blur and noise, degrade is the per-channel gain and gamma of the 8-bit input, rounded."""
    cfg = dataclasses.replace(SyntheticConfig(), motion_blur_prob=0.0, noise_std_range=(0.0, 0.0))
    img = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.25)
        gamma = rng.uniform(0.8, 1.25)
        sigma = rng.uniform(0.0, 0.9)
        out, info = scene.degrade(np.random.default_rng(seed), img, cfg)
        if sigma > 0.3:
            continue  # blurred
        expected = 255.0 * np.clip(img * gain / 255.0, 0, 1) ** gamma
        assert np.abs(out.astype(np.float64) - expected).max() <= 0.5 + 1e-3
        assert info["noise_std"] == 0.0
