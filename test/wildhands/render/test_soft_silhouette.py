"""Soft silhouette: agrees with hard rasterisation at low blur, gradients reach every hand parameter,
an optimisation of the translation lowers the mask loss, and the crop helper matches the full image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import CropBox, square_box_from_xyxy, warp_crop
from wildhands.handmodel import OpenHandModel
from wildhands.render.shaded import render_mesh
from wildhands.render.soft_silhouette import (
    crop_intrinsics,
    silhouette_bce_loss,
    soft_silhouette,
    soft_silhouette_in_crop,
)
from wildhands.runtime.io import SAMPLE_DIR

K_SAMPLE = np.array([[330.0, 0.0, 319.5], [0.0, 330.0, 239.5], [0.0, 0.0, 1.0]])


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the renderer's ops are small, and on a shared 2-core machine two OpenMP threads
    can wait on each other for seconds per op (measured: the optimisation test took 34 s instead of 0.6 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def entries():
    return {e["side"]: e for e in json.loads((SAMPLE_DIR / "hands.json").read_text())["hands"]}


def _posed(entry, dtype=torch.float64, requires_grad=False):
    model = OpenHandModel(side=entry["side"], dtype=dtype)
    params = {
        "betas": torch.tensor([entry["betas"]], dtype=dtype),
        "global_orient": torch.tensor([entry["global_orient_axis_angle"]], dtype=dtype),
        "hand_pose": torch.tensor(entry["hand_pose_axis_angle"], dtype=dtype).reshape(1, 15, 3),
        "transl": torch.zeros(1, 3, dtype=dtype),
    }
    for p in params.values():
        p.requires_grad_(requires_grad)
    return model, params


def _vertices(model, params, wrist):
    out = model(**params)
    return out.vertices - out.keypoints[:, :1].detach() + torch.as_tensor(wrist, dtype=out.vertices.dtype)


def _hard_mask(uv: np.ndarray, faces: np.ndarray, h: int, w: int) -> np.ndarray:
    """Exact pixel-centre rasterisation: a pixel is covered when its centre lies in a projected triangle."""
    vs, us = np.mgrid[0:h, 0:w]
    p = np.stack([us.ravel(), vs.ravel()], 1).astype(np.float64)  # (P, 2)
    covered = np.zeros(len(p), bool)
    tri = uv[faces]  # (F, 3, 2)
    for chunk in np.array_split(tri, max(1, len(tri) // 256)):
        a, b, c = (chunk[:, i][:, None] for i in range(3))  # (f, 1, 2)

        def cross(o, q):
            return (q[..., 0] - o[..., 0]) * (p[None, :, 1] - o[..., 1]) - (q[..., 1] - o[..., 1]) * (
                p[None, :, 0] - o[..., 0]
            )

        e0, e1, e2 = cross(a, b), cross(b, c), cross(c, a)
        inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
        covered |= inside.any(0)
    return covered.reshape(h, w)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("side", ["right", "left"])
def test_low_blur_matches_hard_rasterisation(entries, side):
    entry = entries[side]
    model, params = _posed(entry)
    with torch.no_grad():
        verts = _vertices(model, params, entry["keypoints_cam_m"][0])
    box = square_box_from_xyxy(entry["box_xyxy"], (640, 480), scale=1.2)
    size = 64
    K_crop = crop_intrinsics(K_SAMPLE, box, size).numpy()
    sil = soft_silhouette_in_crop(verts, model.faces, K_SAMPLE, [box], size, sigma=1e-5)[0].numpy()
    assert sil.min() >= 0.0 and sil.max() <= 1.0
    uv = verts[0].numpy() @ K_crop.T
    uv = uv[:, :2] / uv[:, 2:]
    exact = _hard_mask(uv, model.faces.numpy(), size, size)
    assert exact.sum() > 500
    assert _iou(sil > 0.5, exact) > 0.95
    # OpenCV's polygon fill (render_mesh's mask) also covers pixels an edge merely touches: ~0.5 px wider
    _, cv_mask = render_mesh(
        np.zeros((size, size, 3), np.uint8),
        verts[0].numpy(),
        model.faces.numpy(),
        CameraModel.from_K(K_crop, size, size),
    )
    assert _iou(sil > 0.5, cv_mask > 0) > 0.9
    # culling back faces changes nothing visible for this closed mesh
    full = soft_silhouette_in_crop(
        verts, model.faces, K_SAMPLE, [box], size, sigma=1e-5, cull_backfaces=False
    )
    assert _iou(full[0].numpy() > 0.5, sil > 0.5) > 0.97


def test_crop_rendering_matches_the_full_image_crop(entries):
    entry = entries["right"]
    model, params = _posed(entry)
    with torch.no_grad():
        verts = _vertices(model, params, entry["keypoints_cam_m"][0])
    # a crop of 1:1 scale is an integer pixel shift of the full image; sigma is relative to the image
    # size (normalised units), so the same blur in pixels needs sigma scaled by (640 / 180)^2
    box = CropBox(290.0, 260.0, 180.0)
    full = soft_silhouette(verts, model.faces, torch.as_tensor(K_SAMPLE), (480, 640), sigma=1e-5)[0].numpy()
    crop = soft_silhouette_in_crop(verts, model.faces, K_SAMPLE, [box], 180, sigma=1e-5 * (640 / 180) ** 2)
    crop = crop[0].numpy()
    assert np.abs(full[260:440, 290:470] - crop).max() < 1e-6
    mirrored = soft_silhouette_in_crop(
        verts, model.faces, K_SAMPLE, [box], 180, mirror=[True], sigma=1e-5 * (640 / 180) ** 2
    )[0].numpy()
    assert np.abs(mirrored[:, ::-1] - crop).max() < 1e-6
    assert np.abs(warp_crop(full.astype(np.float32), box, 180) - crop).max() < 1e-4


def test_gradients_reach_every_hand_parameter(entries):
    entry = entries["right"]
    model, params = _posed(entry, dtype=torch.float32, requires_grad=True)
    verts = _vertices(model, params, entry["keypoints_cam_m"][0])
    box = square_box_from_xyxy(entry["box_xyxy"], (640, 480), scale=1.2)
    sil = soft_silhouette_in_crop(verts, model.faces, K_SAMPLE, [box], 56, sigma=1e-3)
    target = torch.zeros_like(sil)
    target[:, 10:40, 15:45] = 1.0
    silhouette_bce_loss(sil, target).backward()
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_optimising_translation_lowers_the_mask_loss(entries):
    entry = entries["right"]
    model, params = _posed(entry)
    box = square_box_from_xyxy(entry["box_xyxy"], (640, 480), scale=1.4)
    with torch.no_grad():
        target = soft_silhouette_in_crop(
            _vertices(model, params, entry["keypoints_cam_m"][0]),
            model.faces,
            K_SAMPLE,
            [box],
            48,
            sigma=1e-5,
        )
        target = (target > 0.5).double()
        base = _vertices(model, params, entry["keypoints_cam_m"][0])
    delta = torch.tensor([[0.025, -0.02, 0.0]], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=2e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        sil = soft_silhouette_in_crop(base + delta[:, None], model.faces, K_SAMPLE, [box], 48, sigma=2e-3)
        loss = silhouette_bce_loss(sil, target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
    assert float(delta.detach()[0, :2].norm()) < 0.5 * 0.032


def test_bce_loss_valid_mask_and_inputs():
    pred = torch.full((3, 4, 4), 0.5)
    target = torch.zeros(3, 4, 4)
    target[0] = 1.0
    loss = silhouette_bce_loss(pred, target, valid=torch.tensor([True, False, True]))
    assert float(loss) == pytest.approx(np.log(2.0), rel=1e-5)
    perfect = silhouette_bce_loss(target.clone(), target)
    assert float(perfect) < 1e-4
    none_valid = silhouette_bce_loss(pred.requires_grad_(), target, valid=torch.zeros(3))
    assert none_valid.item() == 0.0
    none_valid.backward()
    u8 = silhouette_bce_loss(target.clone(), (target * 255).to(torch.uint8))
    assert float(u8) < 1e-4
    with pytest.raises(ValueError, match="shape"):
        silhouette_bce_loss(pred, target[:, :2])


def test_bad_inputs_and_empty_scenes():
    verts = torch.tensor([[[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.1, 1.0]]])
    faces = torch.tensor([[0, 2, 1]])
    K = torch.tensor([[100.0, 0.0, 15.5], [0.0, 100.0, 15.5], [0.0, 0.0, 1.0]])
    sil = soft_silhouette(verts, faces, K, (32, 32), cull_backfaces=False)
    assert sil.shape == (1, 32, 32) and sil[0, 18, 18] > 0.99 and sil[0, 2, 2] < 1e-3
    behind = verts * torch.tensor([1.0, 1.0, -1.0])
    assert soft_silhouette(behind, faces, K, (32, 32)).abs().max() == 0.0
    with pytest.raises(ValueError, match="sigma"):
        soft_silhouette(verts, faces, K, (32, 32), sigma=0.0)
    with pytest.raises(ValueError, match="faces"):
        soft_silhouette(verts, torch.tensor([[0, 1, 7]]), K, (32, 32))
    with pytest.raises(ValueError, match="image_size"):
        soft_silhouette(verts, faces, K, (0, 32))
