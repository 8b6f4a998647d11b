"""The WildHands network: ResNet trunk + KPE fusion + iterative regressor + grasp head.

    images (B,3,S,S) ──ResNet──► (B,C,S/32,S/32) ─┐
    kpe (B,P,2) ──KPEEncoder──► (B,K,S/32,S/32) ──┴─concat─► 3 convs (no BN) ─► avg pool (B,C')
        ─► IterativeRegressor (3 steps from the mean) ─► pose 6D (B,16,6), betas (B,10), cam (B,3)
        ─► rotation matrices ─► GraspHead ─► grasp logits (B,8)

Hands are predicted as RIGHT hands: the caller mirrors left-hand crops (and their KPE inputs) before the
network and mirrors the output back (see ``wildhands.handmodel``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from wildhands.geometry.rotations import rot6d_to_matrix
from wildhands.model.config import ModelConfig
from wildhands.model.heads import GraspHead
from wildhands.model.kpe import KPEEncoder, KPEFusion
from wildhands.model.regressor import IterativeRegressor
from wildhands.model.resnet import resnet_trunk

logger = logging.getLogger(__name__)

#: Order of the outputs of :meth:`WildHandsNet.forward_tensors` and of the ONNX graph.
OUTPUT_NAMES: tuple[str, ...] = ("global_orient", "hand_pose", "betas", "cam_wp", "grasp_logits")
INPUT_NAMES: tuple[str, ...] = ("images", "kpe")


@dataclass
class WildHandsOutput:
    """Network output for B crops (right-hand frame of the crop's camera).

    global_orient: (B, 3, 3) rotation matrix of the wrist (MANO root) w.r.t. the camera axes.
    hand_pose: (B, 15, 3, 3) parent-relative rotation matrices of the 15 MANO joints.
    betas: (B, num_betas) shape coefficients.
    cam_wp: (B, 3) weak-perspective camera (s, tx, ty) of the crop: ``x_norm = s * (X_xy + t)``, crop
        coordinates in [-1, 1], X in metres (converted to a metric translation by ``wildhands.geometry``).
    grasp_logits: (B, num_grasp_classes) unnormalised scores, classes in ``grasp.GRASP_CLASSES`` order.
    pose_6d: (B, 16, 6) the 6D representation the rotations were made from (0 = global orientation).
    """

    global_orient: torch.Tensor
    hand_pose: torch.Tensor
    betas: torch.Tensor
    cam_wp: torch.Tensor
    grasp_logits: torch.Tensor
    pose_6d: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        """The tensors in :data:`OUTPUT_NAMES` order."""
        return tuple(getattr(self, name) for name in OUTPUT_NAMES)


class WildHandsNet(nn.Module):
    """WildHands hand-pose network. Deterministic construction under ``torch.manual_seed``."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        config = ModelConfig() if config is None else config
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config={config!r} must be a ModelConfig")
        self.config = config
        self.backbone = resnet_trunk(config.backbone)
        self.kpe_encoder = KPEEncoder(config.kpe)
        self.kpe_fusion = KPEFusion(
            config.backbone_channels,
            self.kpe_encoder.out_channels,
            config.fused_channels,
            kernel_size=config.fusion_kernel_size,
        )
        self.regressor = IterativeRegressor(
            config.fused_channels,
            num_betas=config.num_betas,
            num_iterations=config.num_iterations,
            hidden=config.regressor_hidden,
            dropout=config.regressor_dropout,
            mean_cam_scale=config.mean_cam_scale,
        )
        self.grasp_head = GraspHead(config.num_betas, config.num_grasp_classes, config.grasp_hidden)
        logger.debug(
            "WildHandsNet %s kpe=%s: %.1f M parameters",
            config.backbone,
            config.kpe.variant.value,
            sum(p.numel() for p in self.parameters()) / 1e6,
        )

    def check_inputs(self, images: torch.Tensor, kpe: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``images (B,3,S,S)`` float finite and ``kpe (B,P,2)`` float finite."""
        s = self.config.image_size
        p = self.config.kpe.num_points
        if not isinstance(images, torch.Tensor) or not isinstance(kpe, torch.Tensor):
            raise ValueError("images and kpe must be torch tensors")
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise ValueError(f"images shape={tuple(images.shape)} must be (B, 3, {s}, {s})")
        if not images.is_floating_point():
            raise ValueError(f"images dtype={images.dtype} must be floating point (normalised, not uint8)")
        if kpe.ndim != 3 or tuple(kpe.shape[1:]) != (p, 2):
            raise ValueError(
                f"kpe shape={tuple(kpe.shape)} must be (B, {p}, 2) for kpe.variant="
                f"{self.config.kpe.variant.value!r}"
            )
        if kpe.shape[0] != images.shape[0]:
            raise ValueError(f"kpe batch={kpe.shape[0]} != images batch={images.shape[0]}")
        if not kpe.is_floating_point():
            raise ValueError(f"kpe dtype={kpe.dtype} must be floating point")
        if not bool(torch.isfinite(kpe).all()):
            raise ValueError("kpe contains NaN or inf")
        if not bool(torch.isfinite(images).all()):
            raise ValueError("images contain NaN or inf")

    def forward(self, images: torch.Tensor, kpe: torch.Tensor) -> WildHandsOutput:
        """Predict hand parameters.

        Args:
            images: (B, 3, S, S) float32, RGB normalised with ImageNet mean/std (``preprocess_crops``),
                S = ``config.image_size`` (224).
            kpe: (B, P, 2) KPE inputs, P = ``config.kpe.num_points``: radians for sparse/dense, normalised
                pixel coordinates for free, ignored for none (see ``wildhands.model.kpe``).
        """
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self.check_inputs(images, kpe)
        feats = self.backbone(images)  # (B, C, h, w)
        grid_hw = (int(feats.shape[-2]), int(feats.shape[-1]))
        kpe_map = self.kpe_encoder(kpe.to(feats.dtype), grid_hw)  # (B, K, h, w)
        fused = self.kpe_fusion(feats, kpe_map)  # (B, C', h, w)
        pooled = fused.mean(dim=(2, 3))  # (B, C')
        if self.kpe_encoder.out_channels == 0:
            # variant none: keep ``kpe`` in exported graphs (same engine interface for every variant) by
            # adding the sum over an EMPTY slice: exactly 0 whatever the values (NaN included).
            pooled = pooled + kpe[:, :0, 0].sum(dim=1, keepdim=True).to(pooled.dtype)  # (B, 1) zeros
        reg = self.regressor(pooled)
        rotmats = rot6d_to_matrix(reg.pose_6d)  # (B, 16, 3, 3)
        logits = self.grasp_head(rotmats, reg.betas)
        return WildHandsOutput(
            global_orient=rotmats[:, 0],
            hand_pose=rotmats[:, 1:],
            betas=reg.betas,
            cam_wp=reg.cam_wp,
            grasp_logits=logits,
            pose_6d=reg.pose_6d,
        )

    def forward_tensors(self, images: torch.Tensor, kpe: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Same as :meth:`forward` as a tuple, for export: ``(global_orient (B,3,3), hand_pose (B,15,3,3),
        betas (B,nb), cam_wp (B,3), grasp_logits (B,ncls))`` — :data:`OUTPUT_NAMES` order."""
        return self.forward(images, kpe).as_tuple()


class _TensorsWrapper(nn.Module):
    """Exposes ``forward_tensors`` as ``forward`` (what ``torch.onnx.export`` traces)."""

    def __init__(self, net: WildHandsNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, kpe: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.net.forward_tensors(images, kpe)
