"""Procedural background textures of the synthetic scenes (package-private): the primitives that the scene,
the photo backgrounds and the held objects all draw from. float32 (h, w[, 3]) arrays in [0, 255]."""

from __future__ import annotations

import math

import cv2
import numpy as np


# Textures are float32 (h, w[, 3]) arrays, made with broadcasting and in-place operations: at 640x480 a
# full-image float64 temporary costs milliseconds, and a background used to take ~50 ms. Colour images are
# assembled per channel (cv2.merge): numpy broadcasting (h, w, 1) against (3,) runs an inner loop of length
# 3 and is ~10x slower.
def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates for broadcasting: u (1, w) and v (h, 1), float32."""
    return np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]


def _along(h: int, w: int, ang: float) -> np.ndarray:
    """(h, w) float32 ``u cos(ang) + v sin(ang)``: the coordinate along direction ``ang``."""
    u, v = _coords(h, w)
    return u * np.float32(math.cos(ang)) + v * np.float32(math.sin(ang))


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3) -> np.ndarray:
    """(h, w) float32 smooth noise in about [0, 1]: random grids upsampled bicubically, several octaves."""
    out = np.zeros((h, w), np.float32)
    total = sum(0.5**i for i in range(octaves))
    amp = 1.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw)).astype(np.float32)
        grid *= np.float32(amp / total)  # (bicubic resizing is linear: scale the small grid)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    return np.clip(out, 0.0, 1.0, out=out)


def _random_color(rng: np.random.Generator, dark: float = 20, bright: float = 235) -> np.ndarray:
    """A random colour, mostly muted (saturation scaled by 0.15-0.9) like indoor surfaces."""
    c = rng.uniform(dark, bright, 3)
    gray = c.mean()
    return gray + rng.uniform(0.15, 0.9) * (c - gray)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 ``a (1 - t) + b t`` for colours a, b (3,) and weights t (h, w) float32."""
    a32, d32 = np.asarray(a, np.float32), np.asarray(b, np.float32) - np.asarray(a, np.float32)
    return cv2.merge([t * d32[c] + a32[c] for c in range(3)])


def _scale(img: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 ``img * s[..., None]`` for a float32 (h, w) factor ``s``."""
    return cv2.multiply(img, cv2.merge([s, s, s]))


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    a, b = _random_color(rng), _random_color(rng)
    t = _along(h, w, rng.uniform(0, 2 * math.pi))
    lo, hi = float(t.min()), float(t.max())
    t -= np.float32(lo)
    t *= np.float32(1.0 / max(hi - lo, 1e-6 * max(h, w)))
    return _mix(a, b, t)


def _wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = np.array(
        [(150, 105, 65), (185, 140, 95), (110, 75, 45), (200, 170, 130), (120, 90, 70)][int(rng.integers(5))],
        dtype=np.float32,
    )
    x = _along(h, w, rng.uniform(0, math.pi))
    warp = _value_noise(rng, h, w, cell=rng.uniform(40, 120), octaves=2)
    x += warp * np.float32(rng.uniform(10, 40))
    x *= np.float32(rng.uniform(0.08, 0.3))
    shade = np.sin(x, out=x)  # grain = 0.5 + 0.5 sin(...); shade = 0.75 + 0.2 grain + 0.1 fine
    shade *= np.float32(0.1)
    shade += np.float32(0.85)
    shade += _value_noise(rng, h, w, cell=3, octaves=1) * np.float32(0.1)
    return cv2.merge([shade * base[c] for c in range(3)])


def _tiles(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    size = int(rng.integers(24, 120))
    grout = _random_color(rng, 60, 220)
    base = _random_color(rng, 80, 240)
    gap = max(1, size // 20)
    # one colour per tile (row-major draws, as a loop over the tiles would make them), grout between tiles
    ny, nx = -(-h // size), -(-w // size)
    colours = rng.uniform(0.9, 1.1, ny * nx).reshape(ny, nx)[..., None] * base  # (ny, nx, 3)
    in_y = (np.arange(h) % size >= gap) & (np.arange(h) % size < size - gap)
    in_x = (np.arange(w) % size >= gap) & (np.arange(w) % size < size - gap)
    inside = in_y[:, None] & in_x[None, :]
    planes = []
    for c in range(3):
        tile = np.repeat(np.repeat(colours[..., c].astype(np.float32), size, axis=0), size, axis=1)[:h, :w]
        planes.append(np.where(inside, tile, np.float32(grout[c])))
    light = _value_noise(rng, h, w, cell=size * 2.0, octaves=2)
    light *= np.float32(0.2)
    light += np.float32(0.9)
    return _scale(cv2.merge(planes), light)


def _noise_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    a, b = _random_color(rng), _random_color(rng)
    return _mix(a, b, _value_noise(rng, h, w, cell=rng.uniform(8, 150), octaves=4))


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    a, b = _random_color(rng), _random_color(rng)
    x = _along(h, w, rng.uniform(0, math.pi))
    x *= np.float32(rng.uniform(0.05, 0.5))
    t = (np.sin(x, out=x) > rng.uniform(-0.5, 0.5)).astype(np.float32)
    img = _mix(a, b, t)
    light = _value_noise(rng, h, w, cell=4, octaves=1)
    light *= np.float32(0.15)
    light += np.float32(0.9)
    return _scale(img, light)


def _kitchen(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A wall above a worktop (a horizon line at a random height and tilt) -- the egocentric classic."""
    wall = _gradient(rng, h, w)
    wall += _noise_texture(rng, h, w)
    wall *= np.float32(0.5)
    top = _wood(rng, h, w) if rng.random() < 0.6 else _tiles(rng, h, w)
    u, v = _coords(h, w)
    y0 = rng.uniform(0.05, 0.7) * h
    slope = rng.uniform(-0.3, 0.3)
    below = v > np.float32(y0) + np.float32(slope) * (u - np.float32(w / 2))
    return cv2.copyTo(top, below.view(np.uint8), wall)


_BACKGROUNDS = (_gradient, _wood, _tiles, _noise_texture, _stripes, _kitchen)
