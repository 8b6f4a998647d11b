"""Occluders that look like objects held in the hand (``SyntheticConfig.occluders='objects'``): mugs, cans /
bottles, utensil-like sticks (cutlery, pens, wooden spoons) and boxes, shaded with the frame's light
(the hand's ``ShadingStyle``: the same direction and ambient term), instead of ``scene``'s flat shapes.

Each object is drawn in 2D around a point near the hand's palm: a cylinder's pixels get the normal of a
cylinder seen side-on (``n = s * across + sqrt(1 - s^2) * towards-camera`` for ``s`` in -1..1 across it),
Lambert with the frame's light plus a Blinn-like highlight (strong for metal and glazed ceramics); boxes
show a front face and one or two side faces at different brightness, textured with a procedural or
photographic surface. Edges are anti-aliased from the signed distance to the outline; the returned mask is
alpha >= 0.5 (as ``scene``'s shapes: the pixels the object hides).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["OBJECT_KINDS", "draw_held_object"]

OBJECT_KINDS = ("mug", "can", "stick", "box")


def _frame(h: int, w: int, center: np.ndarray, ang: float, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) float32 coordinates along ``ang`` (a) and across it (b), relative to ``center``, of the
    window whose top-left pixel is (x0, y0)."""
    u = np.arange(x0, x0 + w, dtype=np.float32)[None, :] - np.float32(center[0])
    v = np.arange(y0, y0 + h, dtype=np.float32)[:, None] - np.float32(center[1])
    c, s = np.float32(math.cos(ang)), np.float32(math.sin(ang))
    return u * c + v * s, -u * s + v * c


def _light(
    light_dir: np.ndarray, ambient: float, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, shine: float
) -> np.ndarray:
    """Lambert + highlight intensity for normals (nx, ny, nz) (optical frame; nz < 0 faces the camera),
    light pointing from the light (as ``ShadingStyle``)."""
    lx, ly, lz = (float(x) for x in light_dir)
    lam = np.maximum(-(nx * lx + ny * ly + nz * lz), 0)
    out = ambient + (1 - ambient) * lam
    if shine > 0:  # half vector between the direction to the light (-l) and to the camera (0, 0, -1)
        hx, hy, hz = -lx, -ly, -lz - 1.0
        hn = math.sqrt(hx * hx + hy * hy + hz * hz) or 1.0
        spec = np.maximum((nx * hx + ny * hy + nz * hz) / hn, 0) ** 24
        out = out + shine * spec
    return out.astype(np.float32)


