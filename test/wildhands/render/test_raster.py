"""The vectorised rasteriser (render.raster) against OpenCV's per-triangle fill (render_mesh): silhouettes
agree (IoU > 0.98), the painter's top face gives render_mesh's colours, and edge cases (off-image, clipped,
non-finite) are handled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.data.synthetic.poses import sample_global_orient, sample_hand_pose
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel import OpenHandModel
from wildhands.render.raster import coverage, nearest_face, top_face, triangle_spans
from wildhands.render.shaded import ShadingStyle, render_mesh, shade_faces


@pytest.fixture(scope="module")
def posed_hands():
    """(vertices in the camera frame, faces, camera) for posed hands of several grasps, sizes and lenses."""
    rng = np.random.default_rng(4)
    out = []
    for i, (side, width, height, f, depth) in enumerate(
        [
            ("right", 640, 480, 500.0, 0.35),
            ("left", 640, 480, 300.0, 0.6),
            ("right", 320, 240, 250.0, 0.8),  # a small hand (~40 px)
            ("left", 1280, 720, 900.0, 0.3),
            ("right", 640, 480, 600.0, 0.25),  # truncated by the image border
        ]
    ):
        model = OpenHandModel(side=side, dtype=torch.float64)
        pose = sample_hand_pose(rng, i % 8)
        orient = sample_global_orient(rng)
        with torch.no_grad():
            o = model(global_orient=torch.from_numpy(orient[None]), hand_pose=torch.from_numpy(pose[None]))
        verts = o.vertices[0].numpy() - o.joints[0, 0].numpy() + np.array([0.0, 0.0, depth])
        if i == 4:
            verts[:, 0] += 0.12  # push the hand over the right border
        K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
        out.append((verts, o.faces.numpy(), CameraModel.from_K(K, width, height)))
    return out


def _painter_priority(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    cz = verts[faces].mean(axis=1)[:, 2]
    priority = np.empty(len(faces), np.int64)
    priority[np.argsort(-cz)] = np.arange(len(faces))
    return priority


def test_silhouette_matches_opencv_fill(posed_hands):
    for verts, faces, cam in posed_hands:
        _, cv_mask = render_mesh(np.zeros((cam.height, cam.width, 3), np.uint8), verts, faces, cam)
        spans = triangle_spans(cam.project(verts), faces, cam.width, cam.height)
        ours = spans.paste(coverage(spans))
        theirs = cv_mask > 0
        iou = (ours & theirs).sum() / (ours | theirs).sum()
        assert iou > 0.98, iou
        # the top face exists exactly where some face covers the pixel
        assert np.array_equal(top_face(spans, _painter_priority(verts, faces)) >= 0, coverage(spans))


def test_nearest_face_is_a_z_buffer():
    """Two triangles crossing in depth: each wins where it is in front; the painter's order (one face per
    triangle centre) cannot do that."""
    cam = CameraModel.from_K(np.array([[100.0, 0, 49.5], [0, 100.0, 49.5], [0, 0, 1]]), 100, 100)
    # A leans from z 0.8 (left) to 1.2 (right), B the other way; they cross at x = 0
    a = np.array([[-0.3, -0.3, 0.8], [0.3, -0.3, 1.2], [0.0, 0.4, 1.0]])
    b = np.array([[-0.3, 0.3, 1.2], [0.3, 0.3, 0.8], [0.0, -0.4, 1.0]])
    verts = np.concatenate([a, b])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    uv = cam.project(verts)
    spans = triangle_spans(uv, faces, cam.width, cam.height)
    top = spans.paste(nearest_face(spans, uv, faces, verts[:, 2]), fill=-1)
    assert top[50, 35] == 0 and top[50, 65] == 1  # left of the crossing A is nearer, right of it B
    assert np.array_equal(top >= 0, spans.paste(coverage(spans)))
    painter = spans.paste(top_face(spans, _painter_priority(verts, faces)), fill=-1)
    assert painter[50, 35] == painter[50, 65]


def test_nearest_face_gives_ties_to_the_lower_face_index():
    """The same triangle twice (equal depth at every pixel) and a nearer one over part of it: the nearer
    face wins where it covers, elsewhere the lower index of the two equal ones, whichever order they come."""
    cam = CameraModel.from_K(np.array([[100.0, 0, 49.5], [0, 100.0, 49.5], [0, 0, 1]]), 100, 100)
    tri = np.array([[-0.3, -0.3, 1.0], [0.3, -0.3, 1.1], [0.0, 0.4, 0.9]])
    near = np.array([[-0.1, -0.1, 0.5], [0.1, -0.1, 0.5], [0.0, 0.1, 0.5]])
    verts = np.concatenate([tri, tri, near])
    uv = cam.project(verts)
    for faces, tie_winner in (([[0, 1, 2], [3, 4, 5], [6, 7, 8]], 0), ([[6, 7, 8], [3, 4, 5], [0, 1, 2]], 1)):
        faces = np.array(faces)
        spans = triangle_spans(uv, faces, cam.width, cam.height)
        top = spans.paste(nearest_face(spans, uv, faces, verts[:, 2]), fill=-1)
        near_face = int(np.nonzero(faces[:, 0] == 6)[0][0])
        assert top[50, 50] == near_face  # the image centre lies inside the near triangle
        assert top[80, 50] == tie_winner  # inside the twins only: the lower of their indices
        assert set(np.unique(top)) == {-1, tie_winner, near_face}


def test_nearest_face_picks_the_nearest_covering_face_on_a_hand(posed_hands):
    """On posed hands: every pixel's face is the nearest of the faces covering it there (depth at the pixel
    centre from barycentric coordinates, solved per face), and the covered pixels are the spans'."""
    for verts, faces, cam in posed_hands[:3]:
        uv = cam.project(verts)
        spans = triangle_spans(uv, faces, cam.width, cam.height)
        z = nearest_face(spans, uv, faces, verts[:, 2])
        assert np.array_equal(z >= 0, coverage(spans))
        x0, y0 = spans.window[:2]
        n = spans.x1 - spans.x0 + 1
        f = np.repeat(spans.face, n)
        px = np.repeat(spans.x0, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        py = np.repeat(spans.row, n)
        # barycentric weights of the pixel centre in its face; only pixel centres inside a face are compared
        # (the rasteriser's outline pixels lie up to half a pixel outside theirs, where depth is clamped)
        tri = uv[faces[f]]
        m = np.stack([tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]], axis=2)
        ok = np.abs(np.linalg.det(m)) > 1e-9
        w12 = np.full((len(f), 2), -1.0)
        w12[ok] = np.linalg.solve(m[ok], (np.stack([px, py], 1) - tri[:, 0])[ok][..., None])[..., 0]
        w = np.c_[1 - w12.sum(1), w12]
        inside = ok & (w >= -1e-9).all(1)
        inv_z = (w / verts[faces[f], 2]).sum(1)
        best = np.full(z.shape, -np.inf)
        np.maximum.at(best, (py[inside] - y0, px[inside] - x0), inv_z[inside])
        chosen = np.full(z.shape, np.nan)
        mine = inside & (z[py - y0, px - x0] == f)
        chosen[py[mine] - y0, px[mine] - x0] = inv_z[mine]
        compared = np.isfinite(chosen)
        assert compared.sum() > 0.25 * (z >= 0).sum()  # small hands: many pixels on triangle edges
        assert np.all(chosen[compared] >= best[compared] - 1e-9)  # no face inside the pixel is nearer


