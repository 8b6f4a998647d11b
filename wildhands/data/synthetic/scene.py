"""Scene pieces of the synthetic generator: cameras, procedural backgrounds, skin, lights, occluders and
image degradations. Everything is numpy/OpenCV on the CPU and draws its randomness from the
``np.random.Generator`` it is given (no global RNG), so a frame is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from wildhands.data.synthetic._textures import (
    _BACKGROUNDS,
    _gradient,
    _kitchen,
    _random_color,
    _scale,
    _tiles,
    _value_noise,
    _wood,
)
from wildhands.data.synthetic.config import SyntheticConfig, min_focal_px
from wildhands.geometry.camera import CameraModel
from wildhands.render.shaded import ShadingStyle

__all__ = [
    "SampledCamera",
    "SKIN_TONES_RGB",
    "sample_camera",
    "make_background",
    "sample_skin_style",
    "draw_occluder",
    "degrade",
    "fisheye_valid_mask",
]

# Skin tones (sRGB), light to dark, roughly spanning the Fitzpatrick I-VI / Monk scale range.
SKIN_TONES_RGB: tuple[tuple[int, int, int], ...] = (
    (246, 222, 205),
    (238, 205, 180),
    (228, 185, 155),
    (224, 172, 140),
    (205, 150, 115),
    (190, 135, 100),
    (165, 110, 80),
    (140, 90, 62),
    (112, 72, 50),
    (85, 55, 40),
)


@dataclass(frozen=True)
class SampledCamera:
    """A camera and the region where its distortion model is valid (monotonic).

    max_norm_radius: plumb_bob only: undistorted points with ``|(x/z, y/z)|`` beyond it would fold back
        into the image (inf otherwise).
    max_theta_rad: largest ray angle off the optical axis that projects sensibly (fisheye: where the
        model stays monotonic, at most 85 deg; pinhole: 80 deg).
    """

    camera: CameraModel
    max_norm_radius: float
    max_theta_rad: float


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _plumb_bob_monotonic_radius(k1: float, k2: float, k3: float) -> float:
    """Largest r where r (1 + k1 r² + k2 r⁴ + k3 r⁶) is still increasing (derivative > 0.2), up to 6."""
    r = np.linspace(0.0, 6.0, 3001)
    r2 = r * r
    deriv = 1 + 3 * k1 * r2 + 5 * k2 * r2 * r2 + 7 * k3 * r2 * r2 * r2
    bad = np.nonzero(deriv < 0.2)[0]
    return float(r[bad[0] - 1]) if bad.size else 6.0


def sample_camera(rng: np.random.Generator, cfg: SyntheticConfig, model: str | None = None) -> SampledCamera:
    """Sample intrinsics and distortion (``model`` forces 'none' | 'plumb_bob' | 'equidistant').

    plumb_bob coefficients are shrunk (×0.7 at a time) until the radial polynomial is monotonic beyond the
    image corners, so every pixel has one ray and projected points cannot fold back into the image.
    """
    w, h = cfg.image_sizes[int(rng.integers(len(cfg.image_sizes)))]
    if model is None:
        mix = np.asarray(cfg.distortion_mix)
        model = ("none", "plumb_bob", "equidistant")[int(rng.choice(3, p=mix / mix.sum()))]
    fisheye = model == "equidistant"
    if fisheye:
        fx = _loguniform(rng, *cfg.fisheye_fx_range_px)
    else:  # no wider than max_fov_deg across (the lower bound is raised; 180 deg raises nothing)
        lo, hi = cfg.fx_range_px
        fx = _loguniform(rng, max(lo, min_focal_px(w, cfg.max_fov_deg)), hi)
    fy = fx * (1.0 + rng.uniform(-cfg.fy_jitter, cfg.fy_jitter))
    cx = (w - 1) / 2 + rng.uniform(-1, 1) * cfg.principal_point_jitter * w
    cy = (h - 1) / 2 + rng.uniform(-1, 1) * cfg.principal_point_jitter * h
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    corner_r = float(np.max(np.hypot((corners[:, 0] - cx) / fx, (corners[:, 1] - cy) / fy)))
    if model == "plumb_bob":
        k1 = rng.uniform(*cfg.plumb_bob_k1_range)
        k2 = rng.uniform(*cfg.plumb_bob_k2_range)
        k3 = rng.uniform(*cfg.plumb_bob_k3_range)
        p1, p2 = rng.uniform(-cfg.plumb_bob_p_max, cfg.plumb_bob_p_max, 2)
        scale = 1.0
        for _ in range(40):
            r_mono = _plumb_bob_monotonic_radius(k1 * scale, k2 * scale, k3 * scale)
            r_d = r_mono * (1 + k1 * scale * r_mono**2 + k2 * scale * r_mono**4 + k3 * scale * r_mono**6)
            if r_d > 1.1 * corner_r:
                break
            scale *= 0.7
        D = np.array([k1 * scale, k2 * scale, p1, p2, k3 * scale])
        cam = CameraModel.from_K(K, w, h, D, "plumb_bob")
        return SampledCamera(cam, 0.95 * r_mono, math.radians(80))
    if fisheye:
        kmax = np.asarray(cfg.fisheye_k_max)
        D = rng.uniform(-kmax, kmax)
        cam = CameraModel.from_K(K, w, h, D, "equidistant")
        theta = np.linspace(0, math.radians(100), 1001)
        deriv = cam._fisheye_dtheta_d(theta)
        bad = np.nonzero(deriv < 0.2)[0]
        theta_max = float(theta[bad[0] - 1]) if bad.size else float(theta[-1])
        return SampledCamera(cam, math.inf, min(theta_max, math.radians(85)))
    return SampledCamera(CameraModel.from_K(K, w, h), math.inf, math.radians(80))


def fisheye_valid_mask(camera: CameraModel, max_theta_rad: float = math.radians(100)) -> np.ndarray | None:
    """(H, W) bool: pixels inside the fisheye's image circle (ray angle < ``max_theta_rad``), or None
    when the whole image is inside (or the camera is not a fisheye)."""
    if not camera.is_fisheye:
        return None
    r_circle = float(camera._fisheye_theta_d(np.array([max_theta_rad]))[0])
    yd = (np.arange(camera.height, dtype=np.float64)[:, None] - camera.cy) / camera.fy
    xd = (np.arange(camera.width, dtype=np.float64)[None, :] - camera.cx) / camera.fx
    inside = xd * xd + yd * yd <= r_circle * r_circle
    return None if inside.all() else inside


# ---------------------------------------------------------------------------------------------- textures


def _random_polygon(rng: np.random.Generator, center: np.ndarray, radius: float) -> np.ndarray:
    n = int(rng.integers(3, 9))
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = radius * rng.uniform(0.5, 1.0, n)
    pts = center + np.stack([np.cos(ang) * rad, np.sin(ang) * rad], axis=1)
    return np.round(pts).astype(np.int32)


def shape_outline(rng: np.random.Generator, h: int, w: int, center: np.ndarray, radius: float) -> np.ndarray:
    """(h, w) uint8 anti-aliased mask (0..255) of a random polygon, ellipse or rectangle around ``center``
    (OpenCV draws it; shared by the numpy and torch backends so both draw the same shapes)."""
    shape_mask = np.zeros((h, w), np.uint8)
    kind = int(rng.integers(3))
    if kind == 0:
        cv2.fillPoly(shape_mask, [_random_polygon(rng, center, radius)], 255, lineType=cv2.LINE_AA)
    elif kind == 1:
        axes = (max(1, int(radius * rng.uniform(0.4, 1.0))), max(1, int(radius * rng.uniform(0.2, 1.0))))
        c = (int(center[0]), int(center[1]))
        cv2.ellipse(shape_mask, c, axes, rng.uniform(0, 180), 0, 360, 255, -1, lineType=cv2.LINE_AA)
    else:
        size = (radius * rng.uniform(0.5, 2.0), radius * rng.uniform(0.2, 1.0))
        box = cv2.boxPoints(((float(center[0]), float(center[1])), size, rng.uniform(0, 180)))
        cv2.fillPoly(shape_mask, [np.round(box).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    return shape_mask


def _draw_shape(
    rng: np.random.Generator, img: np.ndarray, mask: np.ndarray | None, center: np.ndarray, radius: float
) -> None:
    """Fill a random polygon, ellipse or rectangle (flat, shaded or textured) into ``img`` (and ``mask``)."""
    h, w = img.shape[:2]
    shape_mask = shape_outline(rng, h, w, center, radius)
    x0, y0, sw, sh = cv2.boundingRect(shape_mask)  # tight box of the non-zero pixels
    if sw == 0:
        return
    y1, x1 = y0 + sh, x0 + sw
    style = rng.random()
    if style < 0.4:
        fill = np.broadcast_to(_random_color(rng), (sh, sw, 3)).astype(np.float32)
    elif style < 0.7:
        fill = _gradient(rng, sh, sw).astype(np.float32)
    else:
        fill = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS) - 1))](rng, sh, sw).astype(np.float32)
    alpha = shape_mask[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255)
    region = img[y0:y1, x0:x1].astype(np.float32)
    blend = cv2.blendLinear(fill, region, alpha, 1.0 - alpha)  # fill alpha + region (1 - alpha)
    img[y0:y1, x0:x1] = np.clip(blend, 0, 255, out=blend).astype(img.dtype)
    if mask is not None:
        mask[y0:y1, x0:x1] |= shape_mask[y0:y1, x0:x1] >= 128


def make_background(
    rng: np.random.Generator,
    width: int,
    height: int,
    clutter: tuple[int, int],
    backgrounds: str = "procedural",
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a procedural texture (gradient, wood, tiles, noise, stripes or wall+worktop),
    random clutter shapes, and a lighting gradient. Textures are made at up to half resolution, then
    resized. ``backgrounds='photo_mix'`` (``SyntheticConfig.backgrounds``) draws the texture from
    ``photo_textures.photo_mix_texture`` instead (photo crops, desks in perspective, procedural) and half
    as many clutter items, drawn as ``held_objects`` (mugs, cans, utensils, boxes); ``'procedural'`` draws
    exactly the random numbers it always did."""
    scale = 0.5 if max(width, height) > 700 else 1.0
    h, w = max(8, int(height * scale)), max(8, int(width * scale))
    if backgrounds == "photo_mix":
        from wildhands.data.synthetic.photo_textures import photo_mix_texture

        texture = photo_mix_texture(rng, h, w, (_gradient, _wood, _tiles, _kitchen))
    else:
        kind = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))]
        texture = kind(rng, h, w)
    base = np.clip(texture, 0, 255, out=texture).astype(np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR)
    n = int(rng.integers(clutter[0], clutter[1] + 1))
    if backgrounds == "photo_mix":  # fewer, object-like clutter: things lying on the desk
        from wildhands.data.synthetic.held_objects import draw_held_object

        light = np.array([rng.normal(0, 0.7), rng.normal(0.3, 0.7), rng.uniform(0.2, 1.2)])
        light /= np.linalg.norm(light)
        for _ in range(n // 2):
            center = rng.uniform([0, 0], [width, height])
            r = rng.uniform(0.04, 0.2) * min(width, height)
            box = np.array([center[0] - r, center[1] - r, center[0] + r, center[1] + r])
            draw_held_object(rng, img, box, center, tuple(light), float(rng.uniform(0.25, 0.6)))
        n = 0
    for _ in range(n):
        center = rng.uniform([0, 0], [width, height])
        _draw_shape(rng, img, None, center, rng.uniform(0.03, 0.25) * min(width, height))
    light = 0.75 + 0.5 * _value_noise(rng, max(2, height // 16), max(2, width // 16), cell=4, octaves=1)
    light = cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR)
    out = _scale(img.astype(np.float32), light)
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def sample_skin_style(rng: np.random.Generator) -> ShadingStyle:
    """Skin colour (a tone of ``SKIN_TONES_RGB`` with ±8% jitter per channel), light direction and ambient.

    The light comes mostly from the camera's side (z > 0 in the style's convention: pointing from the light)
    with a random lateral component; ambient 0.2-0.6.
    """
    tone = np.asarray(SKIN_TONES_RGB[int(rng.integers(len(SKIN_TONES_RGB)))], dtype=np.float64)
    tone = np.clip(tone * rng.uniform(0.92, 1.08, 3), 0, 255)
    light = np.array([rng.normal(0, 0.7), rng.normal(0.3, 0.7), rng.uniform(0.2, 1.2)])
    return ShadingStyle(
        color_rgb=tuple(float(c) for c in tone),
        light_dir=tuple(float(c) for c in light / np.linalg.norm(light)),
        ambient=float(rng.uniform(0.2, 0.6)),
    )


def draw_occluder(rng: np.random.Generator, img: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
    """Draw an object over part of the box (x0, y0, x1, y1) into ``img`` (in place); returns its (H, W)
    bool mask. Its centre lies inside the box, its radius is 20-55% of the box's larger side."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box_xyxy
    center = rng.uniform([x0, y0], [max(x1, x0 + 1), max(y1, y0 + 1)])
    radius = rng.uniform(0.2, 0.55) * max(x1 - x0, y1 - y0)
    mask = np.zeros((h, w), bool)
    _draw_shape(rng, img, mask, center, max(radius, 3.0))
    return mask


# Standard normal quantiles at (i + 0.5) / 2^16: sensor noise is drawn as 16-bit indices into this table, a
# Gaussian discretised to 65536 equiprobable levels (|z| <= 4.3; ~3x cheaper than rng.standard_normal).
_NORMAL_TABLE: np.ndarray | None = None


def _normal_table() -> np.ndarray:
    global _NORMAL_TABLE
    if _NORMAL_TABLE is None:
        from statistics import NormalDist

        nd = NormalDist()
        p = (np.arange(1 << 16) + 0.5) / (1 << 16)
        half = np.array([nd.inv_cdf(float(q)) for q in p[: 1 << 15]])
        _NORMAL_TABLE = np.concatenate([half, -half[::-1]]).astype(np.float32)  # exactly symmetric
    return _NORMAL_TABLE


def gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """float32 N(0, std²) noise of ``shape`` (discretised to 2^16 equiprobable levels, see above); the
    indices are the generator's raw 64-bit output cut into 16-bit pieces."""
    n = math.prod(shape)
    idx = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n].reshape(shape)
    return (_normal_table() * np.float32(std))[idx]


def motion_blur_kernel(length: float, angle_deg: float) -> tuple[np.ndarray, tuple[int, int]]:
    """A linear motion-blur kernel (an anti-aliased line of ``length`` px at ``angle_deg``, normalised),
    cropped to its non-zero part; returns (kernel, anchor) for ``cv2.filter2D`` -- the same filter as the
    full odd-sized square kernel centred on the line."""
    k = int(math.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = (k - 1) / 2
    dx, dy = math.cos(math.radians(angle_deg)) * length / 2, math.sin(math.radians(angle_deg)) * length / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    kernel /= max(float(kernel.sum()), 1e-6)
    x, y, bw, bh = cv2.boundingRect((kernel > 0).view(np.uint8))
    if bw == 0:
        return kernel, (int(c), int(c))
    return np.ascontiguousarray(kernel[y : y + bh, x : x + bw]), (int(c) - x, int(c) - y)


def degrade(rng: np.random.Generator, img: np.ndarray, cfg: SyntheticConfig) -> tuple[np.ndarray, dict]:
    """Camera effects on an (H, W, 3) uint8 image: white balance / exposure, optical blur, linear motion
    blur (probability ``motion_blur_prob``), Gaussian sensor noise. Returns the image and what was done.

    All in float32; white balance and gamma act per channel on 8-bit values, so they are one lookup table.
    """
    info: dict = {}
    gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.25)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.arange(256, dtype=np.float64)[:, None]
    lut = 255.0 * np.clip((levels * gain) / 255.0, 0, 1) ** gamma  # (256, 3)
    f = cv2.LUT(np.ascontiguousarray(img), lut.astype(np.float32).reshape(256, 1, 3))
    sigma = rng.uniform(0.0, 0.9)
    if sigma > 0.3:
        f = cv2.GaussianBlur(f, (0, 0), sigma)
    if rng.random() < cfg.motion_blur_prob:
        length = rng.uniform(*cfg.motion_blur_px)
        angle = rng.uniform(0, 180)
        kernel, anchor = motion_blur_kernel(length, angle)
        f = cv2.filter2D(f, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT)
        info["motion_blur_px"] = float(length)
        info["motion_blur_deg"] = float(angle)
    std = rng.uniform(*cfg.noise_std_range)
    info["noise_std"] = float(std)
    if std > 0:
        f += gaussian_noise(rng, f.shape, std)
    return cv2.add(f, 0.0, dtype=cv2.CV_8U), info  # rounded to nearest, saturated to 0..255
