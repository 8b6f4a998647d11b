"""Image normalisation for the network input (ImageNet statistics, as the torchvision backbones expect)."""

from __future__ import annotations

import numpy as np
import torch

#: ImageNet channel mean / std of RGB values scaled to [0, 1].
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def preprocess_crops(
    crops: np.ndarray | torch.Tensor, device: torch.device | str | None = None
) -> torch.Tensor:
    """``crops (B, S, S, 3)`` uint8 RGB (numpy or torch) -> ``images (B, 3, S, S)`` float32 normalised.

    ``images = (crops / 255 - IMAGENET_MEAN) / IMAGENET_STD`` per channel. BGR input must be converted by
    the caller. A single crop (S, S, 3) is accepted and returned with B = 1.
    """
    if isinstance(crops, np.ndarray):
        if crops.dtype != np.uint8:
            raise ValueError(f"crops dtype={crops.dtype} must be uint8")
        t = torch.from_numpy(np.ascontiguousarray(crops))
    elif isinstance(crops, torch.Tensor):
        if crops.dtype != torch.uint8:
            raise ValueError(f"crops dtype={crops.dtype} must be torch.uint8")
        t = crops
    else:
        raise ValueError(f"crops type={type(crops).__name__} must be a numpy array or a torch tensor")
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"crops shape={tuple(t.shape)} must be (B, S, S, 3) RGB")
    if device is not None:
        t = t.to(device)
    x = t.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, S, S) in [0, 1]
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