def _colour(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, float]:
    """Base colour (RGB 0-255) and highlight strength of an object's material."""
    r = rng.random()
    if kind == "stick" and r < 0.4:  # steel
        return np.full(3, rng.uniform(140, 210)) * rng.uniform(0.95, 1.05, 3), 0.9
    if kind == "stick" and r < 0.75:  # wood
        return np.array([170, 120, 75]) * rng.uniform(0.7, 1.2) * rng.uniform(0.92, 1.08, 3), 0.1
    if kind == "mug" and r < 0.5:  # white / cream ceramic
        return np.full(3, rng.uniform(200, 245)) * rng.uniform(0.95, 1.03, 3), 0.6
    c = rng.uniform(20, 235, 3)
    grey = c.mean()
    return grey + rng.uniform(0.3, 1.0) * (c - grey), (0.5 if kind in ("mug", "can") else 0.2)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 surface for labels and boxes: procedural or a photo crop."""
    from wildhands.data.synthetic import _textures

    if rng.random() < 0.5:  # (needs scikit-image, as backgrounds: photo_mix)
        from wildhands.data.synthetic.photo_textures import photo_crop

        return photo_crop(rng, h, w)
    return _textures._BACKGROUNDS[int(rng.integers(len(_textures._BACKGROUNDS) - 1))](rng, h, w)


def draw_held_object(
    rng: np.random.Generator,
    img: np.ndarray,
    box_xyxy: np.ndarray,
    anchor_px: np.ndarray,
    light_dir: tuple[float, float, float],
    ambient: float,
) -> np.ndarray:
    """Draw a held-looking object into ``img`` ((H, W, 3) uint8, in place) near ``anchor_px`` (the palm's
    pixel), sized from the hand's box (x0, y0, x1, y1); returns the (H, W) bool mask of its pixels."""
    h_img, w_img = img.shape[:2]
    size = max(float(max(box_xyxy[2] - box_xyxy[0], box_xyxy[3] - box_xyxy[1])), 8.0)
    kind = OBJECT_KINDS[int(rng.choice(len(OBJECT_KINDS), p=[0.3, 0.2, 0.3, 0.2]))]
    center = np.asarray(anchor_px, np.float64) + rng.normal(0, 0.12 * size, 2)
    ang = rng.uniform(0, math.pi)
    light = np.asarray(light_dir, np.float64)
    if kind == "stick":
        length, width = size * rng.uniform(0.9, 1.8), size * rng.uniform(0.05, 0.11)
    elif kind == "box":
        length, width = size * rng.uniform(0.35, 0.8), size * rng.uniform(0.25, 0.6)
    else:  # mug / can: body taller than wide, a bit narrower than the palm is long
        width = size * rng.uniform(0.3, 0.5)
        length = width * rng.uniform(1.0, 1.8)
    reach = 0.5 * math.hypot(length, width) + (0.45 * width if kind == "mug" else 0) + 2
    x0, y0 = max(0, int(center[0] - reach)), max(0, int(center[1] - reach))
    x1, y1 = min(w_img, int(center[0] + reach) + 2), min(h_img, int(center[1] + reach) + 2)
    mask = np.zeros((h_img, w_img), bool)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return mask
    hh, ww = y1 - y0, x1 - x0
    a, b = _frame(hh, ww, center, ang, x0, y0)
    ca, sa = math.cos(ang), math.sin(ang)
    base, shine = _colour(rng, kind)
    if kind == "box":
        rgb, alpha = _box(rng, a, b, length, width, ang, light, ambient)
    else:
        half_w = np.float32(width / 2)
        if kind == "stick" and rng.random() < 0.5:  # a spoon / spatula head at one end
            head = np.float32(length * rng.uniform(0.15, 0.3))
            t = np.clip((a - np.float32(length / 2) + head) / head, 0, 1)
            half_w = half_w * (1 + np.float32(rng.uniform(1.0, 2.0)) * np.sin(np.float32(math.pi) * t))
        dist = np.minimum(half_w - np.abs(b), np.float32(length / 2) - np.abs(a))
        s = np.clip(b / half_w, -1, 1)
        nz = -np.sqrt(np.maximum(1 - s * s, 0))
        nx, ny = s * np.float32(-sa), s * np.float32(ca)  # across = (-sin, cos)
        inten = _light(light, ambient, nx, ny, nz, shine)
        if kind == "can" and rng.random() < 0.7:  # a printed label round the middle
            tex = _texture(rng, hh, ww)
            band = (np.abs(a) < np.float32(length * rng.uniform(0.25, 0.4)))[..., None]
            colour = np.where(band, tex, np.broadcast_to(base.astype(np.float32), tex.shape))
        else:
            colour = np.broadcast_to(base.astype(np.float32), (hh, ww, 3))
        rgb = colour * inten[..., None]
        alpha = np.clip(dist + 0.5, 0, 1)
        if kind in ("mug", "can"):  # the rim: an ellipse at one end, its inside darker
            rim_ax = (width / 2, width / 2 * rng.uniform(0.15, 0.45))
            end = np.float32(length / 2)
            ea = (a + end) / np.float32(rim_ax[1])
            eb = b / np.float32(rim_ax[0])
            rim = ea * ea + eb * eb
            inside = rim < 0.75
            alpha = np.maximum(alpha, np.clip((1 - rim) * rim_ax[1] + 0.5, 0, 1))
            dark = (0.35 if kind == "mug" else 0.6) * ambient + 0.15
            rgb = np.where(inside[..., None], base.astype(np.float32) * np.float32(dark), rgb)
            rgb = np.where(((rim >= 0.75) & (rim < 1.0))[..., None], base.astype(np.float32) * 1.05, rgb)
        if kind == "mug":  # a handle: a thick half ring on one side
            side = 1.0 if rng.random() < 0.5 else -1.0
            hc = np.array([center[0], center[1]]) + side * (width / 2) * np.array([-sa, ca])
            r_out, r_in = width * rng.uniform(0.3, 0.42), width * rng.uniform(0.16, 0.24)
            du = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(hc[0])
            dv = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(hc[1])
            rr = np.sqrt(du * du + (dv * dv))
            outward = (du * np.float32(-sa) + dv * np.float32(ca)) * np.float32(side) > 0
            ring_d = np.minimum(np.float32(r_out) - rr, rr - np.float32(r_in))
            ring = np.where(outward, np.clip(ring_d + 0.5, 0, 1), 0).astype(np.float32)
            ring_l = _light(light, ambient, du / np.maximum(rr, 1), dv / np.maximum(rr, 1), -0.3, shine)
            rgb = np.where((ring > alpha)[..., None], base.astype(np.float32) * ring_l[..., None], rgb)
            alpha = np.maximum(alpha, ring)
    alpha = alpha.astype(np.float32)
    if not np.any(alpha >= 0.5):
        return mask
    rgb = np.clip(rgb, 0, 255).astype(np.float32)
    region = img[y0:y1, x0:x1].astype(np.float32)
    blend = cv2.blendLinear(rgb, region, alpha, 1.0 - alpha)
    # (blendLinear divides by w1 + w2 + 1e-5: round, or untouched pixels would lose one level)
    img[y0:y1, x0:x1] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    mask[y0:y1, x0:x1] = alpha >= 0.5
    return mask


