"""HandRecord -> one training item: the crop the network sees, its KPE inputs and every available target.

Everything is expressed in the frame the network predicts in: the crop's camera for right hands, and
for left hands the *mirrored* camera (the image flipped left-right, ``CameraModel.mirrored``), where the
left hand is a right hand (see ``wildhands.runtime.pipeline``). With ``AugmentConfig.crop_mode``
``'rectified'`` (or ``'auto'`` on a fisheye camera) the crop is the rectified crop of
``wildhands.geometry.perspective_crop`` and the crop's camera is its virtual pinhole camera (mirrored for
left hands), exactly as the pipeline's ``crop_mode`` does at run time: the crop, the mirroring, the KPE
inputs and the normalisation are those of :mod:`wildhands.model.preprocess`, which the pipeline calls too;
this module adds the jitter (crop scale and shift, colours) and the targets. Missing labels get
``has_* = False`` and zeros, so items of different datasets batch together and each loss masks what is
absent.

Targets (``net camera`` = the camera of the frame above; metres and pixels):

    kp3d_rel    (21, 3) keypoints relative to the wrist, net camera axes         has_3d
    transl      (3,)    wrist position in the net camera                          has_3d
    cam_wp      (3,)    ideal weak-perspective camera of the crop for ``transl``  has_3d
    global_orient (3, 3), hand_pose (15, 3, 3), betas (10,)                      has_params
    kp2d        (21, 2) pinhole pixels in the net camera (undistorted), kp2d_valid (21,)
    mask        (m, m)  the hand's silhouette in the crop, at ``mask_size``       has_mask
    grasp       ()      class id, -1 when unknown
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from wildhands.data.record import HandRecord
from wildhands.geometry.camera import translation_to_weak_perspective_np
from wildhands.geometry.crop import CropBox
from wildhands.geometry.perspective_crop import (
    CROP_MODES,
    camera_to_virtual,
    image_to_rectified,
    upright_roll,
)
from wildhands.geometry.rotations import mirror_axis_angle
from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST
from wildhands.model.config import ModelConfig
from wildhands.model.preprocess import crop_kpe_inputs, cut_crop, normalize_crops, plan_crop, square_crop_box

_S = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time jitter of the crop and colours (all off with ``enabled=False``).

    scale_sigma: log-normal sigma of the crop scale around ``box_scale``; shift: max centre shift as a
    fraction of the crop side; color: max per-channel gain deviation; blur_prob: probability of a small
    Gaussian blur.

    Photometric options (0 = off, the default; each draws random numbers only when on, so a config
    without them gives the same items as before they existed): contrast: max deviation of a contrast
    factor about the crop's mean level; saturation: max deviation of a saturation factor (1.0 allows
    grey); grayscale_prob: probability of a grey crop (in all three channels); noise_sigma: max standard
    deviation (8-bit levels) of Gaussian pixel noise, drawn per crop in [0, noise_sigma].

    For a network with ``ModelConfig.crop_roll='upright'`` only: upright_prob: share of the crops turned
    upright from the labels (the rest unturned, as the pipeline's first pass cuts them); roll_sigma_deg:
    Gaussian error (degrees) added to the upright roll (the first pass's direction is not exact);
    unturned_roll_deg: the unturned crops turned by a uniform random roll within +-this (0, the default: not
    turned, no random numbers drawn), so that the first pass learns to read a hand that points any way in
    the image (180: any direction), as egocentric views show them. Without augmentation (evaluation) every
    crop is upright, without error.
    """

    enabled: bool = True
    box_scale: float = 1.5
    scale_sigma: float = 0.1
    shift: float = 0.08
    color: float = 0.2
    blur_prob: float = 0.1
    crop_mode: str = "box"
    upright_prob: float = 0.7
    roll_sigma_deg: float = 15.0
    unturned_roll_deg: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    grayscale_prob: float = 0.0
    noise_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"augment.crop_mode={self.crop_mode!r} not in {CROP_MODES}")
        for name in (
            "box_scale",
            "scale_sigma",
            "shift",
            "color",
            "blur_prob",
            "upright_prob",
            "roll_sigma_deg",
            "unturned_roll_deg",
            "contrast",
            "saturation",
            "grayscale_prob",
            "noise_sigma",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"augment.{name}={value!r} must be a finite number >= 0")
        if self.box_scale < 1.0:
            raise ValueError(f"augment.box_scale={self.box_scale!r} must be >= 1")
        for name in ("blur_prob", "upright_prob", "grayscale_prob", "contrast", "saturation"):
            if getattr(self, name) > 1:
                raise ValueError(f"augment.{name}={getattr(self, name)!r} must be in [0, 1]")
        if self.unturned_roll_deg > 180:
            raise ValueError(f"augment.unturned_roll_deg={self.unturned_roll_deg!r} must be in [0, 180]")


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    return np.stack(
        [cv2.Rodrigues(np.asarray(a, np.float64).reshape(3, 1))[0] for a in np.reshape(aa, (-1, 3))]
    )


