"""Training losses of WildHands, per sample, so per-dataset weights and missing labels mask them.

Terms (paper defaults as weights: lab data λθ=10, λkp3d=5, λkp2d=5, λcam=1; wild data λmask=10,
λgrasp=0.1):

    theta   MSE of the 16 rotation matrices + MSE of β vs the labelled hand parameters
    kp3d    L1 (m) of wrist-relative 3D keypoints
    kp2d    L1 of the 2D keypoints, full perspective: the predicted wrist-relative keypoints placed at the
            metric translation the network's weak-perspective camera implies (with the real intrinsics and
            crop box), projected with the pinhole K, in units of the crop half-size (crop-normalised)
    cam     smooth-L1 of the weak-perspective camera vs the ideal one for the true translation, compared as
            (log s, s·tx, s·ty) so the terms are commensurate; each component's error capped at
            CAM_ERROR_CAP
    mask    BCE of the soft silhouette of the predicted mesh (in the crop) vs the hand mask
    grasp   cross-entropy of the grasp logits

Each function returns (B,) losses and (B,) availability (1 where the sample has that label).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from wildhands.geometry.camera import weak_perspective_to_translation
from wildhands.model.network import WildHandsOutput

LOSS_TERMS: tuple[str, ...] = ("theta", "kp3d", "kp2d", "cam", "mask", "grasp")
#: Largest per-keypoint 2D error (L1, in units of half the crop side) that the kp2d term counts.
KP2D_ERROR_CAP = 2.0
#: Largest error of one camera component (log s, or the root's offset in half-crops) that the cam term counts.
#: Wide fisheye views put the undistorted wrist of some hands tens of half-crops away from the crop (target
#: s·tx of 10-20): squared, one such hand gave a loss of 250 and a gradient norm 8x the rest of the batch.
CAM_ERROR_CAP = 2.0


def predicted_keypoints(out: WildHandsOutput, hand_model: torch.nn.Module, batch: dict[str, torch.Tensor]):
    """Hand-model output of the prediction: wrist-relative keypoints (B,21,3), vertices (B,V,3), faces,
    and the metric translation (B,3) in the net camera."""
    hm = hand_model(betas=out.betas, global_orient=out.global_orient, hand_pose=out.hand_pose)
    root = hm.keypoints[:, :1]
    K = batch["K"]
    transl = weak_perspective_to_translation(
        out.cam_wp, batch["box_center"], batch["box_size"], K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    )
    return hm.keypoints - root, hm.vertices - root, hm.faces, transl


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    z = points[..., 2:3].clamp(min=1e-3)
    xy = points[..., :2] / z
    return xy @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]


def _cam_features(cam_wp: torch.Tensor) -> torch.Tensor:
    """(log s, s·tx, s·ty): the scale in log space (s spans 5-50 across focal lengths and distances) and the
    root's offset from the crop centre in crop-normalised units, so the three terms are commensurate."""
    s = cam_wp[:, 0].clamp(min=1e-3)
    return torch.stack([s.log(), s * cam_wp[:, 1], s * cam_wp[:, 2]], dim=1)


