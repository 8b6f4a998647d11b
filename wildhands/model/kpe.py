"""Intrinsics-aware positional encoding (KPE) and its fusion with the backbone map (paper section 3).

Inputs come from ``wildhands.geometry.crop.kpe_inputs``:

- sparse: ``kpe (B, 5, 2)`` radians, (theta_x, theta_y) = (atan((u-cx)/fx), atan((v-cy)/fy)) of the rays
  through the 4 crop corners and the crop centre (point order as produced there; the encoder only needs it
  to be fixed);
- dense: ``kpe (B, G*G, 2)`` radians of the rays through the centres of the G x G feature-grid cells,
  ROW-MAJOR from the top-left cell: point ``p = i * G + j`` is grid row i (image y) and column j (image x);
- free: like sparse but normalised pixel coordinates (dimensionless) instead of angles;
- none: any ``(B, 5, 2)`` tensor, ignored.

Each scalar x becomes ``[x (if include_raw), sin(2^k x) for k < L, cos(2^k x) for k < L]`` (see
:class:`wildhands.model.config.KPEConfig`).
"""

from __future__ import annotations

import torch
from torch import nn

from wildhands.model.config import (
    OFFICIAL_KPE_CENTRE_INDEX,
    OFFICIAL_KPE_CORNER_ORDER,
    KPEConfig,
    KPEVariant,
)


def sinusoidal_encoding(x: torch.Tensor, num_freqs: int, include_raw: bool) -> torch.Tensor:
    """``x (...)`` -> ``(..., F)``, F = 2*num_freqs + include_raw: ``[x?, sin(2^k x)_k, cos(2^k x)_k]``."""
    freqs = 2.0 ** torch.arange(num_freqs, dtype=x.dtype, device=x.device)  # (L,)
    xf = x.unsqueeze(-1) * freqs  # (..., L)
    parts = [torch.sin(xf), torch.cos(xf)]
    if include_raw:
        parts.insert(0, x.unsqueeze(-1))
    return torch.cat(parts, dim=-1)


