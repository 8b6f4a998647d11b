"""Photographic background textures (``SyntheticConfig.backgrounds='photo_mix'``), mixed with the procedural
ones of ``scene`` and with procedural desk / worktop surfaces seen in perspective.

The photographs are the colour and texture images that scikit-image ships in ``skimage/data`` (read from
the installed package's folder with OpenCV; nothing is downloaded, and ``skimage`` itself is not
imported). Only images that their authors released without copyright restrictions are used:

=================  ===================================================================  =================
file               what                                                                 licence
=================  ===================================================================  =================
``coffee.png``     a coffee cup on a wooden table (photo: Rachel Michetti,              CC0
                   courtesy of Pikolo Espresso Bar)
``chelsea.png``    a cat on a textured floor (photo: Stefan van der Walt)              CC0
``brick.png``      a brick wall (CC0Textures "Bricks25", perspective-warped, grey)      CC0
``gravel.png``     gravel (CC0Textures "Gravel04", grey)                                CC0
``grass.png``      grass (DeviantArt "Grass-01" by linolafett, grey)                    CC0
``rocket.jpg``     a rocket on its launch pad (SpaceX)                                  public domain
=================  ===================================================================  =================

(licences as stated in the docstrings of ``skimage.data.coffee``, ``chelsea``, ``brick``, ``gravel``,
``grass``, ``rocket``, scikit-image 0.26.0; scikit-image's own code is BSD-3-Clause and none of it is used
here). Images of people (``astronaut``, ``camera``) are left out: their hands would be unlabelled hands.
Frames made with ``photo_mix`` contain random crops of these images -- resized, rotated, flipped,
perspective-warped, colour-jittered (grey textures tinted) and blurred.

A background is, with probabilities 0.45 / 0.25 / 0.3: a photo crop, a desk / worktop (procedural wood,
tiles, counter-top speckle or a photo crop, warped by a random perspective so it recedes towards a horizon,
below a wall) or one of ``scene``'s procedural surfaces (gradient, wood, tiles, wall + worktop; no stripes).
``scene.make_background`` then adds half as many clutter items as ``procedural`` does, drawn as the
objects of ``held_objects`` (mugs, cans, utensils, boxes lying about) rather than flat polygons.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PHOTO_FILES", "photo_images", "photo_crop", "photo_mix_texture"]

#: (file name under skimage/data, is grey) -- see the module docstring for each image's licence
PHOTO_FILES: tuple[tuple[str, bool], ...] = (
    ("coffee.png", False),
    ("chelsea.png", False),
    ("brick.png", True),
    ("gravel.png", True),
    ("grass.png", True),
    ("rocket.jpg", False),
)

#: how often each photo is picked (the table-top photo most, the cat's close-up least)
_WEIGHTS = np.array([0.3, 0.1, 0.18, 0.15, 0.12, 0.15])
_IMAGES: list[tuple[np.ndarray, bool]] | None = None


def _skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "SyntheticConfig.backgrounds='photo_mix' needs scikit-image installed (its bundled CC0 / "
            "public-domain sample photos are the textures): pip install scikit-image"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photo_images() -> list[tuple[np.ndarray, bool]]:
    """The photos as (H, W, 3) uint8 RGB arrays with their 'grey' flag, read once per process."""
    global _IMAGES
    if _IMAGES is None:
        folder = _skimage_data_dir()
        out = []
        for name, grey in PHOTO_FILES:
            bgr = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
            if bgr is None:
                raise RuntimeError(f"photo_mix: cannot read {folder / name} (scikit-image install broken?)")
            out.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), grey))
        _IMAGES = out
    return _IMAGES


def photo_crop(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 RGB: a random crop of a random photo, scaled (see below), rotated +-25 deg (or
    90 deg), flipped, colour-jittered and sometimes blurred."""
    images = photo_images()
    src, grey = images[int(rng.choice(len(images), p=_WEIGHTS))]
    sh, sw = src.shape[:2]
    # source px per output px: the crop spans 55-110 % of the photo's short side across the output's short
    # side (photos are ~512 px: mostly magnified, at most ~2.5x at 640x480; reflected where it overhangs)
    zoom = math.exp(rng.uniform(math.log(0.55), math.log(1.1))) * min(sh, sw) / min(h, w)
    ang = rng.uniform(-25, 25) + (90.0 if rng.random() < 0.2 else 0.0)
    flip = rng.random() < 0.5
    cx, cy = rng.uniform(0.3, 0.7) * sw, rng.uniform(0.3, 0.7) * sh
    # output pixel (u, v) -> source: centre + R(ang) zoom (u - w/2, v - h/2), reflected at the borders
    c, s = math.cos(math.radians(ang)) * zoom, math.sin(math.radians(ang)) * zoom
    fx = -1.0 if flip else 1.0
    m = np.array(
        [[c * fx, -s, cx - (c * fx * w / 2 - s * h / 2)], [s * fx, c, cy - (s * fx * w / 2 + c * h / 2)]]
    )
    out = cv2.warpAffine(
        src, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
    ).astype(np.float32)
    if grey:  # tint: grey textures become coloured surfaces
        tint = rng.uniform(0.55, 1.2, 3) * rng.uniform(0.8, 1.1)
    else:
        tint = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.75, 1.2)
    out = cv2.multiply(out, (float(tint[0]), float(tint[1]), float(tint[2]), 0.0))  # per channel
    contrast = rng.uniform(0.7, 1.15)
    mean = float(out.mean())
    out = cv2.addWeighted(out, contrast, out, 0.0, mean * (1 - contrast))
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.6, 2.5))
    return out


