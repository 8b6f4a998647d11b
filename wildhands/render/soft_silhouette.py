"""Differentiable soft silhouette of a triangle mesh (SoftRasterizer-style, Liu et al. 2019), in PyTorch.

For every pixel ``p`` and every face ``f`` (projected to a 2D triangle with the pinhole ``K``), the face's
influence is

    D_f(p) = sigmoid(sign_f(p) * d_f(p)^2 / sigma)

with ``d_f(p)`` the distance from ``p`` to the triangle's outline and ``sign = +1`` inside the triangle,
``-1`` outside. The silhouette aggregates all faces as a probabilistic union

    S(p) = 1 - prod_f (1 - D_f(p)),

computed in log space (``log(1 - sigmoid(x)) = logsigmoid(-x)``), so it never under/overflows and the
gradient stays finite.

Units of ``sigma``: squared **normalised** image distance, as in SoftRasterizer: the longer image side
spans 2 units (NDC), i.e. ``d_norm = 2 * d_px / max(H, W)``. ``sigma = 1e-4`` is a blur of
``sqrt(1e-4) = 0.01`` NDC units, 0.32 px on a 64x64 crop (nearly hard); ``sigma = 1e-3..3e-3`` gives
the broader edges that help an optimiser from a poor start.

Memory: faces influence only pixels within ``margin`` of their 2D bounding box, where
``margin = sqrt(sigma * ln(1 / eps))`` (``eps = 1e-4`` by default: beyond it ``D_f < eps`` and the face
is skipped, an error below ``eps`` per face). Only those (face, pixel) pairs are built, as one flat
ragged list, so the cost is proportional to the covered area, not to ``H * W * F``. Faces with a vertex
closer than ``near_m`` to the camera plane are dropped (a pinhole projection is meaningless there), and
faces turned away from the camera can be skipped (``cull_backfaces``): for a closed mesh the silhouette
is the union of the front faces.

SoftRasterizer's ``gamma`` (the softmax temperature of its colour aggregation) plays no part in a
silhouette, which only uses the probabilistic union above, so there is no ``gamma`` argument.

No lens distortion: project in the crop of an undistorted (or rectified) camera. Training renders into
the crop of each hand with :func:`crop_intrinsics` / :func:`soft_silhouette_in_crop`; cut the target mask
with the same box (``geometry.crop.warp_crop(mask, box, out_size, mirror, cv2.INTER_NEAREST)``).
Because ``sigma`` is in normalised units, the same ``sigma`` is the same blur relative to the crop at any
crop size.

Speed (CPU, float32, B=8 hands of 2224 faces at 64x64, sigma=1e-4, back faces culled): about 18 ms
forward, 31 ms forward + backward on one thread. Its tensors are small: on a busy 2-core machine one
torch thread is steadier than two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from wildhands.geometry.camera import project_torch
from wildhands.geometry.crop import CropBox, crop_affine

__all__ = [
    "DEFAULT_SIGMA",
    "soft_silhouette",
    "crop_intrinsics",
    "soft_silhouette_in_crop",
    "silhouette_bce_loss",
]

DEFAULT_SIGMA = 1e-4
_AREA_EPS_PX2 = 1e-10  # triangles with a smaller 2D area (px^2) are treated as degenerate (no inside)
_MAX_PAIRS = 40_000_000  # refuse to build more (face, pixel) pairs than this (about 2 GB of intermediates)


def _image_size(image_size: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"image_size must be (H, W), got {image_size!r}") from exc
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be (H, W) > 0, got {image_size!r}")
    return h, w


def _point_segment_sq(
    px: torch.Tensor, py: torch.Tensor, ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor
) -> torch.Tensor:
    """Squared distance (N,) from points p to segments a-b (all (N,), one coordinate per tensor: reductions
    over a trailing dimension of size 2 are slow on CPU)."""
    abx, aby = bx - ax, by - ay
    apx, apy = px - ax, py - ay
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp(min=1e-12)).clamp(0.0, 1.0)
    dx, dy = apx - t * abx, apy - t * aby
    return dx * dx + dy * dy


def soft_silhouette(
    vertices_cam_m: torch.Tensor,
    faces: torch.Tensor | np.ndarray,
    K: torch.Tensor,
    image_size: Sequence[int],
    sigma: float = DEFAULT_SIGMA,
    eps: float = 1e-4,
    cull_backfaces: bool = True,
    near_m: float = 1e-3,
) -> torch.Tensor:
    """Render the soft silhouette of a mesh (differentiable w.r.t. the vertices and K).

    Args:
        vertices_cam_m: (B, V, 3) m, camera optical frame (x right, y down, z forward).
        faces: (F, 3) vertex indices (shared by the batch).
        K: (B, 3, 3) or (3, 3) pinhole camera matrix in pixels of the rendered image (pixel-centre
            convention of :mod:`wildhands.geometry.camera`: pixel (i, j) has its centre at u = j, v = i).
        image_size: (H, W) in pixels.
        sigma: blur, in squared normalised image units (see the module docstring); > 0.
        eps: faces are ignored where their influence is below ``eps`` (sets the per-face margin).
        cull_backfaces: skip faces whose outward normal points away from the camera (exact for closed,
            outward-wound meshes; halves the work).
        near_m: faces with a vertex at depth < near_m are skipped.

    Returns:
        (B, H, W) silhouette probabilities in [0, 1], dtype of ``vertices_cam_m``.
    """
    if vertices_cam_m.ndim != 3 or vertices_cam_m.shape[-1] != 3:
        raise ValueError(f"vertices_cam_m must have shape (B, V, 3), got {tuple(vertices_cam_m.shape)}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    if not (0.0 < eps < 0.5):
        raise ValueError(f"eps must be in (0, 0.5), got {eps!r}")
    h, w = _image_size(image_size)
    device, dtype = vertices_cam_m.device, vertices_cam_m.dtype
    bsz, num_v, _ = vertices_cam_m.shape
    faces_t = torch.as_tensor(np.asarray(faces) if not torch.is_tensor(faces) else faces, device=device)
    faces_t = faces_t.long()
    if faces_t.ndim != 2 or faces_t.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {tuple(faces_t.shape)}")
    if faces_t.numel() and (faces_t.min() < 0 or faces_t.max() >= num_v):
        raise ValueError(f"faces index vertices outside [0, {num_v})")
    K = K.to(device=device, dtype=dtype)
    if K.ndim == 2:
        K = K.expand(bsz, 3, 3)
    if K.shape != (bsz, 3, 3):
        raise ValueError(f"K must have shape (B, 3, 3) or (3, 3) with B={bsz}, got {tuple(K.shape)}")

    num_f = faces_t.shape[0]
    uv = project_torch(vertices_cam_m, K)  # (B, V, 2) px
    tri = uv[:, faces_t]  # (B, F, 3, 2) px
    tri3 = vertices_cam_m.detach()[:, faces_t]  # (B, F, 3, 3) m, only for culling (no gradient)

    with torch.no_grad():
        keep = (tri3[..., 2] >= near_m).all(-1) & torch.isfinite(tri).all(-1).all(-1)  # (B, F)
        if cull_backfaces:
            e1, e2 = tri3[:, :, 1] - tri3[:, :, 0], tri3[:, :, 2] - tri3[:, :, 0]
            normal = torch.linalg.cross(e1, e2)
            keep &= (normal * tri3.mean(2)).sum(-1) < 0  # facing the camera (ray . normal < 0)
        scale = 2.0 / max(h, w)  # px -> normalised units
        margin_px = math.sqrt(sigma * math.log(1.0 / eps)) / scale
        lo = tri.amin(2) - margin_px  # (B, F, 2)
        hi = tri.amax(2) + margin_px
        x0 = lo[..., 0].ceil().clamp(0, w).long()
        y0 = lo[..., 1].ceil().clamp(0, h).long()
        x1 = (hi[..., 0].floor() + 1).clamp(0, w).long()  # exclusive
        y1 = (hi[..., 1].floor() + 1).clamp(0, h).long()
        bw = (x1 - x0).clamp(min=0)
        bh = (y1 - y0).clamp(min=0)
        counts = torch.where(keep, bw * bh, torch.zeros_like(bw)).reshape(-1)  # (B*F,)
        total = int(counts.sum())
        if total > _MAX_PAIRS:
            raise ValueError(
                f"soft_silhouette would build {total} (face, pixel) pairs: render a smaller image, a crop "
                f"(soft_silhouette_in_crop) or use a smaller sigma"
            )
        pair_face = torch.repeat_interleave(torch.arange(bsz * num_f, device=device), counts)  # (N,)
        starts = torch.cumsum(counts, 0) - counts
        local = torch.arange(total, device=device) - starts[pair_face]
        bw_f, x0_f, y0_f = bw.reshape(-1)[pair_face], x0.reshape(-1)[pair_face], y0.reshape(-1)[pair_face]
        px = x0_f + local % bw_f.clamp(min=1)
        py = y0_f + torch.div(local, bw_f.clamp(min=1), rounding_mode="floor")
        batch = torch.div(pair_face, num_f, rounding_mode="floor")
        pixel_index = (batch * h + py) * w + px  # (N,) into (B*H*W)

    t = tri.reshape(bsz * num_f, 6)[pair_face]  # (N, 6): ax, ay, bx, by, cx, cy
    ax, ay, bx, by, cx, cy = t.unbind(1)
    pxf, pyf = px.to(dtype), py.to(dtype)
    d2 = torch.minimum(
        torch.minimum(
            _point_segment_sq(pxf, pyf, ax, ay, bx, by), _point_segment_sq(pxf, pyf, bx, by, cx, cy)
        ),
        _point_segment_sq(pxf, pyf, cx, cy, ax, ay),
    )
    with torch.no_grad():
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        s0 = ((bx - ax) * (pyf - ay) - (by - ay) * (pxf - ax)) * area
        s1 = ((cx - bx) * (pyf - by) - (cy - by) * (pxf - bx)) * area
        s2 = ((ax - cx) * (pyf - cy) - (ay - cy) * (pxf - cx)) * area
        inside = (s0 >= 0) & (s1 >= 0) & (s2 >= 0) & (area.abs() > _AREA_EPS_PX2)
        sign = inside.to(dtype) * 2.0 - 1.0
    x = sign * d2 * (scale * scale) / sigma
    log_miss = F.logsigmoid(-x)  # log(1 - D_f)
    acc = torch.zeros(bsz * h * w, device=device, dtype=dtype).index_add(0, pixel_index, log_miss)
    return (1.0 - torch.exp(acc)).reshape(bsz, h, w)


def crop_intrinsics(
    K: torch.Tensor | np.ndarray, box: CropBox, out_size: int, mirror: bool = False
) -> torch.Tensor:
    """K (3, 3) px of the full image -> K (3, 3) of the square crop ``box`` resized to ``out_size``.

    ``K_crop = A @ K`` with ``A`` the (3, 3) form of :func:`wildhands.geometry.crop.crop_affine` (same pixel
    conventions, optional left-right mirror). Exact for a pinhole camera. Returns a float64 tensor (or the
    dtype/device of a tensor ``K``).
    """
    A = np.eye(3)
    A[:2] = crop_affine(box, out_size, mirror)
    K_t = torch.as_tensor(K) if torch.is_tensor(K) else torch.as_tensor(np.asarray(K, np.float64))
    if K_t.shape != (3, 3):
        raise ValueError(f"K must have shape (3, 3), got {tuple(K_t.shape)}")
    return torch.as_tensor(A, dtype=K_t.dtype, device=K_t.device) @ K_t


def soft_silhouette_in_crop(
    vertices_cam_m: torch.Tensor,
    faces: torch.Tensor | np.ndarray,
    K: torch.Tensor | np.ndarray,
    boxes: Sequence[CropBox],
    out_size: int = 64,
    mirror: Sequence[bool] | None = None,
    **kwargs,
) -> torch.Tensor:
    """Soft silhouette rendered directly in each hand's crop frame: (B, out_size, out_size).

    Args:
        vertices_cam_m: (B, V, 3) m in the full image's camera frame.
        faces: (F, 3).
        K: (3, 3) or (B, 3, 3) pinhole matrix of the full image (px).
        boxes: B crop boxes (full-image pixels), e.g. the pipeline's ``crop_box`` of each hand.
        out_size: crop side in pixels (56 or 64 is plenty for the mask loss).
        mirror: per hand, whether its crop is mirrored (to match a mirrored target crop).
        kwargs: passed to :func:`soft_silhouette` (sigma, eps, cull_backfaces, near_m).
    """
    bsz = vertices_cam_m.shape[0]
    if len(boxes) != bsz:
        raise ValueError(f"need one box per hand: {len(boxes)} boxes for B={bsz}")
    mirror = [False] * bsz if mirror is None else list(mirror)
    if len(mirror) != bsz:
        raise ValueError(f"mirror must have B={bsz} entries, got {len(mirror)}")
    K_t = torch.as_tensor(K) if torch.is_tensor(K) else torch.as_tensor(np.asarray(K, np.float64))
    K_t = K_t.to(device=vertices_cam_m.device, dtype=vertices_cam_m.dtype)
    if K_t.ndim == 2:
        K_t = K_t.expand(bsz, 3, 3)
    K_crop = torch.stack([crop_intrinsics(K_t[i], boxes[i], out_size, mirror[i]) for i in range(bsz)])
    return soft_silhouette(vertices_cam_m, faces, K_crop, (out_size, out_size), **kwargs)


def silhouette_bce_loss(
    pred: torch.Tensor,
    target_mask: torch.Tensor,
    valid: torch.Tensor | None = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Binary cross-entropy between soft silhouettes and target masks, averaged over valid samples.

    Args:
        pred: (B, H, W) probabilities in [0, 1] (e.g. from :func:`soft_silhouette`).
        target_mask: (B, H, W) masks (bool, {0, 1} or soft in [0, 1]; uint8 255 is accepted too).
        valid: (B,) bool/float weights: samples without a mask label get 0. None = all valid.
        eps: probabilities are clamped to [eps, 1 - eps].

    Returns:
        Scalar: sum_b valid_b * mean_pixels(BCE_b) / max(sum_b valid_b, 1); 0 (still differentiable) when
        no sample is valid.
    """
    if pred.ndim != 3:
        raise ValueError(f"pred must have shape (B, H, W), got {tuple(pred.shape)}")
    if target_mask.shape != pred.shape:
        raise ValueError(f"target_mask shape {tuple(target_mask.shape)} != pred shape {tuple(pred.shape)}")
    target = target_mask.to(device=pred.device, dtype=pred.dtype)
    if target_mask.dtype == torch.uint8 and target.max() > 1:
        target = target / 255.0
    if valid is None:
        weight = torch.ones(pred.shape[0], device=pred.device, dtype=pred.dtype)
    else:
        weight = valid.to(device=pred.device, dtype=pred.dtype).reshape(-1)
        if weight.shape[0] != pred.shape[0]:
            raise ValueError(f"valid must have B={pred.shape[0]} entries, got {weight.shape[0]}")
    p = pred.clamp(eps, 1.0 - eps)
    bce = -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p))  # (B, H, W)
    per_sample = bce.flatten(1).mean(1)
    return (weight * per_sample).sum() / weight.sum().clamp(min=1.0)
