"""OpenCV-compatible image operations in torch, on any device (the synthetic generator's torch path).

Images are planar float32 tensors ``(C, H, W)`` (or ``(H, W)`` for one channel); each function names the
OpenCV call it reproduces and how closely (measured in ``test/wildhands/render/test_image_torch.py``):

* :func:`resize` -- ``cv2.resize`` with ``INTER_CUBIC`` / ``INTER_LINEAR`` on float32 images (half-pixel
  centres, clamped borders; agrees to ~1e-5 of the value range, float32 rounding);
* :func:`gaussian_blur` -- ``cv2.GaussianBlur(img, (0, 0), sigma)`` on float32 (OpenCV's kernel size rule
  and kernel, ``BORDER_REFLECT_101``);
* :func:`filter2d_reflect` -- ``cv2.filter2D(img, -1, kernel, anchor=..., borderType=BORDER_REFLECT)``
  (correlation, OpenCV's anchor convention);
* :func:`to_uint8` -- ``cv2.add(img, 0.0, dtype=CV_8U)``: round half to even, saturate to 0..255.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["resize", "gaussian_blur", "gaussian_kernel_size", "filter2d_reflect", "to_uint8"]

_MODES = {"cubic": "bicubic", "linear": "bilinear"}


def resize(img: torch.Tensor, size_wh: tuple[int, int], mode: str = "linear") -> torch.Tensor:
    """``cv2.resize(img, (w, h), interpolation=INTER_CUBIC | INTER_LINEAR)`` of a float32 ``(C, H, W)`` or
    ``(H, W)`` tensor (``mode`` 'cubic' | 'linear'); returns the same layout."""
    if mode not in _MODES:
        raise ValueError(f"mode: {mode!r} not in {sorted(_MODES)}")
    w, h = int(size_wh[0]), int(size_wh[1])
    flat = img.dim() == 2
    x = img[None, None] if flat else img[None]
    if x.shape[-2:] == (h, w):
        return img.clone()
    out = F.interpolate(x, size=(h, w), mode=_MODES[mode], align_corners=False)
    return out[0, 0] if flat else out[0]


def gaussian_kernel_size(sigma: float) -> int:
    """OpenCV's kernel size for ``GaussianBlur(..., (0, 0), sigma)`` of a float image:
    ``round(8 sigma + 1) | 1``."""
    return int(round(sigma * 4 * 2 + 1)) | 1  # (cvRound: half to even, as Python's round)


def _pad_index(n: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """Indices into a length-``n`` axis padded by ``before``/``after`` with OpenCV's BORDER_REFLECT_101
    (``mode='reflect101'``: gfedcb|abcdefgh|gfedcba) or BORDER_REFLECT (``'reflect'``:
    fedcba|abcdefgh|hgfedcb), for any pad width (the pattern repeats)."""
    i = np.arange(-before, n + after)
    if n == 1:
        return torch.zeros(i.size, dtype=torch.long, device=device)
    if mode == "reflect101":
        period = 2 * (n - 1)
        i = np.mod(i, period)
        i = np.where(i >= n, period - i, i)
    else:
        period = 2 * n
        i = np.mod(i, period)
        i = np.where(i >= n, period - 1 - i, i)
    return torch.from_numpy(i.astype(np.int64)).to(device)


def _pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, mode: str) -> torch.Tensor:
    """Pad the last two axes of ``x`` with an OpenCV border (see :func:`_pad_index`)."""
    h, w = x.shape[-2:]
    rows = _pad_index(h, top, bottom, mode, x.device)
    cols = _pad_index(w, left, right, mode, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _planar(img: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if img.dim() == 2:
        return img[None], True
    if img.dim() != 3:
        raise ValueError(f"need a (C, H, W) or (H, W) image, got shape {tuple(img.shape)}")
    return img, False


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """``cv2.GaussianBlur(img, (0, 0), sigma)`` of a float32 image: separable, OpenCV's kernel
    (``getGaussianKernel``), border ``BORDER_REFLECT_101``."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma: must be > 0, got {sigma}")
    x, flat = _planar(img)
    ksize = gaussian_kernel_size(sigma)
    k = torch.from_numpy(cv2.getGaussianKernel(ksize, sigma).astype(np.float32).ravel()).to(x.device)
    r = ksize // 2
    c = x.shape[0]
    x = _pad(x, r, r, r, r, "reflect101")[None]
    x = F.conv2d(x, k.view(1, 1, 1, ksize).expand(c, 1, 1, ksize).contiguous(), groups=c)
    x = F.conv2d(x, k.view(1, 1, ksize, 1).expand(c, 1, ksize, 1).contiguous(), groups=c)
    return x[0, 0] if flat else x[0]


def filter2d_reflect(img: torch.Tensor, kernel: np.ndarray, anchor: tuple[int, int]) -> torch.Tensor:
    """``cv2.filter2D(img, -1, kernel, anchor=(ax, ay), borderType=cv2.BORDER_REFLECT)`` of a float32 image:
    ``out(x, y) = sum_ij kernel(i, j) img(x + j - ax, y + i - ay)``, the same kernel on every channel."""
    x, flat = _planar(img)
    kernel = np.asarray(kernel, dtype=np.float32)
    kh, kw = kernel.shape
    ax, ay = int(anchor[0]), int(anchor[1])
    if not (0 <= ax < kw and 0 <= ay < kh):
        raise ValueError(f"anchor {anchor} outside the {kw}x{kh} kernel")
    c = x.shape[0]
    k = torch.from_numpy(np.ascontiguousarray(kernel)).to(x.device)
    x = _pad(x, ay, kh - 1 - ay, ax, kw - 1 - ax, "reflect")[None]
    x = F.conv2d(x, k.view(1, 1, kh, kw).expand(c, 1, kh, kw).contiguous(), groups=c)
    return x[0, 0] if flat else x[0]


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """``cv2.add(img, 0.0, dtype=cv2.CV_8U)``: round to nearest (half to even), saturate to 0..255."""
    return torch.round(img).clamp_(0, 255).to(torch.uint8)