def test_painter_colours_match_render_mesh(posed_hands):
    style = ShadingStyle(color_rgb=(200.0, 150.0, 120.0), light_dir=(0.2, 0.5, 1.0), ambient=0.3)
    for verts, faces, cam in posed_hands:
        image, cv_mask = render_mesh(np.zeros((cam.height, cam.width, 3), np.uint8), verts, faces, cam, style)
        colors, facing, _ = shade_faces(verts, faces, style)
        spans = triangle_spans(cam.project(verts), faces, cam.width, cam.height)
        top = spans.paste(top_face(spans, _painter_priority(verts, faces), select=facing), fill=-1)
        ours = np.where((top >= 0)[..., None], np.rint(colors).astype(np.uint8)[top], 0)
        both = (cv_mask > 0) & spans.paste(coverage(spans))
        same = np.all(ours == image, axis=-1)[both].mean()
        assert same > 0.95, same  # differences only along triangle edges, where the fills round differently


def test_edge_cases():
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    uv = np.array(
        [
            [-50.0, -50.0],
            [-10.0, -40.0],
            [-30.0, -5.0],  # entirely off the image
            [5.0, 5.0],
            [40.0, 8.0],
            [10.0, 30.0],  # inside
            [np.nan, 0.0],
            [3.0, 3.0],
            [9.0, 9.0],  # non-finite: skipped
        ]
    )
    spans = triangle_spans(uv, faces, 32, 24)
    assert set(spans.face.tolist()) == {1}
    cov = spans.paste(coverage(spans))
    assert cov.shape == (24, 32) and cov[10, 12] and not cov[0, 0]
    assert cov[:, 31].any()  # clipped at the right border (the triangle reaches x = 40)
    assert np.all((spans.x0 >= 0) & (spans.x1 < 32) & (spans.row >= 0) & (spans.row < 24))
    # nothing to draw
    empty = triangle_spans(uv[:3], faces[:1], 32, 24)
    assert len(empty) == 0 and not empty.paste(coverage(empty)).any()
    assert (top_face(empty, np.arange(1)) < 0).all()
    # a degenerate (zero-height) triangle still covers its row, as cv2's outline does
    flat = triangle_spans(np.array([[2.0, 5.0], [9.0, 5.0], [6.0, 5.0]]), faces[:1], 16, 16)
    assert flat.row.tolist() == [5] and (flat.x0[0], flat.x1[0]) == (2, 9)
