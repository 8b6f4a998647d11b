"""The network's input, prepared in one place for inference and training.

:class:`wildhands.runtime.pipeline.Pipeline` (``prepare``) and :func:`wildhands.train.items.make_item` both
turn (image, camera, hand box, side) into what :meth:`WildHandsNet.forward` takes with the functions
below, in this order; each caller keeps its own policy (the pipeline: ``box_scale``, ``border``, the
rectification warning; training: the random scale / shift jitter and the colour jitter of the uint8 crop
between steps 2 and 4):

1. :func:`plan_crop` -> :class:`HandCrop`: where the crop is. The square box of the image around the hand
   box (``box_scale`` x its longest side, optionally shifted by a fraction of its side), and for the
   rectified crop modes the virtual pinhole camera looking at the hand
   (:func:`wildhands.geometry.perspective_crop.rectify_box`; the box crop where it cannot be rectified).
   Left hands are mirrored to right hands (``mirror=True``): the network and the hand model are
   right-handed.
2. :func:`cut_crop`: the uint8 crop (S, S, C), flipped left-right for a left hand (``warp_crop`` /
   ``warp_rectified``).
3. :func:`crop_kpe_inputs`: the KPE inputs (P, 2) of the crop, angles of its sample points' rays through
   the camera model (``crop.kpe_inputs``: the real camera for a box crop, the virtual camera for a
   rectified crop; a mirror negates theta_x).
4. :func:`normalize_crops`: uint8 RGB (B, S, S, 3) -> float32 (B, 3, S, S), ImageNet statistics
   (:func:`preprocess_crops` is the same on torch tensors, through the same table).

:attr:`HandCrop.net_box` and :attr:`HandCrop.net_camera` are the box and camera the network's crop refers
to (its weak-perspective camera, the training targets): the real camera (mirrored for a left hand, with the
box mirrored too) for a box crop, the virtual camera with the whole crop as box for a rectified one.

Units and frames: pixels ``(u, v)`` (u right, v down; the centre of the top-left pixel at (0, 0), boxes
with index semantics, see :mod:`wildhands.geometry.crop`), angles in radians, 3-D in the camera optical
frame (x right, y down, z forward). The mirror is the flip u -> W - 1 - u of the image, i.e. the world
(X, Y, Z) -> (-X, Y, Z).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import CropBox, kpe_inputs, mirror_box, square_box_from_xyxy, warp_crop
from wildhands.geometry.perspective_crop import (
    RectifiedCrop,
    rectify_box,
    uses_rectified_crop,
    warp_rectified,
)

#: ImageNet channel mean / std of RGB values scaled to [0, 1].
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _normalisation_table() -> np.ndarray:
    """(256, 3) float32: ``table[v, c] = (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]`` in float32."""
    values = np.arange(256, dtype=np.float32)[:, None]
    table = (values / 255.0 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    table.setflags(write=False)
    return table


#: THE normalisation: the network input of the uint8 value ``v`` in RGB channel ``c`` is
#: ``NORMALISATION_TABLE[v, c]`` (float32); numpy and torch inputs both read it.
NORMALISATION_TABLE: np.ndarray = _normalisation_table()


# ---------------------------------------------------------------------------------------------- the crop
@dataclass(frozen=True, eq=False)
class HandCrop:
    """Where one hand's crop is (:func:`plan_crop`).

    camera: the camera of the source image.
    box: the square box of the source image, in its pixels (what the ``'box'`` crop mode cuts; the pipeline
        reports it in every mode).
    rectified: the virtual pinhole camera of a rectified crop, or None for a box crop.
    mirror: True for a left hand: the crop is flipped left-right and the network sees a right hand.
    size: crop side S in pixels (the network's ``image_size``).
    """

    camera: CameraModel
    box: CropBox
    rectified: RectifiedCrop | None
    mirror: bool
    size: int

    @property
    def net_box(self) -> CropBox:
        """The crop's box in the pixels of :attr:`net_camera`: ``box`` (mirrored about ``u = (W - 1) / 2``
        for a left hand) for a box crop, the whole crop ``CropBox(0, 0, S)`` for a rectified one."""
        if self.rectified is not None:
            return self.rectified.crop_box
        return mirror_box(self.box, (self.camera.width - 1) / 2.0) if self.mirror else self.box

    @property
    def net_camera(self) -> CameraModel:
        """The camera the network's crop is an image of: ``camera`` (``camera.mirrored()`` for a left hand)
        for a box crop, the virtual pinhole camera for a rectified crop (its own mirror image)."""
        if self.rectified is not None:
            return self.rectified.camera
        return self.camera.mirrored() if self.mirror else self.camera


def square_crop_box(
    camera: CameraModel, box_xyxy: Any, box_scale: float, border: str = "zero_pad", shift: Any = None
) -> CropBox:
    """The square crop box around the hand box ``box_xyxy`` = (x0, y0, x1, y1) (pixels, x1/y1 exclusive).

    Side ``box_scale`` x the longest side of the hand box (``crop.square_box_from_xyxy`` with ``border``),
    then moved by ``shift`` (2,) x its side (a fraction of the crop side; None = not moved). ValueError for
    a degenerate box or one fully outside the image.
    """
    box = square_box_from_xyxy(box_xyxy, (camera.width, camera.height), scale=box_scale, border=border)
    dx, dy = _shift_px(box, shift)
    return CropBox(box.x0 + dx, box.y0 + dy, box.size) if (dx or dy) else box


def _shift_px(box: CropBox, shift: Any) -> np.ndarray:
    """(dx, dy) pixels: ``shift`` (a fraction of the crop side, (2,)) x ``box.size``; zeros for None."""
    if shift is None:
        return np.zeros(2)
    shift = np.asarray(shift, np.float64)
    if shift.shape != (2,) or not np.all(np.isfinite(shift)):
        raise ValueError(f"shift={shift.tolist()} must be 2 finite numbers (fractions of the crop side)")
    return shift * box.size


def plan_crop(
    camera: CameraModel,
    box_xyxy: Any,
    size: int,
    box_scale: float,
    mirror: bool,
    crop_mode: str = "box",
    border: str = "zero_pad",
    shift: Any = None,
    on_rectify_error: Callable[[ValueError], None] | None = None,
    roll_rad: float | None = None,
) -> HandCrop:
    """Where the crop of the hand box ``box_xyxy`` (pixels of ``camera``'s image, x1/y1 exclusive) is.

    size: crop side S in pixels. box_scale: crop side / longest hand-box side (box crops; for rectified
        crops the same ratio of the angular extents, see :mod:`wildhands.geometry.perspective_crop`).
    mirror: True for a left hand (the crop is flipped left-right, the KPE angles mirrored).
    crop_mode: ``'box'``, ``'rectified'`` or ``'auto'`` (rectified for fisheye cameras only,
        ``perspective_crop.uses_rectified_crop``). border: ``'zero_pad'`` or ``'clamp'`` (box crops).
    shift: None, or (2,) fractions of the crop side the crop is moved by (training jitter); the rectified
        crop is the one of the hand box moved by the same pixels.

    roll_rad: None, or a rectified crop turned by this roll whatever ``crop_mode``
        (``perspective_crop.upright_roll``; ``ModelConfig.crop_roll``).

    A box that cannot be rectified (centre outside the lens model, too wide) gets the box crop;
    ``on_rectify_error`` is then called with the ValueError (the pipeline logs it).
    """
    box = square_crop_box(camera, box_xyxy, box_scale, border, shift)
    rectified = None
    if roll_rad is not None or uses_rectified_crop(crop_mode, camera):
        dx, dy = _shift_px(box, shift)
        x0, y0, x1, y1 = np.asarray(box_xyxy, np.float64)
        try:
            rectified = rectify_box(
                camera,
                (x0 + dx, y0 + dy, x1 + dx, y1 + dy),
                size,
                box_scale=box_scale,
                roll_rad=roll_rad or 0.0,
            )
        except ValueError as exc:
            if on_rectify_error is not None:
                on_rectify_error(exc)
    return HandCrop(camera, box, rectified, bool(mirror), int(size))


def cut_crop(image: np.ndarray, crop: HandCrop, out_size: int | None = None) -> np.ndarray:
    """The crop (S, S[, C]) of ``image`` (H, W[, C], any ``warp_crop`` dtype; the camera's image size),
    flipped left-right when ``crop.mirror``; black outside the image (and outside the lens model).

    out_size: side of the result in pixels (None = ``crop.size``). A box crop is warped straight to it; a
    rectified crop is rendered at its own size and resized (``cv2.resize``, bilinear).
    """
    out_size = crop.size if out_size is None else int(out_size)
    if crop.rectified is None:
        return warp_crop(image, crop.box, out_size=out_size, mirror=crop.mirror)
    pixels = warp_rectified(image, crop.camera, crop.rectified, mirror=crop.mirror)
    return pixels if out_size == crop.size else cv2.resize(pixels, (out_size, out_size))


def crop_kpe_inputs(crop: HandCrop, variant: Any, grid: int = 7) -> np.ndarray:
    """The crop's KPE inputs (P, 2) float32 (``crop.kpe_inputs``): radians (theta_x, theta_y) of the rays
    of its sample points (the crop's corners and centre, or a ``grid x grid`` grid) through the camera
    model, for the crop the network sees (theta_x negated for a mirrored crop). Box crop: the source
    camera and the square box; rectified crop: the virtual camera and the whole crop."""
    if crop.rectified is None:
        return kpe_inputs(crop.camera, crop.box, variant, mirror=crop.mirror, grid=grid)
    rc = crop.rectified
    return kpe_inputs(rc.camera, rc.crop_box, variant, mirror=crop.mirror, grid=grid)


# ------------------------------------------------------------------------------------- normalisation
def normalize_crops(crops: np.ndarray) -> np.ndarray:
    """``crops (B, S, S, 3)`` (or one (S, S, 3)) uint8 RGB -> ``images (B, 3, S, S)`` float32, C-contiguous.

    ``images[b, c, v, u] = NORMALISATION_TABLE[crops[b, v, u, c], c]``, i.e.
    ``(crops / 255 - IMAGENET_MEAN) / IMAGENET_STD`` per channel, computed once in float32.
    """
    if not isinstance(crops, np.ndarray) or crops.dtype != np.uint8:
        raise ValueError(f"crops must be a uint8 numpy array, got {getattr(crops, 'dtype', type(crops))}")
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops shape={crops.shape} must be (B, S, S, 3) RGB")
    b, h, w, _ = crops.shape
    if crops.size == 0:
        return np.empty((b, 3, h, w), np.float32)
    flat = np.ascontiguousarray(crops).reshape(b * h, w, 3)  # cv2.LUT maps each channel by its own table
    values = cv2.LUT(flat, NORMALISATION_TABLE.reshape(1, 256, 3))
    return np.ascontiguousarray(values.reshape(b, h, w, 3).transpose(0, 3, 1, 2))


def preprocess_crops(
    crops: np.ndarray | torch.Tensor, device: torch.device | str | None = None
) -> torch.Tensor:
    """``crops (B, S, S, 3)`` uint8 RGB (numpy or torch) -> ``images (B, 3, S, S)`` float32 normalised.

    ``images = (crops / 255 - IMAGENET_MEAN) / IMAGENET_STD`` per channel (the values of
    :data:`NORMALISATION_TABLE`, as :func:`normalize_crops`), on ``device``. BGR input must be converted by
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
    table = torch.from_numpy(NORMALISATION_TABLE.copy()).to(t.device)  # (256, 3)
    channels = torch.arange(3, device=t.device)
    return table[t.long(), channels].permute(0, 3, 1, 2).contiguous()  # (B, S, S, 3) -> (B, 3, S, S)
