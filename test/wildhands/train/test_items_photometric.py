"""The photometric options of ``AugmentConfig`` (contrast, saturation, grey crops, pixel noise): off by
default without changing a default run's random stream, each doing what it says when on."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from wildhands.train.items import AugmentConfig, _jitter_colours

PLAIN = AugmentConfig(color=0.0, blur_prob=0.0)  # gains of exactly 1, no blur: only the option acts


def _crop(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 216, size=(32, 32, 3), dtype=np.uint8)


def test_options_off_keep_the_crop_and_the_random_stream():
    """With the options at 0 the crop and the draws are those of the gains-and-blur jitter alone."""
    crop = _crop()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        out = _jitter_colours(crop, AugmentConfig(), rng)
        after = rng.random()
        ref = np.random.default_rng(seed)
        gains = 1.0 + ref.uniform(-0.2, 0.2, size=3)
        expected = np.clip(crop.astype(np.float32) * gains, 0, 255).astype(np.uint8)
        if ref.random() < 0.1:
            expected = cv2.GaussianBlur(expected, (5, 5), float(ref.uniform(0.5, 1.5)))
        assert np.array_equal(out, expected)
        assert after == ref.random()


def test_grayscale_prob_one_gives_equal_channels_with_the_crops_luma():
    crop = _crop()
    out = _jitter_colours(crop, dataclasses.replace(PLAIN, grayscale_prob=1.0), np.random.default_rng(0))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    luma = crop.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(out[..., 0] - luma).max() <= 1.0


def test_saturation_and_contrast_keep_the_grey_levels_and_the_mean():
    grey = np.repeat(_crop()[..., :1], 3, axis=-1)
    out = _jitter_colours(grey, dataclasses.replace(PLAIN, saturation=1.0), np.random.default_rng(0))
    assert np.abs(out.astype(int) - grey).max() <= 1  # a grey crop has no saturation to change
    crop = _crop()
    low = _jitter_colours(crop, dataclasses.replace(PLAIN, contrast=0.9), np.random.default_rng(3))
    assert abs(float(low.mean()) - float(crop.mean())) < 1.0
    assert low.std() != pytest.approx(crop.std(), rel=1e-3)


def test_noise_changes_pixels_by_about_its_sigma():
    flat = np.full((64, 64, 3), 128, np.uint8)
    out = _jitter_colours(flat, dataclasses.replace(PLAIN, noise_sigma=20.0), np.random.default_rng(0))
    spread = out.astype(float).std()
    assert 0.0 < spread <= 21.0


@pytest.mark.parametrize(
    "bad", [{"contrast": -0.1}, {"saturation": 1.5}, {"grayscale_prob": 2.0}, {"noise_sigma": float("nan")}]
)
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        AugmentConfig(**bad)