def compute_losses(
    out: WildHandsOutput,
    batch: dict[str, torch.Tensor],
    hand_model: torch.nn.Module,
    silhouette: Callable[..., torch.Tensor] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-sample losses ``{term: (loss (B,), available (B,))}`` for the terms in :data:`LOSS_TERMS`.

    ``silhouette(vertices_cam (B,V,3), faces, K_crop (B,3,3), size) -> (B,size,size)`` renders the soft
    mask; without it the mask term is zero and unavailable.
    """
    kp_rel, verts_rel, faces, transl = predicted_keypoints(out, hand_model, batch)
    has_3d = batch["has_3d"].float()
    has_params = batch["has_params"].float()
    losses: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    rot_err = (out.global_orient - batch["global_orient"]).pow(2).flatten(1).mean(1)
    rot_err = rot_err + (out.hand_pose - batch["hand_pose"]).pow(2).flatten(1).mean(1)
    beta_err = (out.betas - batch["betas"]).pow(2).mean(1)
    losses["theta"] = (rot_err + beta_err, has_params)

    losses["kp3d"] = ((kp_rel - batch["kp3d_rel"]).abs().sum(-1).mean(-1), has_3d)

    half = (batch["box_size"] / 2.0)[:, None, None]
    uv = _project(kp_rel + transl[:, None], batch["K"])
    err2d = ((uv - batch["kp2d"]) / half).abs().sum(-1)  # (B, 21), crop-normalised units
    # Capped: a keypoint off by more than KP2D_ERROR_CAP half-crops adds the cap and no gradient. Such
    # errors come from pinhole projections that explode (wide fisheye views: the undistorted label lies far
    # outside the crop; a predicted point near z = 0) and, uncapped, their gradients swamp the batch.
    err2d = err2d.clamp(max=KP2D_ERROR_CAP)
    valid = batch["kp2d_valid"].float()
    n_valid = valid.sum(1)
    losses["kp2d"] = ((err2d * valid).sum(1) / n_valid.clamp(min=1), (n_valid > 0).float())

    cam_err = (_cam_features(out.cam_wp) - _cam_features(batch["cam_wp"])).abs()
    # smooth L1 (quadratic below 1, linear above), then capped: beyond the cap a component adds a constant
    cam_err = torch.where(cam_err < 1.0, 0.5 * cam_err.pow(2), cam_err - 0.5).clamp(max=CAM_ERROR_CAP - 0.5)
    losses["cam"] = (cam_err.mean(1), has_3d)

    has_mask = batch["has_mask"].float()
    if silhouette is not None and bool(has_mask.any()):
        size = batch["mask"].shape[-1]
        scale = size / batch["box_size"]  # crop pixels per image pixel
        K_crop = batch["K"].clone()
        K_crop[:, :2, :2] = K_crop[:, :2, :2] * scale[:, None, None]
        # crop pixel = (u - x0 + 0.5) * scale - 0.5, x0 = first pixel of the box (see geometry.crop)
        x0y0 = batch["box_center"] - ((batch["box_size"] - 1.0) / 2.0)[:, None]
        K_crop[:, :2, 2] = (batch["K"][:, :2, 2] - x0y0 + 0.5) * scale[:, None] - 0.5
        pred_mask = silhouette(verts_rel + transl[:, None], faces, K_crop, size).clamp(1e-5, 1 - 1e-5)
        bce = F.binary_cross_entropy(pred_mask, batch["mask"], reduction="none").flatten(1).mean(1)
        losses["mask"] = (bce, has_mask)
    else:
        losses["mask"] = (torch.zeros_like(has_mask), torch.zeros_like(has_mask))

    grasp = batch["grasp"]
    has_grasp = (grasp >= 0).float()
    ce = F.cross_entropy(out.grasp_logits, grasp.clamp(min=0), reduction="none")
    losses["grasp"] = (ce, has_grasp)
    return losses


def weighted_total(
    losses: dict[str, tuple[torch.Tensor, torch.Tensor]],
    weights: torch.Tensor,
    log_vars: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss: Σ_terms mean_batch(w[dataset, term] · available · loss).

    ``weights`` (B, T) are the per-sample weights (each sample's dataset row of the weight table).
    ``log_vars`` (T,), when given, adds learned uncertainty weighting (Kendall et al. 2018):
    ``exp(-s_t) · L_t + s_t`` per term. Returns the total and per-term means (for logging).
    """
    total = weights.new_zeros(())
    logs: dict[str, float] = {}
    batch = weights.shape[0]
    for t, term in enumerate(LOSS_TERMS):
        loss, available = losses[term]
        term_loss = (weights[:, t] * available * loss).sum() / batch
        if log_vars is not None and bool(available.any()):
            term_loss = torch.exp(-log_vars[t]) * term_loss + log_vars[t]
        total = total + term_loss
        n = available.sum()
        logs[term] = float((available * loss).detach().sum() / n) if n > 0 else float("nan")
    return total, logs
