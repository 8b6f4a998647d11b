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
    """

    def __init__(self, num_betas: int = 10, num_classes: int = 8, hidden: int = 256):
        super().__init__()
        in_features = NUM_POSE_ROTATIONS * 9 + num_betas
        self.in_features = in_features
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """``rotmats (B, 16, 3, 3)``, ``betas (B, nb)`` -> ``logits (B, num_classes)`` (unnormalised)."""
        x = torch.cat((rotmats.flatten(1), betas), dim=1)  # (B, 144 + nb)
        return self.mlp(x)
