"""AssemblyHands (Ohkawa et al., CVPR 2023) reader: the published egocentric annotation JSONs (v1-1).

Layout (as read by the WildHands code ``src/datasets/assembly_dataset.py`` and the AssemblyHands toolkit
github.com/facebookresearch/assemblyhands-toolkit)::

    <root>/images/<file_name>                                        (file_name from the data JSON)
    <root>/annotations/<split>/assemblyhands_<split>_ego_data_v1-1.json     COCO-like:
        images:      [{id, file_name, width, height, seq_name, camera, frame_idx}, ...]
        annotations: [{id, image_id, bbox: {"right": [x0, y0, x1, y1] | null, "left": ... | null},
                       joint_valid: 42 flags (right hand 0-20, left hand 21-41)}, ...]
    <root>/annotations/<split>/assemblyhands_<split>_ego_calib_v1-1.json
        {"calibration": {seq_name: {"intrinsics": {"<camera>_mono10bit": K (3x3)},
                                    "extrinsics": {"<frame_idx:06d>": {"<camera>_mono10bit": [R|t] (3x4)}}}}}
    <root>/annotations/<split>/assemblyhands_<split>_joint_3d_v1-1.json
        {"annotations": {seq_name: {"<frame_idx:06d>": {"world_coord": 42 x (x, y, z) in MILLIMETRES}}}}

Frames and units: ``X_cam = R X_world + t`` with ``[R|t]`` the per-frame extrinsics of the (moving)
head-mounted camera (the WildHands code factors ``K [R|t]`` back into R, t; with an upper-triangular K that
is ``[R|t]`` itself), then millimetres -> metres. The ego images are published rectified (pinhole K, no
distortion).

Joint order: per hand, each finger from TIP to BASE, thumb first, then the wrist last (the InterHand2.6M
convention AssemblyHands inherits); :data:`ASSEMBLYHANDS_TO_OURS` reorders it. Source: the WildHands code's
``joint_type['right'] = [20, 7, 6, 5, 11, 10, 9, 19, 18, 17, 15, 14, 13, 3, 2, 1, 0, 4, 8, 12, 16]`` (to
MANO order + fingertips), composed with our ``MANO_JOINT_TO_KEYPOINT``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wildhands.data.readers._common import box_from_points, clip_box, load_json, require_dir, require_file
from wildhands.data.record import HandRecord
from wildhands.geometry.camera import CameraModel

logger = logging.getLogger(__name__)

ANNOT_VERSION = "v1-1"

# fmt: off
#: ours = assemblyhands_hand[ASSEMBLYHANDS_TO_OURS] for one hand's 21 joints (add 21 for the left hand).
ASSEMBLYHANDS_TO_OURS: tuple[int, ...] = (
    20,              # wrist
    3, 2, 1, 0,      # thumb base -> tip
    7, 6, 5, 4,      # index
    11, 10, 9, 8,    # middle
    15, 14, 13, 12,  # ring
    19, 18, 17, 16,  # pinky
)
# fmt: on

#: Offset of each side's 21 joints in the 42-joint arrays.
ASSEMBLYHANDS_SIDE_OFFSET = {"right": 0, "left": 21}


def annotation_paths(root: Path, split: str, modality: str = "ego") -> dict[str, Path]:
    base = root / "annotations" / split
    stem = f"assemblyhands_{split}_{modality}"
    return {
        "data": base / f"{stem}_data_{ANNOT_VERSION}.json",
        "calib": base / f"{stem}_calib_{ANNOT_VERSION}.json",
        "joints": base / f"assemblyhands_{split}_joint_3d_{ANNOT_VERSION}.json",
    }


def read_assemblyhands(
    root: str | os.PathLike, split: str = "val", check_images: bool = True
) -> Iterator[HandRecord]:
    """Yield one :class:`HandRecord` per annotated hand (dataset box present, >= 1 valid joint).

    ``split`` is ``'train'``, ``'val'`` or ``'test'`` (a folder of ``<root>/annotations``).
    """
    root = require_dir(Path(root), "AssemblyHands root")
    paths = annotation_paths(root, split)
    for what, p in paths.items():
        require_file(p, f"AssemblyHands {what} JSON")
    data = load_json(paths["data"], "AssemblyHands data JSON")
    calib = load_json(paths["calib"], "AssemblyHands calib JSON")["calibration"]
    joints = load_json(paths["joints"], "AssemblyHands joint JSON")["annotations"]
    images = {img["id"]: img for img in data["images"]}

    for ann in data["annotations"]:
        img = images[ann["image_id"]]
        seq = str(img["seq_name"])
        cam_key = f"{img['camera']}_mono10bit"
        frame = f"{int(img['frame_idx']):06d}"
        width, height = int(img["width"]), int(img["height"])
        try:
            K = np.asarray(calib[seq]["intrinsics"][cam_key], dtype=np.float64)
            Rt = np.asarray(calib[seq]["extrinsics"][frame][cam_key], dtype=np.float64).reshape(3, 4)
            world_mm = np.asarray(joints[seq][frame]["world_coord"], dtype=np.float64).reshape(42, 3)
        except KeyError as e:
            raise ValueError(
                f"AssemblyHands: no calibration/joints for {seq} frame {frame} camera {cam_key}: {e}"
            ) from e
        cam = CameraModel.from_K(K, width, height)
        cam_m = (world_mm @ Rt[:, :3].T + Rt[:, 3]) / 1000.0  # X_cam = R X_world + t, mm -> m
        valid42 = np.asarray(ann["joint_valid"], dtype=np.float64).reshape(42) > 0
        image_path = root / "images" / img["file_name"]
        if check_images:
            require_file(image_path, "AssemblyHands image")
        for side, off in ASSEMBLYHANDS_SIDE_OFFSET.items():
            ds_box = (ann.get("bbox") or {}).get(side)
            idx = [off + j for j in ASSEMBLYHANDS_TO_OURS]
            valid = valid42[idx]
            if ds_box is None or not valid.any():
                continue
            kp3d = cam_m[idx]
            valid = valid & (kp3d[:, 2] > 0)
            if not valid.any():
                continue
            kp2d = np.full((21, 2), np.nan)
            kp2d[valid] = cam.project(kp3d[valid])
            kp2d[~valid] = 0.0
            box = box_from_points(kp2d, width, height, valid=valid)
            if box is None:
                continue
            yield HandRecord(
                dataset="assemblyhands",
                frame_id=f"assemblyhands/{split}/{img['file_name']}",
                camera=cam,
                box_xyxy_px=box,
                side=side,
                image_path=image_path,
                keypoints_cam_m=kp3d,
                keypoints_px=kp2d,
                keypoints_valid=valid,
                extra={
                    "sequence": seq,
                    "camera": img["camera"],
                    "frame_idx": int(img["frame_idx"]),
                    "dataset_box_xyxy": clip_box(np.asarray(ds_box, dtype=np.float64), width, height),
                },
            )
