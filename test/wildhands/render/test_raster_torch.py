"""The torch rasteriser (render.raster_torch) gives exactly the numpy rasteriser's spans, top faces and
coverage (on the CPU here; on CUDA in the ``gpu`` test), edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.data.synthetic.poses import sample_global_orient, sample_hand_pose
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel import OpenHandModel
from wildhands.render import raster, raster_torch
from wildhands.render.shaded import ShadingStyle, shade_faces


@pytest.fixture(scope="module")
def meshes():
    """(uv, faces, width, height, priority, facing) of posed hands: large, small, truncated, distorted."""
    rng = np.random.default_rng(8)
    out = []
    for i, (side, width, height, f, depth, shift, dist) in enumerate(
        [
            ("right", 640, 480, 500.0, 0.35, 0.0, None),
            ("left", 320, 240, 250.0, 0.8, 0.0, None),
            ("right", 640, 480, 600.0, 0.25, 0.12, None),  # over the right border
            ("left", 400, 300, 300.0, 0.3, -0.05, [-0.3, 0.1, 0.001, -0.001, 0.01]),  # plumb_bob
        ]
    ):
        model = OpenHandModel(side=side, dtype=torch.float64)
        with torch.no_grad():
            o = model(
                global_orient=torch.from_numpy(sample_global_orient(rng)[None]),
                hand_pose=torch.from_numpy(sample_hand_pose(rng, i % 8)[None]),
            )
        verts = o.vertices[0].numpy() - o.joints[0, 0].numpy() + np.array([shift, 0.0, depth])
        K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
        cam = CameraModel.from_K(K, width, height, dist, "plumb_bob" if dist else "none")
        faces = o.faces.numpy()
        _, facing, centers = shade_faces(verts, faces, ShadingStyle())
        priority = np.empty(len(faces), np.int64)
        priority[np.argsort(-centers[:, 2])] = np.arange(len(faces))
        out.append((cam.project(verts), faces, width, height, priority, facing))
    return out


def _check_same(meshes, device: str) -> None:
    for uv, faces, w, h, priority, facing in meshes:
        ref = raster.triangle_spans(uv, faces, w, h)
        ts = raster_torch.triangle_spans(uv, faces, w, h, device=device)
        assert ts.device.type == torch.device(device).type
        got = ts.to_numpy()
        assert ts.window == ref.window and len(ts) == len(ref) > 0
        for name in ("face", "row", "x0", "x1"):
            assert np.array_equal(getattr(got, name), getattr(ref, name)), name
        for select in (None, facing):
            assert np.array_equal(
                raster_torch.top_face(ts, priority, select).cpu().numpy(),
                raster.top_face(ref, priority, select),
            )
            assert np.array_equal(
                raster_torch.coverage(ts, select).cpu().numpy(), raster.coverage(ref, select)
            )


def test_torch_spans_equal_numpy_spans_on_cpu(meshes):
    _check_same(meshes, "cpu")


def test_torch_raster_edge_cases():
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    uv = np.array(
        [[-50.0, -50.0], [-10.0, -40.0], [-30.0, -5.0], [5.0, 5.0], [40.0, 8.0], [10.0, 30.0]]
        + [[np.nan, 0.0], [3.0, 3.0], [9.0, 9.0]]
    )
    ref = raster.triangle_spans(uv, faces, 32, 24)
    ts = raster_torch.triangle_spans(uv, faces, 32, 24)
    assert set(ts.face.tolist()) == {1} and ts.window == ref.window
    assert np.array_equal(ts.paste(raster_torch.coverage(ts).numpy()), ref.paste(raster.coverage(ref)))
    empty = raster_torch.triangle_spans(uv[:3], faces[:1], 32, 24)
    assert len(empty) == 0 and empty.window == (0, 0, 0, 0)
    assert raster_torch.coverage(empty).numel() == 0
    assert raster_torch.top_face(empty, np.arange(1)).numel() == 0
    flat = raster_torch.triangle_spans(np.array([[2.0, 5.0], [9.0, 5.0], [6.0, 5.0]]), faces[:1], 16, 16)
    assert flat.row.tolist() == [5] and (int(flat.x0[0]), int(flat.x1[0])) == (2, 9)


@pytest.mark.gpu
def test_torch_spans_equal_numpy_spans_on_cuda(meshes):
    _check_same(meshes, "cuda")
