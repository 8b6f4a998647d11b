"""HMR-style iterative error feedback regressor (Kanazawa et al. 2018; SPIN / ArcticNet-SF / hamer mano_head).

Starting from mean parameters (registered buffers), ``num_iterations`` residual updates are predicted from
``concat(pooled features, current estimate)`` by FC -> ReLU -> Dropout -> FC -> ReLU -> Dropout (or leaky
ReLUs, ``activation='leaky_relu'``) and three
linear decoders (pose, shape, camera). The decoders are initialised with Xavier gain 0.01 and zero bias, so
a freshly built regressor outputs approximately the mean.

Mean parameters:
- pose: 16 identity rotations (global orientation + 15 joints = MANO's flat hand in the camera axes), in
  the 6D representation (first two columns of the matrix);
- betas: zeros (the mean shape);
- camera (s, tx, ty) = (mean_cam_scale, 0, 0): weak perspective of the crop, ``x_norm = s * (X_xy + t)``
  with crop coordinates normalised to [-1, 1] and X in metres; s = 8 makes a 0.2 m hand span 80% of the crop.

The camera is iterated as ``(log s, tx, ty)`` and returned as ``(exp(log s), tx, ty)``: s stays positive
(the metric depth ``T_z = 2 f / (s · box)`` never flips or explodes) and its updates are relative, which
suits a scale that spans 5-50 across focal lengths and distances.

Official WildHands options: ``cam_scale='linear'`` iterates ``s`` itself (and returns it unchanged);
``cam_init='mlp'`` replaces the constant initial camera by ``cam_init_mlp(features)`` (per sample, in the
iterated parametrisation). The refine input order ``[features, pose, betas, cam]`` is the official one too
(its state dict is inserted as pose_6d, shape, cam_t/wp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from wildhands.geometry.rotations import matrix_to_rot6d

NUM_POSE_ROTATIONS = 16  # global orientation + 15 hand joints (MANO)
LEAKY_SLOPE = 0.1  # negative slope of ``activation='leaky_relu'``


@dataclass
class RegressorOutput:
    """Final estimate after the last iteration.

    pose_6d: (B, 16, 6) 6D rotations, index 0 = global orientation, 1..15 = MANO joints (parent-relative).
    betas: (B, num_betas) shape coefficients.
    cam_wp: (B, 3) weak-perspective camera (s, tx, ty) of the crop.
    """

    pose_6d: torch.Tensor
    betas: torch.Tensor
    cam_wp: torch.Tensor


class IterativeRegressor(nn.Module):
    """``features (B, in_features)`` -> :class:`RegressorOutput` by ``num_iterations`` residual updates."""

    def __init__(
        self,
        in_features: int,
        num_betas: int = 10,
        num_iterations: int = 3,
        hidden: int = 1024,
        dropout: float = 0.5,
        mean_cam_scale: float = 8.0,
        cam_init: str = "mean",
        cam_scale: str = "log",
        activation: str = "relu",
    ):
        super().__init__()
        if cam_init not in ("mean", "mlp") or cam_scale not in ("log", "linear"):
            raise ValueError(
                f"cam_init={cam_init!r} / cam_scale={cam_scale!r} not in (mean|mlp) / (log|linear)"
            )
        self.cam_scale = cam_scale
        if activation not in ("relu", "leaky_relu"):
            raise ValueError(f"activation={activation!r} not in (relu|leaky_relu)")
        if num_iterations < 1:
            raise ValueError(f"num_iterations={num_iterations!r} must be >= 1")
        self.num_iterations = num_iterations
        self.num_betas = num_betas
        npose = NUM_POSE_ROTATIONS * 6
        self.npose = npose
        identity6d = matrix_to_rot6d(torch.eye(3)).repeat(NUM_POSE_ROTATIONS)  # (96,)
        self.register_buffer("mean_pose_6d", identity6d)
        self.register_buffer("mean_betas", torch.zeros(num_betas))
        # (log s, tx, ty): see the module docstring
        s0 = math.log(float(mean_cam_scale)) if cam_scale == "log" else float(mean_cam_scale)
        self.register_buffer("mean_cam", torch.tensor([s0, 0.0, 0.0]))
        self.cam_init: nn.Module | None = None
        if cam_init == "mlp":
            self.cam_init = nn.Sequential(
                nn.Linear(in_features, 512),
                nn.ReLU(),
                nn.Linear(512, 512),
                nn.ReLU(),
                nn.Linear(512, 3),
            )

        self.fc1 = nn.Linear(in_features + npose + num_betas + 3, hidden)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout(dropout)
        # no parameters: the state dict is the same with either activation
        self.relu = nn.ReLU(inplace=True) if activation == "relu" else nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        self.dec_pose = nn.Linear(hidden, npose)
        self.dec_betas = nn.Linear(hidden, num_betas)
        self.dec_cam = nn.Linear(hidden, 3)
        for dec in (self.dec_pose, self.dec_betas, self.dec_cam):
            nn.init.xavier_uniform_(dec.weight, gain=0.01)
            nn.init.zeros_(dec.bias)

    def forward(self, features: torch.Tensor) -> RegressorOutput:
        """``features (B, in_features)`` pooled fused features -> final pose/shape/camera."""
        b = features.shape[0]
        pose = self.mean_pose_6d.expand(b, -1)  # (B, 96)
        betas = self.mean_betas.expand(b, -1)  # (B, nb)
        cam = self.mean_cam.expand(b, -1) if self.cam_init is None else self.cam_init(features)  # (B, 3)
        for _ in range(self.num_iterations):
            x = torch.cat((features, pose, betas, cam), dim=1)
            x = self.drop1(self.relu(self.fc1(x)))
            x = self.drop2(self.relu(self.fc2(x)))
            pose = pose + self.dec_pose(x)
            betas = betas + self.dec_betas(x)
            cam = cam + self.dec_cam(x)
        if self.cam_scale == "log":
            cam_wp = torch.cat((cam[:, :1].exp(), cam[:, 1:]), dim=1)  # (B, 3) = (s, tx, ty)
        else:
            cam_wp = cam
        return RegressorOutput(pose_6d=pose.reshape(-1, NUM_POSE_ROTATIONS, 6), betas=betas, cam_wp=cam_wp)
