"""The image-sized pieces of :mod:`~wildhands.data.synthetic.scene` in torch, on any device: procedural
backgrounds, clutter and occluder shapes, and the camera effects (white balance, blur, motion blur, noise).

Each function is the torch twin of the ``scene`` function of the same name and draws **exactly the same
random numbers in the same order** from the ``np.random.Generator`` it is given (the draws stay on the
CPU; only the arrays they shape go to the device), so a frame's randomness -- and so every label -- does not
depend on where it is rendered. The arithmetic follows the numpy/OpenCV code step by step in float32; the
images differ from the numpy path's by float rounding only (trigonometry, OpenCV's fixed-point uint8
resize, a level where a value sits on a rounding boundary), see ``test_synthetic_torch.py``.

Shape outlines (``cv2.fillPoly``/``cv2.ellipse`` with anti-aliasing) are still drawn by OpenCV on the CPU:
they are small, and the occluder masks decide labels (keypoint visibility, visible masks), which must be
identical. Images are planar tensors: ``(3, H, W)`` uint8 (or float32 for textures), RGB.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from wildhands.data.synthetic import scene
from wildhands.data.synthetic.config import SyntheticConfig
from wildhands.render.image_torch import filter2d_reflect, gaussian_blur, resize, to_uint8

__all__ = ["make_background", "draw_occluder", "degrade"]


def _f32(x: float) -> float:
    """``x`` rounded to float32 (what ``np.float32(x)`` multiplies by in the numpy code)."""
    return float(np.float32(x))


def _coords(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    u = torch.arange(w, dtype=torch.float32, device=device)[None, :]
    v = torch.arange(h, dtype=torch.float32, device=device)[:, None]
    return u, v


def _along(h: int, w: int, ang: float, device: torch.device) -> torch.Tensor:
    u, v = _coords(h, w, device)
    return u * _f32(math.cos(ang)) + v * _f32(math.sin(ang))


def _value_noise(
    rng: np.random.Generator, h: int, w: int, cell: float, device: torch.device, octaves: int = 3
) -> torch.Tensor:
    out = torch.zeros((h, w), dtype=torch.float32, device=device)
    total = sum(0.5**i for i in range(octaves))
    amp = 1.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw)).astype(np.float32)
        grid *= np.float32(amp / total)
        out += resize(torch.from_numpy(grid).to(device), (w, h), "cubic")
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    return out.clamp_(0.0, 1.0)


def _color(c: np.ndarray, device: torch.device) -> torch.Tensor:
    """(3,) colour -> (3, 1, 1) float32 tensor."""
    return torch.from_numpy(np.asarray(c, np.float32).reshape(3, 1, 1)).to(device)


def _mix(a: np.ndarray, b: np.ndarray, t: torch.Tensor) -> torch.Tensor:
    a32 = np.asarray(a, np.float32)
    d32 = np.asarray(b, np.float32) - a32
    return t[None] * _color(d32, t.device) + _color(a32, t.device)


def _gradient(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    a, b = scene._random_color(rng), scene._random_color(rng)
    t = _along(h, w, rng.uniform(0, 2 * math.pi), device)
    lo, hi = t.min(), t.max()
    t -= lo
    t *= (1.0 / torch.clamp(hi.double() - lo.double(), min=1e-6 * max(h, w))).float()
    return _mix(a, b, t)


def _wood(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    base = np.array(
        [(150, 105, 65), (185, 140, 95), (110, 75, 45), (200, 170, 130), (120, 90, 70)][int(rng.integers(5))],
        dtype=np.float32,
    )
    x = _along(h, w, rng.uniform(0, math.pi), device)
    warp = _value_noise(rng, h, w, rng.uniform(40, 120), device, octaves=2)
    x += warp * _f32(rng.uniform(10, 40))
    x *= _f32(rng.uniform(0.08, 0.3))
    shade = torch.sin_(x)
    shade *= _f32(0.1)
    shade += _f32(0.85)
    shade += _value_noise(rng, h, w, 3, device, octaves=1) * _f32(0.1)
    return shade[None] * _color(base, device)


def _tiles(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    size = int(rng.integers(24, 120))
    grout = scene._random_color(rng, 60, 220)
    base = scene._random_color(rng, 80, 240)
    gap = max(1, size // 20)
    ny, nx = -(-h // size), -(-w // size)
    colours = rng.uniform(0.9, 1.1, ny * nx).reshape(ny, nx)[..., None] * base  # (ny, nx, 3) float64
    c = torch.from_numpy(np.ascontiguousarray(colours.astype(np.float32).transpose(2, 0, 1))).to(device)
    tile = c.repeat_interleave(size, dim=1).repeat_interleave(size, dim=2)[:, :h, :w]
    ry = torch.arange(h, device=device) % size
    rx = torch.arange(w, device=device) % size
    inside = ((ry >= gap) & (ry < size - gap))[:, None] & ((rx >= gap) & (rx < size - gap))[None, :]
    planes = torch.where(inside[None], tile, _color(grout, device))
    light = _value_noise(rng, h, w, size * 2.0, device, octaves=2)
    light *= _f32(0.2)
    light += _f32(0.9)
    return planes * light[None]


def _noise_texture(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    a, b = scene._random_color(rng), scene._random_color(rng)
    return _mix(a, b, _value_noise(rng, h, w, rng.uniform(8, 150), device, octaves=4))


def _stripes(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    a, b = scene._random_color(rng), scene._random_color(rng)
    x = _along(h, w, rng.uniform(0, math.pi), device)
    x *= _f32(rng.uniform(0.05, 0.5))
    t = (torch.sin_(x) > _f32(rng.uniform(-0.5, 0.5))).float()
    img = _mix(a, b, t)
    light = _value_noise(rng, h, w, 4, device, octaves=1)
    light *= _f32(0.15)
    light += _f32(0.9)
    return img * light[None]


def _kitchen(rng: np.random.Generator, h: int, w: int, device: torch.device) -> torch.Tensor:
    wall = _gradient(rng, h, w, device)
    wall += _noise_texture(rng, h, w, device)
    wall *= _f32(0.5)
    top = _wood(rng, h, w, device) if rng.random() < 0.6 else _tiles(rng, h, w, device)
    u, v = _coords(h, w, device)
    y0 = rng.uniform(0.05, 0.7) * h
    slope = rng.uniform(-0.3, 0.3)
    below = v > _f32(y0) + _f32(slope) * (u - _f32(w / 2))
    return torch.where(below[None], top, wall)


_BACKGROUNDS = (_gradient, _wood, _tiles, _noise_texture, _stripes, _kitchen)  # the order of scene's


def _draw_shape(
    rng: np.random.Generator, img: torch.Tensor, mask: np.ndarray | None, center: np.ndarray, radius: float
) -> None:
    """``scene._draw_shape`` into a (3, H, W) uint8 tensor (in place); the outline is drawn by OpenCV."""
    h, w = img.shape[1:]
    shape_mask = scene.shape_outline(rng, h, w, center, radius)
    x0, y0, sw, sh = cv2.boundingRect(shape_mask)
    if sw == 0:
        return
    y1, x1 = y0 + sh, x0 + sw
    device = img.device
    style = rng.random()
    if style < 0.4:
        fill = _color(scene._random_color(rng), device).expand(3, sh, sw)
    elif style < 0.7:
        fill = _gradient(rng, sh, sw, device)
    else:
        fill = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS) - 1))](rng, sh, sw, device)
    crop = shape_mask[y0:y1, x0:x1]
    alpha = torch.from_numpy(crop.astype(np.float32) * np.float32(1 / 255)).to(device)[None]
    beta = 1.0 - alpha
    region = img[:, y0:y1, x0:x1].float()
    # cv2.blendLinear: (fill w1 + region w2) / (w1 + w2 + 1e-5)
    blend = (fill * alpha + region * beta) / (alpha + beta + _f32(1e-5))
    img[:, y0:y1, x0:x1] = blend.clamp_(0, 255).to(torch.uint8)
    if mask is not None:
        mask[y0:y1, x0:x1] |= crop >= 128


def make_background(
    rng: np.random.Generator, width: int, height: int, clutter: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """``scene.make_background`` on ``device``: a (3, H, W) uint8 RGB tensor."""
    scale = 0.5 if max(width, height) > 700 else 1.0
    h, w = max(8, int(height * scale)), max(8, int(width * scale))
    kind = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))]
    base = kind(rng, h, w, device).clamp_(0, 255).to(torch.uint8)
    img = to_uint8(resize(base.float(), (width, height), "linear"))  # cv2: fixed-point, +-1 level
    n = int(rng.integers(clutter[0], clutter[1] + 1))
    for _ in range(n):
        center = rng.uniform([0, 0], [width, height])
        _draw_shape(rng, img, None, center, rng.uniform(0.03, 0.25) * min(width, height))
    light = 0.75 + 0.5 * _value_noise(rng, max(2, height // 16), max(2, width // 16), 4, device, octaves=1)
    light = resize(light, (width, height), "linear")
    out = img.float() * light[None]
    return out.clamp_(0, 255).to(torch.uint8)


def draw_occluder(rng: np.random.Generator, img: torch.Tensor, box_xyxy: np.ndarray) -> np.ndarray:
    """``scene.draw_occluder`` into a (3, H, W) uint8 tensor (in place); returns the (H, W) bool mask
    (numpy, from OpenCV's outline: identical to the numpy path's)."""
    h, w = img.shape[1:]
    x0, y0, x1, y1 = box_xyxy
    center = rng.uniform([x0, y0], [max(x1, x0 + 1), max(y1, y0 + 1)])
    radius = rng.uniform(0.2, 0.55) * max(x1 - x0, y1 - y0)
    mask = np.zeros((h, w), bool)
    _draw_shape(rng, img, mask, center, max(radius, 3.0))
    return mask


_TABLES: dict[torch.device, torch.Tensor] = {}


def _normal_table(device: torch.device) -> torch.Tensor:
    if device not in _TABLES:
        _TABLES[device] = torch.from_numpy(scene._normal_table()).to(device)
    return _TABLES[device]


def degrade(rng: np.random.Generator, img: torch.Tensor, cfg: SyntheticConfig) -> tuple[torch.Tensor, dict]:
    """``scene.degrade`` of a (3, H, W) uint8 tensor: returns the degraded (3, H, W) uint8 tensor and what
    was done (the same ``info`` as the numpy path)."""
    device = img.device
    info: dict = {}
    gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.25)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.arange(256, dtype=np.float64)[:, None]
    lut = 255.0 * np.clip((levels * gain) / 255.0, 0, 1) ** gamma  # (256, 3)
    lut_t = torch.from_numpy(np.ascontiguousarray(lut.astype(np.float32).T)).to(device)  # (3, 256)
    c, h, w = img.shape
    f = torch.gather(lut_t, 1, img.reshape(c, -1).long()).view(c, h, w)
    sigma = rng.uniform(0.0, 0.9)
    if sigma > 0.3:
        f = gaussian_blur(f, sigma)
    if rng.random() < cfg.motion_blur_prob:
        length = rng.uniform(*cfg.motion_blur_px)
        angle = rng.uniform(0, 180)
        kernel, anchor = scene.motion_blur_kernel(length, angle)
        f = filter2d_reflect(f, kernel, anchor)
        info["motion_blur_px"] = float(length)
        info["motion_blur_deg"] = float(angle)
    std = rng.uniform(*cfg.noise_std_range)
    info["noise_std"] = float(std)
    if std > 0:
        # scene.gaussian_noise's draw for an (H, W, 3) image: the same 16-bit indices, looked up on the device
        n = h * w * c
        idx = rng.bit_generator.random_raw((n + 3) // 4).view(np.int16)[:n]
        idx_t = torch.from_numpy(idx).to(device).long() & 0xFFFF
        noise = (_normal_table(device) * _f32(std))[idx_t].view(h, w, c).permute(2, 0, 1)
        f += noise
    return to_uint8(f), info
