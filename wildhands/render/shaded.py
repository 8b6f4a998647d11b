"""A small CPU mesh renderer (numpy + OpenCV): Lambert-shaded triangles and a hard silhouette mask.

Used for the bundled sample images, overlays and the synthetic data generator. Triangles are drawn back
to front (painter's algorithm), which is exact for a single convex-ish hand and good enough for two.
Vertices are in the camera optical frame (x right, y down, z forward, metres); projection goes through
:meth:`CameraModel.project`, so lens distortion is applied per vertex (straight triangle edges in the
distorted image are an approximation that is fine for hand-sized triangles).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.render import raster

# subpixel precision for cv2.fillConvexPoly
_SHIFT = 4
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class ShadingStyle:
    """Colour (RGB, 0-255), light direction (optical frame, pointing from the light) and ambient term."""

    color_rgb: tuple[float, float, float] = (224.0, 172.0, 140.0)
    light_dir: tuple[float, float, float] = (0.3, 0.6, 1.0)
    ambient: float = 0.35


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals (F, 3) of counter-clockwise triangles (outward for a consistently wound mesh)."""
    tri = vertices[faces]  # (F, 3 corners, 3 xyz)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def shade_faces(
    vertices_cam_m: np.ndarray, faces: np.ndarray, style: ShadingStyle
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-face Lambert colour and visibility, as :func:`render_mesh` paints them.

    Returns:
        colors: (F, 3) float64 RGB in [0, 255] (ambient + diffuse from ``style.light_dir``).
        facing: (F,) bool, the face's normal points against the viewing ray (front-facing).
        centers: (F, 3) face centres (metres, optical frame); painter's order sorts by their z.
    """
    vertices = np.asarray(vertices_cam_m, dtype=np.float64)
    normals = face_normals(vertices, faces)
    light = np.asarray(style.light_dir, dtype=np.float64)
    light /= np.linalg.norm(light)
    # faces point towards the camera when their normal is against the viewing ray
    centers = vertices[faces].mean(axis=1)
    facing = np.einsum("fi,fi->f", normals, centers) < 0
    shade = style.ambient + (1.0 - style.ambient) * np.clip(-(normals @ light), 0.0, 1.0)
    colors = np.clip(np.asarray(style.color_rgb)[None, :] * shade[:, None], 0, 255)
    return colors, facing, centers


def _checked_mesh(
    image_rgb: np.ndarray, vertices_cam_m: np.ndarray, faces: np.ndarray, camera: CameraModel
) -> tuple[np.ndarray, np.ndarray]:
    """(vertices float64 (V, 3), faces int64) after checking the image matches the camera and the vertices
    are finite (V, 3); ``ValueError`` naming what is wrong otherwise."""
    h, w = image_rgb.shape[:2]
    if (w, h) != (camera.width, camera.height):
        raise ValueError(f"image is {w}x{h} but the camera is {camera.width}x{camera.height}")
    vertices = np.asarray(vertices_cam_m, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.all(np.isfinite(vertices)):
        raise ValueError(f"vertices_cam_m must be finite (V, 3), got shape {vertices.shape}")
    return vertices, np.asarray(faces, dtype=np.int64)


def render_mesh(
    image_rgb: np.ndarray,
    vertices_cam_m: np.ndarray,
    faces: np.ndarray,
    camera: CameraModel,
    style: ShadingStyle | None = None,
    mask: np.ndarray | None = None,
    mask_value: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a mesh into ``image_rgb`` (H, W, 3 uint8, modified copy returned) and its silhouette into a mask.

    Args:
        image_rgb: background, (H, W, 3) uint8 RGB; its size must match the camera.
        vertices_cam_m: (V, 3) metres, optical frame; vertices must be in front of the camera (z > 0).
        faces: (F, 3) vertex indices, counter-clockwise seen from outside.
        camera: intrinsics (+ distortion) used to project the vertices.
        style: colour and light.
        mask: optional (H, W) uint8 mask to draw the silhouette into (a new one is made otherwise).
        mask_value: value written into the mask where the mesh covers a pixel.

    Returns:
        (image, mask): the rendered RGB image and the silhouette mask.
    """
    style = style or ShadingStyle()
    h, w = image_rgb.shape[:2]
    vertices, faces = _checked_mesh(image_rgb, vertices_cam_m, faces, camera)
    if np.any(vertices[:, 2] <= 1e-3):
        raise ValueError("vertices_cam_m must all be in front of the camera (z > 1 mm)")
    out = image_rgb.copy()
    mask = np.zeros((h, w), np.uint8) if mask is None else mask

    uv = camera.project(vertices)  # (V, 2) px
    colors, facing, centers = shade_faces(vertices, faces, style)

    order = np.argsort(-centers[:, 2])  # far to near
    pts = np.round(uv[faces] * _SCALE).astype(np.int32)  # (F, 3, 2) fixed point
    for f in order:
        if not np.all(np.isfinite(uv[faces[f]])):
            continue
        if facing[f]:
            cv2.fillConvexPoly(out, pts[f], colors[f].tolist(), lineType=cv2.LINE_8, shift=_SHIFT)
        cv2.fillConvexPoly(mask, pts[f], int(mask_value), lineType=cv2.LINE_8, shift=_SHIFT)
    return out, mask