def _jitter(augment: AugmentConfig, rng: np.random.Generator | None) -> tuple[float, np.ndarray]:
    """(crop side / hand box side, centre shift as a fraction of the crop side (2,)) of one item."""
    scale = augment.box_scale
    shift = np.zeros(2)
    if augment.enabled and rng is not None:
        scale *= float(np.exp(rng.normal(0.0, augment.scale_sigma)))
    if augment.enabled and rng is not None and augment.shift > 0:
        shift = rng.uniform(-augment.shift, augment.shift, size=2)
    return scale, shift


def _luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) Rec. 601 luma of an (H, W, 3) RGB float array."""
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _jitter_colours(crop: np.ndarray, augment: AugmentConfig, rng: np.random.Generator | None) -> np.ndarray:
    """The uint8 (H, W, 3) crop with random per-channel gains, the photometric options that are on
    (contrast, saturation, grey, noise: ``AugmentConfig``) and, with ``blur_prob``, a small Gaussian blur."""
    if not (augment.enabled and rng is not None):
        return crop
    gains = 1.0 + rng.uniform(-augment.color, augment.color, size=3)
    out = crop.astype(np.float32) * gains
    if augment.contrast > 0:
        factor = 1.0 + rng.uniform(-augment.contrast, augment.contrast)
        out = out.mean() + factor * (out - out.mean())
    if augment.saturation > 0:
        factor = 1.0 + rng.uniform(-augment.saturation, augment.saturation)
        grey = _luma(out)[..., None]
        out = grey + factor * (out - grey)
    if augment.grayscale_prob > 0 and rng.random() < augment.grayscale_prob:
        out = np.repeat(_luma(out)[..., None], 3, axis=-1)
    if augment.noise_sigma > 0:
        out = out + rng.normal(0.0, rng.uniform(0.0, augment.noise_sigma), out.shape).astype(np.float32)
    crop = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < augment.blur_prob:
        crop = cv2.GaussianBlur(crop, (5, 5), float(rng.uniform(0.5, 1.5)))
    return crop


def crop_box_for(record: HandRecord, augment: AugmentConfig, rng: np.random.Generator | None) -> CropBox:
    """The (possibly jittered) square crop box of a record, in its image's pixels."""
    scale, shift = _jitter(augment, rng)
    return square_crop_box(record.camera, record.box_xyxy_px, scale, shift=shift)


def _upright_roll(
    record: HandRecord,
    model: ModelConfig,
    augment: AugmentConfig,
    rng: np.random.Generator | None,
    scale: float,
    shift: np.ndarray,
) -> float | None:
    """The roll of an upright crop of ``record`` (``perspective_crop.upright_roll`` from its labels, plus
    ``roll_sigma_deg`` error when augmenting), or None for an unturned crop (``1 - upright_prob`` of the
    augmented items, and records without a wrist and middle MCP or whose box cannot be rectified); an
    unturned crop turned by a random roll instead where ``unturned_roll_deg`` asks for it."""
    augmenting = augment.enabled and rng is not None
    if augmenting and rng.random() >= augment.upright_prob:
        if augment.unturned_roll_deg > 0:
            return math.radians(float(rng.uniform(-augment.unturned_roll_deg, augment.unturned_roll_deg)))
        return None
    cam, ends = record.camera, [WRIST, MIDDLE_MCP]
    if record.keypoints_cam_m is not None and np.all(record.keypoints_cam_m[ends, 2] > 1e-3):
        points = record.keypoints_cam_m[ends]
    elif record.keypoints_px is not None:
        points = cam.pixels_to_rays(record.keypoints_px[ends])
    else:
        return None
    if record.keypoints_valid is not None and not np.all(record.keypoints_valid[ends]):
        return None
    unturned = plan_crop(cam, record.box_xyxy_px, model.image_size, scale, False, "rectified", shift=shift)
    if unturned.rectified is None or not np.all(np.isfinite(points)):
        return None
    roll = upright_roll(unturned.rectified, points[0], points[1])
    if augmenting and augment.roll_sigma_deg > 0:
        roll += math.radians(float(rng.normal(0.0, augment.roll_sigma_deg)))
    return roll