def official_block_encoding(angles: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """Official WildHands layout of one block of angles ``(B, c)`` -> ``(B, num_freqs * c * 2)``, channels
    ``[k][angle][sin, cos]`` (frequency-major, sin/cos innermost)."""
    freqs = 2.0 ** torch.arange(num_freqs, dtype=angles.dtype, device=angles.device)  # (L,)
    xf = angles.unsqueeze(1) * freqs.view(1, -1, 1)  # (B, L, c)
    return torch.stack((torch.sin(xf), torch.cos(xf)), dim=-1).flatten(1)


class KPEEncoder(nn.Module):
    """Turns ``kpe (B, P, 2)`` into a map ``(B, out_channels, H, W)`` to concatenate with the backbone map.

    - sparse/free: the (B, P, 2, F) encoding is flattened to a vector (B, P*2*F) — 170 channels with the
      defaults — and broadcast to every cell of the H x W grid;
    - dense: (B, G*G, 2, F) -> (B, 2*F, G, G), one encoding per cell (34 channels with the defaults);
      requires (H, W) == (G, G);
    - none: 0 channels (``out_channels == 0``); the kpe values are not used.

    No parameters: the encoding is fixed; learning happens in :class:`KPEFusion`.
    """

    def __init__(self, config: KPEConfig):
        super().__init__()
        self.config = config
        self.variant = config.variant
        self.num_points = config.num_points
        self.features_per_scalar = config.features_per_scalar
        self.out_channels = config.out_channels

    def encode_points(self, kpe: torch.Tensor) -> torch.Tensor:
        """``kpe (B, P, 2)`` -> ``(B, P, 2, F)``; last axis ``[raw?, sin(2^k x)_k<L, cos(2^k x)_k<L]``."""
        return sinusoidal_encoding(kpe, self.config.num_freqs, self.config.include_raw)

    def encode_official(self, kpe: torch.Tensor) -> torch.Tensor:
        """Sparse ``kpe (B, 5, 2)`` in our point order -> ``(B, 20 * num_freqs)`` in the official layout:
        centre block ``(B, 2)`` then corner block ``(B, 8)`` (corners (x0,y0), (x0,y1), (x1,y0), (x1,y1),
        each (theta_x, theta_y)), each encoded by :func:`official_block_encoding`."""
        centre = kpe[:, OFFICIAL_KPE_CENTRE_INDEX]  # (B, 2)
        corners = kpe[:, list(OFFICIAL_KPE_CORNER_ORDER)].flatten(1)  # (B, 8)
        L = self.config.num_freqs
        return torch.cat((official_block_encoding(centre, L), official_block_encoding(corners, L)), dim=1)

    def forward(self, kpe: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """``kpe (B, P, 2)`` -> ``(B, out_channels, H, W)`` with ``(H, W) = grid_hw``."""
        h, w = grid_hw
        if self.variant is KPEVariant.NONE:
            return kpe.new_zeros((kpe.shape[0], 0, h, w))
        if self.config.layout == "official":
            return self.encode_official(kpe).reshape(-1, self.out_channels, 1, 1).expand(-1, -1, h, w)
        enc = self.encode_points(kpe)  # (B, P, 2, F)
        if self.variant is KPEVariant.DENSE:
            g = self.config.dense_grid
            if (h, w) != (g, g):
                raise ValueError(f"dense KPE needs a {g}x{g} feature grid, got grid_hw={(h, w)}")
            enc = enc.reshape(-1, g, g, 2 * self.features_per_scalar)  # (B, G, G, 2F), row-major cells
            return enc.permute(0, 3, 1, 2).contiguous()  # (B, 2F, G, G)
        vec = enc.reshape(-1, self.out_channels, 1, 1)  # (B, P*2*F, 1, 1)
        return vec.expand(-1, -1, h, w)


class KPEFusion(nn.Module):
    """Fuses the backbone map with the KPE map by THREE convolutions without BatchNorm (paper section 3).

    ``concat(features (B, C, H, W), kpe_map (B, K, H, W))`` -> conv -> ReLU -> conv -> ReLU -> conv -> ReLU
    -> ``(B, out_channels, H, W)``. Kernel ``kernel_size`` (1 or 3, 'same' padding). The final ReLU keeps the
    fused map non-negative like the backbone's (post-ReLU) map it replaces. With ``K = 0`` (variant none) the
    same three convs run on the backbone map alone, so all variants have the same depth.

    ``residual=True`` (``ModelConfig.fusion='residual'``): ``features + conv3(ReLU(conv2(ReLU(conv1(x)))))``
    with ``conv3`` initialised to zero and no ReLU at the end, so the fused map starts as the backbone's
    map and the KPE is learned as a correction. Without normalisation layers the plain stack can die (every
    unit of the last ReLU at 0: the pooled feature, hence every prediction, becomes the same for all images;
    seen in training from scratch, 99% zeros by step 3000); a final ReLU after the sum died the same way
    (the convs learned to cancel the features). The linear skip keeps the image features reaching the
    regressor.
    Needs ``out_channels == in_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        kpe_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        residual: bool = False,
    ):
        super().__init__()
        if kernel_size not in (1, 3):
            raise ValueError(f"kernel_size={kernel_size!r} must be 1 or 3")
        if residual and out_channels != in_channels:
            raise ValueError(
                f"a residual fusion needs out_channels == in_channels, got {out_channels} != {in_channels}"
            )
        self.residual = residual
        pad = kernel_size // 2
        self.kpe_channels = kpe_channels
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels + kpe_channels, out_channels, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad)
        self.conv3 = nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad)
        self.relu = nn.ReLU(inplace=True)
        for conv in (self.conv1, self.conv2, self.conv3):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        if residual:
            nn.init.zeros_(self.conv3.weight)

    def forward(self, features: torch.Tensor, kpe_map: torch.Tensor) -> torch.Tensor:
        """``features (B, C, H, W)``, ``kpe_map (B, K, H, W)`` -> ``(B, out_channels, H, W)``."""
        x = torch.cat((features, kpe_map), dim=1) if self.kpe_channels > 0 else features
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.conv3(x)
        return features + x if self.residual else self.relu(x)


class OfficialFusion(nn.Module):
    """The official WildHands ``feature_conv``: ``concat(features, kpe_map)`` -> bias-free Conv1x1 -> 1024,
    ReLU -> bias-free Conv3x3 (no padding) -> 512, ReLU -> bias-free Conv3x3 (no padding) -> 256, ReLU ->
    flatten -> Linear(256 * (G-4)^2, out_features) -> ReLU. Output ``(B, out_features)`` (no pooling).

    Module indices match the official ``nn.Sequential`` (``net.0``, ``net.2``, ``net.4``, ``net.7``).
    """

    def __init__(self, in_channels: int, kpe_channels: int, out_features: int, grid: int):
        super().__init__()
        if grid < 5:
            raise ValueError(f"grid={grid!r} must be >= 5 (two 3x3 valid convs)")
        self.kpe_channels = kpe_channels
        self.out_channels = out_features
        g = grid - 4
        self.net = nn.Sequential(
            nn.Conv2d(in_channels + kpe_channels, 1024, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 512, 3, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(512, 256, 3, bias=False),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(256 * g * g, out_features),
            nn.ReLU(inplace=True),
        )

    def forward(self, features: torch.Tensor, kpe_map: torch.Tensor) -> torch.Tensor:
        """``features (B, C, G, G)``, ``kpe_map (B, K, G, G)`` -> ``(B, out_features)``."""
        x = torch.cat((features, kpe_map), dim=1) if self.kpe_channels > 0 else features
        return self.net(x)