# --------------------------------------------------------------------------- smooth (per-vertex) shading


@dataclass(frozen=True)
class SmoothLook:
    """Per-vertex shading of the render skin (``render.hand_skin``), on top of a :class:`ShadingStyle`.

    wrap: wrap-around diffuse ``(n.l + wrap) / (1 + wrap)`` (light bleeding past the terminator, as skin's
        subsurface scattering does); the extra light it adds is tinted ``subsurface_rgb``.
    specular, shininess: a weak Blinn-Phong highlight (white), nails get ``nail_specular``.
    ao: strength of the ambient-occlusion darkening (0 = none).
    """

    wrap: float = 0.4
    subsurface_rgb: tuple[float, float, float] = (1.0, 0.55, 0.45)
    specular: float = 0.08
    nail_specular: float = 0.35
    shininess: float = 20.0
    ao: float = 0.7


def shade_vertices(
    vertices_cam_m: np.ndarray,
    normals: np.ndarray,
    base_rgb: np.ndarray,
    style: ShadingStyle,
    look: SmoothLook | None = None,
    occlusion: np.ndarray | None = None,
    specular: np.ndarray | None = None,
) -> np.ndarray:
    """(V, 3) float RGB [0, 255] of each vertex: ambient (x AO) + wrapped diffuse with a subsurface tint +
    Blinn-Phong specular. ``base_rgb`` (V, 3) is the albedo, ``occlusion`` (V,) in [0, 1] (1 = fully
    occluded), ``specular`` (V,) per-vertex highlight strength (default ``look.specular``)."""
    look = look or SmoothLook()
    v = np.asarray(vertices_cam_m, np.float64)
    n = np.asarray(normals, np.float64)
    to_light = -np.asarray(style.light_dir, np.float64)
    to_light /= np.linalg.norm(to_light)
    ndl = n @ to_light
    lambert = np.clip(ndl, 0.0, 1.0)
    wrapped = np.clip((ndl + look.wrap) / (1.0 + look.wrap), 0.0, 1.0)
    ao = 1.0 - look.ao * np.clip(occlusion, 0.0, 1.0) if occlusion is not None else np.ones(len(v))
    diffuse = (1.0 - style.ambient) * lambert * (0.5 + 0.5 * ao)
    sss = (1.0 - style.ambient) * (wrapped - lambert)[:, None] * np.asarray(look.subsurface_rgb)[None]
    light = (style.ambient * ao + diffuse)[:, None] + sss
    view = -v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    half = view + to_light[None]
    half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-9)
    ks = np.full(len(v), look.specular) if specular is None else np.asarray(specular, np.float64)
    spec = ks * np.clip(np.einsum("ij,ij->i", n, half), 0.0, 1.0) ** look.shininess * (ndl > 0)
    return np.clip(np.asarray(base_rgb, np.float64) * light + 255.0 * spec[:, None], 0.0, 255.0)


