"""The WildHands network: backbone (a ResNet trunk, or MediaPipe's frozen hand trunk;
``wildhands.model.backbones``) + KPE fusion + iterative regressor + grasp head.

    images (B,3,S,S) ──backbone──► (B,C,S/32,S/32) ─┐
    kpe (B,P,2) ──KPEEncoder──► (B,K,S/32,S/32) ────┴─concat─► 3 convs (no BN) ─► avg pool (B,C')
        ─► IterativeRegressor (3 steps from the mean) ─► pose 6D (B,16,6), betas (B,10), cam (B,3)
        ─► rotation matrices ─► GraspHead ─► grasp logits (B,8)

Hands are predicted as RIGHT hands: the caller mirrors left-hand crops (and their KPE inputs) before the
network and mirrors the output back (see ``wildhands.handmodel``).

Official-architecture options (``ModelConfig``: ``fusion='official'``, ``global_backbone``, ``cam_init``,
``cam_scale``, ``rot6d_layout``, ``kpe.layout``, grasp widths/order) change the blocks above as documented
in :mod:`wildhands.model.official`. With ``global_backbone=True`` the network takes a THIRD input
``full_images (B, 3, S, S)``: the whole camera image resized (not cropped) to S x S and normalised like the
crops, one per crop (repeat the frame for several hands of one frame); its map from ``global_backbone`` is
added to the crop's map before the KPE. The exported ONNX graph then has the inputs
``input_names(config) = ("images", "kpe", "full_images")``. The runtime pipeline and engines feed only
``images`` and ``kpe`` (:data:`INPUT_NAMES`), so such a model runs through :meth:`WildHandsNet.forward`
/ ONNX directly, not through the pipeline, until the pipeline produces the resized full frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from wildhands.geometry.rotations import rot6d_to_matrix
from wildhands.model.backbones import build_backbone
from wildhands.model.config import ModelConfig
from wildhands.model.heads import GraspHead
from wildhands.model.kpe import KPEEncoder, KPEFusion, OfficialFusion
from wildhands.model.regressor import IterativeRegressor

logger = logging.getLogger(__name__)

#: Order of the outputs of :meth:`WildHandsNet.forward_tensors` and of the ONNX graph.
OUTPUT_NAMES: tuple[str, ...] = ("global_orient", "hand_pose", "betas", "cam_wp", "grasp_logits")
INPUT_NAMES: tuple[str, ...] = ("images", "kpe")
#: Extra input of a network with ``config.global_backbone`` (see the module docstring).
FULL_IMAGES_INPUT = "full_images"


def input_names(config: ModelConfig) -> tuple[str, ...]:
    """Inputs of :meth:`WildHandsNet.forward_tensors` / the ONNX graph for ``config``."""
    return (*INPUT_NAMES, FULL_IMAGES_INPUT) if config.global_backbone else INPUT_NAMES


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
        self.backbone = build_backbone(config.backbone, config.trunk_trainable)
        self.kpe_encoder = KPEEncoder(config.kpe)
        self.kpe_fusion: nn.Module
        if config.fusion == "official":
            self.kpe_fusion = OfficialFusion(
                config.backbone_channels,
                self.kpe_encoder.out_channels,
                config.fused_channels,
                config.grid_size,
            )
        else:
            self.kpe_fusion = KPEFusion(
                config.backbone_channels,
                self.kpe_encoder.out_channels,
                config.fused_channels,
                kernel_size=config.fusion_kernel_size,
                residual=config.fusion == "residual",
            )
        self.regressor = IterativeRegressor(
            config.fused_channels,
            num_betas=config.num_betas,
            num_iterations=config.num_iterations,
            hidden=config.regressor_hidden,
            dropout=config.regressor_dropout,
            mean_cam_scale=config.mean_cam_scale,
            cam_init=config.cam_init,
            cam_scale=config.cam_scale,
            activation=config.regressor_activation,
        )
        self.grasp_head = GraspHead(
            config.num_betas, config.num_grasp_classes, config.grasp_hidden, input_order=config.grasp_input
        )
        # created last so that the other modules draw the same initial values as without it
        self.global_backbone = (
            build_backbone(config.backbone, config.trunk_trainable) if config.global_backbone else None
        )
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

    def forward(
        self, images: torch.Tensor, kpe: torch.Tensor, full_images: torch.Tensor | None = None
    ) -> WildHandsOutput:
        """Predict hand parameters.

        Args:
            images: (B, 3, S, S) float32, RGB normalised with ImageNet mean/std (``preprocess_crops``),
                S = ``config.image_size`` (224).
            kpe: (B, P, 2) KPE inputs, P = ``config.kpe.num_points``: radians for sparse/dense, normalised
                pixel coordinates for free, ignored for none (see ``wildhands.model.kpe``).
            full_images: (B, 3, S, S) the whole image resized to S x S, normalised like ``images``; required
                when ``config.global_backbone`` and refused otherwise.
        """
        checking = not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())
        if checking:
            self.check_inputs(images, kpe)
            if (full_images is not None) != self.config.global_backbone:
                raise ValueError(
                    f"full_images must be given if and only if config.global_backbone "
                    f"(global_backbone={self.config.global_backbone}, full_images "
                    f"{'given' if full_images is not None else 'missing'})"
                )
            if full_images is not None:
                self.check_inputs(full_images, kpe)
        feats = self.backbone(images)  # (B, C, h, w)
        if self.global_backbone is not None:
            feats = feats + self.global_backbone(full_images)
        grid_hw = (int(feats.shape[-2]), int(feats.shape[-1]))
        kpe_map = self.kpe_encoder(kpe.to(feats.dtype), grid_hw)  # (B, K, h, w)
        fused = self.kpe_fusion(feats, kpe_map)  # (B, C', h, w), or (B, C') for the official fusion
        pooled = fused.mean(dim=(2, 3)) if fused.ndim == 4 else fused  # (B, C')
        if self.kpe_encoder.out_channels == 0:
            # variant none: keep ``kpe`` in exported graphs (same engine interface for every variant) by
            # adding the sum over an EMPTY slice: exactly 0 whatever the values (NaN included).
            pooled = pooled + kpe[:, :0, 0].sum(dim=1, keepdim=True).to(pooled.dtype)  # (B, 1) zeros
        reg = self.regressor(pooled)
        rotmats = rot6d_to_matrix(reg.pose_6d)  # (B, 16, 3, 3)
        if self.config.rot6d_layout == "rows":  # the 6 numbers are rows: Gram-Schmidt of rows = transpose
            rotmats = rotmats.transpose(-1, -2)
        logits = self.grasp_head(rotmats, reg.betas)
        return WildHandsOutput(
            global_orient=rotmats[:, 0],
            hand_pose=rotmats[:, 1:],
            betas=reg.betas,
            cam_wp=reg.cam_wp,
            grasp_logits=logits,
            pose_6d=reg.pose_6d,
        )

    def forward_tensors(
        self, images: torch.Tensor, kpe: torch.Tensor, full_images: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Same as :meth:`forward` as a tuple, for export: ``(global_orient (B,3,3), hand_pose (B,15,3,3),
        betas (B,nb), cam_wp (B,3), grasp_logits (B,ncls))`` — :data:`OUTPUT_NAMES` order."""
        return self.forward(images, kpe, full_images).as_tuple()


class _TensorsWrapper(nn.Module):
    """Exposes ``forward_tensors`` as ``forward`` (what ``torch.onnx.export`` traces)."""

    def __init__(self, net: WildHandsNet):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.net.forward_tensors(*inputs)