def make_item(
    record: HandRecord,
    model: ModelConfig,
    dataset_index: int = 0,
    augment: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
    mask_size: int = 56,
) -> dict[str, torch.Tensor]:
    """Build one training item (a dict of tensors, see the module docstring)."""
    augment = augment or AugmentConfig(enabled=False)
    image = record.load_image()
    cam = record.camera
    mirror = record.side == "left"
    scale, shift = _jitter(augment, rng)
    # the crop, its KPE inputs and the normalisation are the pipeline's (wildhands.model.preprocess)
    roll = _upright_roll(record, model, augment, rng, scale, shift) if model.crop_roll == "upright" else None
    crop = plan_crop(
        cam,
        record.box_xyxy_px,
        model.image_size,
        scale,
        mirror,
        augment.crop_mode,
        shift=shift,
        roll_rad=roll,
    )
    pixels = _jitter_colours(cut_crop(image, crop), augment, rng)
    kpe = crop_kpe_inputs(crop, model.kpe.variant.value, grid=model.kpe.dense_grid)
    rc = crop.rectified
    net_cam, net_box = crop.net_camera, crop.net_box
    K = net_cam.K.astype(np.float64)

    item: dict[str, np.ndarray | float | int | bool] = {
        "images": normalize_crops(pixels)[0],
        "kpe": kpe,
        "K": K,
        "box_center": np.asarray(net_box.center, np.float64),
        "box_size": np.float64(net_box.size),
        "dataset": dataset_index,
        "is_left": mirror,
    }

    kp3d = None
    if record.keypoints_cam_m is not None:
        if rc is not None:
            kp3d = camera_to_virtual(rc, record.keypoints_cam_m, mirror=mirror)
        else:
            kp3d = record.keypoints_cam_m @ _S if mirror else record.keypoints_cam_m
    item["has_3d"] = kp3d is not None and bool(kp3d[0, 2] > 1e-3)
    if item["has_3d"]:
        transl = kp3d[0]
        item["kp3d_rel"] = kp3d - transl
        item["transl"] = transl
        item["cam_wp"] = translation_to_weak_perspective_np(
            transl, net_box.center, net_box.size, net_cam.fx, net_cam.fy, net_cam.cx, net_cam.cy
        )
    else:
        item["kp3d_rel"], item["transl"], item["cam_wp"] = np.zeros((21, 3)), np.zeros(3), np.zeros(3)

    has_params = record.global_orient_aa is not None and record.hand_pose_aa is not None
    item["has_params"] = has_params
    if has_params:
        orient, pose = record.global_orient_aa, record.hand_pose_aa
        if mirror:  # the record's params are for its own (left) model; the network predicts the right one
            orient, pose = mirror_axis_angle(orient), mirror_axis_angle(pose)
        item["global_orient"] = _rodrigues(orient)[0]
        if rc is not None:  # camera axes -> virtual axes (mirrored: S R S, as for the points)
            item["global_orient"] = ((_S @ rc.R @ _S) if mirror else rc.R) @ item["global_orient"]
        item["hand_pose"] = _rodrigues(pose)
        item["betas"] = record.betas if record.betas is not None else np.zeros(10)
    else:
        item["global_orient"], item["hand_pose"], item["betas"] = (
            np.eye(3),
            np.tile(np.eye(3), (15, 1, 1)),
            np.zeros(10),
        )

    # 2D targets: pinhole pixels of the undistorted rays, in the net camera
    valid = np.zeros(21, bool)
    kp2d = np.zeros((21, 2))
    if kp3d is not None and item["has_3d"]:
        uvw = kp3d @ K.T
        kp2d = uvw[:, :2] / uvw[:, 2:3]
        valid = kp3d[:, 2] > 1e-3
    elif record.keypoints_px is not None:
        if rc is not None:
            kp2d = image_to_rectified(rc, cam, record.keypoints_px, mirror=mirror)
        else:
            xy = cam.undistort_points(record.keypoints_px)
            if mirror:
                xy = xy * np.array([-1.0, 1.0])
            kp2d = xy @ K[:2, :2].T + K[:2, 2]
        valid = np.all(np.isfinite(kp2d), axis=1)
        kp2d = np.nan_to_num(kp2d)
    if record.keypoints_valid is not None:
        valid &= record.keypoints_valid
    item["kp2d"], item["kp2d_valid"] = kp2d, valid

    item["has_mask"] = record.mask is not None
    if record.mask is not None:
        mask_u8 = (np.asarray(record.mask) > 0).astype(np.uint8) * 255
        m = cut_crop(mask_u8, crop, out_size=mask_size)
        item["mask"] = (m.reshape(mask_size, mask_size) > 127).astype(np.float32)
    else:
        item["mask"] = np.zeros((mask_size, mask_size), np.float32)
    item["grasp"] = -1 if record.grasp is None else int(record.grasp)

    out: dict[str, torch.Tensor] = {}
    for key, value in item.items():
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        out[key] = torch.from_numpy(np.ascontiguousarray(arr)) if arr.ndim else torch.tensor(arr.item())
    return out


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch (every item has the same keys and shapes)."""
    return {key: torch.stack([it[key] for it in items]) for key in items[0]}