def interpolate_vertex_colors(
    top: np.ndarray, origin_xy: tuple[int, int], uv: np.ndarray, faces: np.ndarray, vertex_rgb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gouraud fill: per pixel of a window (``top`` (h, w): the face index there, -1 = none; its top-left
    pixel at ``origin_xy`` in the image) the screen-space barycentric mix of its face's vertex colours.
    Returns (rgb (h, w, 3) float32, covered (h, w) bool)."""
    covered = top >= 0
    out = np.zeros(top.shape + (3,), np.float32)
    rows, cols = np.nonzero(covered)
    if rows.size == 0:
        return out, covered
    f = faces[top[rows, cols]]  # (P, 3)
    p = np.stack([cols + origin_xy[0], rows + origin_xy[1]], 1).astype(np.float64)
    a, b, c = uv[f[:, 0]], uv[f[:, 1]], uv[f[:, 2]]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    w1, w2 = np.clip(w1, 0, 1), np.clip(w2, 0, 1)
    s = np.maximum(w1 + w2, 1.0)
    w1, w2 = w1 / s, w2 / s
    w0 = 1.0 - w1 - w2
    col = (
        w0[:, None] * vertex_rgb[f[:, 0]]
        + w1[:, None] * vertex_rgb[f[:, 1]]
        + w2[:, None] * vertex_rgb[f[:, 2]]
    )
    out[rows, cols] = col
    return out, covered


def gouraud_fill(
    image: np.ndarray,
    spans: raster.Spans,
    top: np.ndarray,
    uv: np.ndarray,
    faces: np.ndarray,
    vertex_rgb: np.ndarray,
    gain: np.ndarray | None = None,
) -> None:
    """Paint, in place, the pixels of ``image`` (H, W, 3 uint8) that ``top`` covers (its face index per pixel
    of ``spans``' window, e.g. from ``raster.nearest_face``) with the Gouraud mix of their face's vertex
    colours (:func:`interpolate_vertex_colors`), times ``gain`` (a window-sized multiplier) if given."""
    rgb, covered = interpolate_vertex_colors(top, spans.window[:2], uv, faces, np.asarray(vertex_rgb))
    if gain is not None:
        rgb *= gain[..., None]
    region = image[spans.slices]
    region[covered] = np.clip(np.rint(rgb[covered]), 0, 255).astype(np.uint8)
    image[spans.slices] = region


def render_smooth_mesh(
    image_rgb: np.ndarray,
    vertices_cam_m: np.ndarray,
    faces: np.ndarray,
    vertex_rgb: np.ndarray,
    camera: CameraModel,
    near_m: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a mesh with per-vertex colours (Gouraud, e.g. from :func:`shade_vertices`) into ``image_rgb``.

    Per pixel the nearest face is drawn (a z-buffer, ``raster.nearest_face``: crossing and interpenetrating
    faces overlap correctly), rasterised by ``render.raster`` (OpenCV's fill rule). Faces with a corner
    nearer than ``near_m`` (or behind the camera) or outside the lens model's reach are not drawn (e.g. a
    sleeve running past the camera).

    Returns:
        (image, top): the rendered copy of the (H, W, 3) uint8 RGB image and, per pixel, the index of the
        face drawn there ((H, W) int64, -1 where the mesh does not cover it) -- e.g. a part's silhouette is
        ``np.isin(top, part_faces)``.
    """
    h, w = image_rgb.shape[:2]
    vertices, all_faces = _checked_mesh(image_rgb, vertices_cam_m, faces, camera)
    front = vertices[:, 2] > near_m
    uv = np.zeros((len(vertices), 2))
    uv[front] = camera.project(vertices[front])
    ok = front & np.isfinite(uv).all(axis=1)
    drawable = np.flatnonzero(ok[all_faces].all(axis=1))
    faces = all_faces[drawable]
    spans = raster.triangle_spans(uv, faces, w, h)
    top = raster.nearest_face(spans, uv, faces, np.where(front, vertices[:, 2], 1.0))
    out = image_rgb.copy()
    gouraud_fill(out, spans, top, uv, faces, vertex_rgb)
    return out, spans.paste(np.where(top >= 0, drawable[top], -1), fill=-1)
