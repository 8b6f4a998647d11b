"""Auxiliary heads on the predicted hand parameters."""

from __future__ import annotations

import torch
from torch import nn

from wildhands.model.regressor import NUM_POSE_ROTATIONS


class GraspHead(nn.Module):
    """4-layer MLP on the predicted hand parameters -> grasp logits (paper: grasp labels supervise the pose).

    Input: the 16 rotation matrices (global orientation + 15 joints, flattened row-major: 144 numbers) and
    the betas. Rotation matrices rather than 6D because they are a continuous, unique encoding of the pose.
    The gradient of the grasp loss flows into the pose/shape estimate on purpose (auxiliary supervision).

    Layers: Linear(144 + nb, hidden) -> ReLU -> Linear(hidden, hidden) -> ReLU -> Linear(hidden, hidden)
    -> ReLU -> Linear(hidden, num_classes).

    ``hidden`` may be a tuple of widths (one Linear + ReLU each; official WildHands: ``(1024, 512, 128)``);
    ``input_order='betas_rotmats'`` puts the betas first (official).
    """

    def __init__(
        self,
        num_betas: int = 10,
        num_classes: int = 8,
        hidden: int | tuple[int, ...] = 256,
        input_order: str = "rotmats_betas",
    ):
        super().__init__()
        if input_order not in ("rotmats_betas", "betas_rotmats"):
            raise ValueError(f"input_order={input_order!r} must be 'rotmats_betas' or 'betas_rotmats'")
        self.input_order = input_order
        widths = tuple(hidden) if isinstance(hidden, (tuple, list)) else (hidden,) * 3
        in_features = NUM_POSE_ROTATIONS * 9 + num_betas
        self.in_features = in_features
        layers: list[nn.Module] = []
        prev = in_features
        for width in widths:
            layers += [nn.Linear(prev, width), nn.ReLU(inplace=True)]
            prev = width
        layers.append(nn.Linear(prev, num_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """``rotmats (B, 16, 3, 3)``, ``betas (B, nb)`` -> ``logits (B, num_classes)`` (unnormalised)."""
        if self.input_order == "betas_rotmats":
            x = torch.cat((betas, rotmats.flatten(1)), dim=1)  # (B, nb + 144)
        else:
            x = torch.cat((rotmats.flatten(1), betas), dim=1)  # (B, 144 + nb)
        return self.mlp(x)