def _box(
    rng: np.random.Generator,
    a: np.ndarray,
    b: np.ndarray,
    length: float,
    width: float,
    ang: float,
    light: np.ndarray,
    ambient: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A box seen at an angle: textured front face (|a| < L/2, |b| < W/2) and a side face sheared off
    one long edge and one short edge, each lit by its own normal."""
    hh, ww = a.shape
    depth = width * rng.uniform(0.2, 0.5)
    tex = _texture(rng, hh, ww)
    sa, ca = math.sin(ang), math.cos(ang)
    tilt = rng.uniform(0.3, 0.8)
    # normals (optical frame): front faces the camera, tilted; the side faces point across / along
    n_front = np.array([-sa * tilt * 0.3, ca * tilt * 0.3, -1.0])
    n_side = np.array([-sa, ca, -tilt])
    n_end = np.array([ca, sa, -tilt])
    faces = []
    for n in (n_front, n_side, n_end):
        n = n / np.linalg.norm(n)
        faces.append(
            float(_light(light, ambient, np.float32(n[0]), np.float32(n[1]), np.float32(n[2]), 0.15))
        )
    half_l, half_w = np.float32(length / 2), np.float32(width / 2)
    d_front = np.minimum(half_w - np.abs(b), half_l - np.abs(a))
    # side face: the band beyond +W/2, sheared by 'depth' along a (a parallelogram)
    bs = b - half_w
    d_side = np.minimum(np.minimum(bs, np.float32(depth) - bs), half_l - np.abs(a - bs * np.float32(0.5)))
    as_ = a - half_l
    d_end = np.minimum(np.minimum(as_, np.float32(depth * 0.6) - as_), half_w - np.abs(b - as_ * 0.5))
    rgb = tex * np.float32(faces[0])
    rgb = np.where((d_side > d_front)[..., None], tex * np.float32(faces[1] * 0.9), rgb)
    rgb = np.where(((d_end > d_front) & (d_end > d_side))[..., None], tex * np.float32(faces[2] * 0.8), rgb)
    dist = np.maximum(np.maximum(d_front, d_side), d_end)
    return rgb, np.clip(dist + 0.5, 0, 1)