def _perspective(rng: np.random.Generator, tex: np.ndarray, h: int, w: int, y_horizon: float) -> np.ndarray:
    """Warp ``tex`` (h, w, 3) as a horizontal surface seen from above: the image's top edge shrinks towards
    a vanishing region at ``y_horizon`` (rows), the bottom edge stays wide."""
    shrink = rng.uniform(0.15, 0.6)
    shift = rng.uniform(-0.3, 0.3) * w
    dst = np.float32(
        [
            [w / 2 - shrink * w / 2 + shift, y_horizon],
            [w / 2 + shrink * w / 2 + shift, y_horizon],
            [w * rng.uniform(1.0, 1.4), h],
            [-w * rng.uniform(0.0, 0.4), h],
        ]
    )
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    hmat = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(tex, hmat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _counter_top(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A speckled stone / laminate counter top: base colour, fine speckles, soft mottling."""
    from wildhands.data.synthetic._textures import _random_color, _value_noise

    base = _random_color(rng, 60, 235).astype(np.float32)
    mottle = _value_noise(rng, h, w, cell=rng.uniform(20, 80), octaves=3)
    speck = (rng.random((h, w)) < rng.uniform(0.01, 0.08)).astype(np.float32)
    speck = cv2.GaussianBlur(speck, (0, 0), rng.uniform(0.5, 1.2)) * np.float32(rng.uniform(-120, 120))
    shade = 0.85 + 0.3 * mottle
    return cv2.merge([shade * base[c] + speck for c in range(3)])


def _surface(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    from wildhands.data.synthetic._textures import _tiles, _wood

    r = rng.random()
    if r < 0.35:
        return _wood(rng, h, w)
    if r < 0.55:
        return _tiles(rng, h, w)
    if r < 0.75:
        return _counter_top(rng, h, w)
    return photo_crop(rng, h, w)


def _desk(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A worktop / desk receding to a horizon, a wall (photo or procedural) above it, a soft edge."""
    from wildhands.data.synthetic._textures import _gradient, _noise_texture

    y0 = rng.uniform(-0.2, 0.55) * h
    top = _perspective(rng, _surface(rng, h, w), h, w, y0)
    if y0 <= 0:
        return top
    if rng.random() < 0.5:
        wall = photo_crop(rng, h, w)
    else:
        wall = _gradient(rng, h, w)
        wall += _noise_texture(rng, h, w)
        wall *= np.float32(0.5)
    v = np.arange(h, dtype=np.float32)[:, None]
    t = np.clip((v - np.float32(y0)) / np.float32(max(1.5, 0.004 * h)) + 0.5, 0, 1)
    t = np.broadcast_to(t, (h, w)).astype(np.float32)
    return cv2.blendLinear(top, wall, t, 1.0 - t)


def photo_mix_texture(rng: np.random.Generator, h: int, w: int, procedural) -> np.ndarray:
    """(h, w, 3) float32: a photo crop (45 %), a desk / worktop (25 %) or one of ``procedural`` (texture
    functions: ``scene`` passes its gradient, wood, tiles and wall + worktop -- no stripes or noise, 30 %)."""
    r = rng.random()
    if r < 0.45:
        return photo_crop(rng, h, w)
    if r < 0.7:
        return _desk(rng, h, w)
    return procedural[int(rng.integers(len(procedural)))](rng, h, w)
