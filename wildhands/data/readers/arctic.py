"""ARCTIC (Fan et al., CVPR 2023) reader: the processed split files the ARCTIC and WildHands code train on.

Layout (ARCTIC release after ``scripts_data/process_seqs.py`` + ``build_splits.py`` of
github.com/zc-alexfan/arctic; read the same way by WildHands' ``src/datasets/hands_light_dataset.py``)::

    <root>/data/arctic_data/data/
        splits/<setup>_<split>.npy    np.save'd dict (allow_pickle): {"data_dict": {...}, "imgnames": [...]}
            setup 'p1' (allocentric + ego) or 'p2' (egocentric); split 'train' / 'val' / 'test' / 'minival'
        meta/misc.json                per subject: {"ioi_offset": int, "image_size": [[W, H] x 9 views],
                                      "intris_mat": [8 x (3x3) allocentric K], "world2cam": [...]}
        images/<subject>/<seq>/<view>/<frame:05d>.jpg   view 0 = egocentric, 1..8 = allocentric

    imgnames: "./data/arctic_data/data/images/<subject>/<seq>/<view>/<frame>.jpg" (relative to <root>)
    data_dict["<subject>/<seq>"]:
        "cam_coord": {"joints.right"/"joints.left": (N, 10, 21, 3) metres, camera frame of each view;
                      "rot_r_cam"/"rot_l_cam": (N, 10, 3) MANO global orientation in each camera (axis-angle);
                      "is_valid", "right_valid", "left_valid": (N, 10) flags}
        "2d":        {"joints.right"/"joints.left": (N, 10, 21, 2) px}
        "params":    {"K_ego": (N, 3, 3), "dist": (N, 8), "pose_r"/"pose_l": (N, 45), "shape_r"/"shape_l":
                      (N, 10), ...}
        "bbox":      (N, 10, 3) (cx, cy, scale*200 px) square crops (not used: ours come from the keypoints)
    The 10 "views": 0 = egocentric camera (undistorted 3D frame), 1..8 = allocentric, 9 = egocentric in the
    "distorted space" ARCTIC uses for plotting. Row ``vidx = frame - ioi_offset[subject]``.

Facts used:
- 3D joints: smplx MANO output = MANO's 16 joints + 5 fingertips (thumb, index, middle, ring, pinky) in
  metres -> our order with ``MANO_JOINT_TO_KEYPOINT`` (:data:`ARCTIC_TO_OURS`). Camera frame of the view
  (x right, y down, z forward): no transform.
- Egocentric images are DISTORTED: ARCTIC's ``distort_pts3d_all`` is OpenCV's rational model with
  ``dist = (k1, k2, p1, p2, k3, k4, k5, k6)``, so the ego camera is
  ``CameraModel(K_ego, 'rational_polynomial', dist)`` and ``keypoints_px = camera.project(joints)`` lands on
  the image pixels (ARCTIC's own view-0 "2d" array is the UNdistorted projection; kept in
  ``extra['keypoints_px_undistorted']``). Allocentric views are pinhole with ``misc.intris_mat``.
- Hand pose: ``pose_*`` are MANO's 15 joint rotations (axis-angle, ``flat_hand_mean=False``: ARCTIC builds
  smplx MANO with ``flat_hand_mean=False``); the global orientation in the camera is ``rot_*_cam``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wildhands.data.readers._common import box_from_points, load_json, require_dir, require_file
from wildhands.data.record import HandRecord
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel.keypoints import MANO_JOINT_TO_KEYPOINT

logger = logging.getLogger(__name__)

#: ours = arctic_joints[ARCTIC_TO_OURS]: ARCTIC joints are smplx MANO's 16 joints + 5 fingertips.
ARCTIC_TO_OURS: tuple[int, ...] = MANO_JOINT_TO_KEYPOINT

_SIDES = {"right": "r", "left": "l"}


def arctic_data_dir(root: Path) -> Path:
    """``<root>/data/arctic_data/data`` (root = the ARCTIC checkout), or ``root`` itself if it is that dir."""
    for cand in (root / "data" / "arctic_data" / "data", root):
        if (cand / "splits").is_dir() or (cand / "meta").is_dir():
            return cand
    raise FileNotFoundError(
        f"ARCTIC: expected file {root / 'data/arctic_data/data/splits'}/<setup>_<split>.npy "
        f"(root must be the ARCTIC checkout or its data/arctic_data/data folder)"
    )


def read_arctic(
    root: str | os.PathLike,
    split: str = "val",
    setup: str = "p2",
    view: int = 0,
    check_images: bool = True,
) -> Iterator[HandRecord]:
    """Yield one :class:`HandRecord` per valid hand of every image of view ``view`` in the split.

    Args:
        root: the ARCTIC checkout (holding ``data/arctic_data/data``) or that data folder itself.
        split, setup: select ``splits/<setup>_<split>.npy``.
        view: 0 = egocentric (WildHands' setting), 1..8 = allocentric cameras.
        check_images: raise ``FileNotFoundError`` when an image is missing.
    """
    root = require_dir(Path(root), "ARCTIC root")
    data_dir = arctic_data_dir(root)
    split_path = require_file(data_dir / "splits" / f"{setup}_{split}.npy", "ARCTIC split file")
    misc = load_json(data_dir / "meta" / "misc.json", "ARCTIC meta")
    payload = np.load(split_path, allow_pickle=True)
    payload = payload.item() if isinstance(payload, np.ndarray) and payload.dtype == object else payload
    data_dict, imgnames = payload["data_dict"], payload["imgnames"]

    for name in imgnames:
        parts = Path(name).parts
        subject, seq, view_s, fname = parts[-4:]
        if int(view_s) != view:
            continue
        frame = int(Path(fname).stem)
        seq_key = f"{subject}/{seq}"
        if seq_key not in data_dict:
            raise ValueError(f"ARCTIC {split_path}: image {name} has no entry {seq_key!r} in data_dict")
        seq_data = data_dict[seq_key]
        meta = misc[subject]
        vidx = frame - int(meta["ioi_offset"])
        cam_coord, data_2d, params = seq_data["cam_coord"], seq_data["2d"], seq_data["params"]
        if not 0 <= vidx < cam_coord["joints.right"].shape[0]:
            raise ValueError(f"ARCTIC {name}: row {vidx} outside the annotations of {seq_key}")
        if "is_valid" in cam_coord and not cam_coord["is_valid"][vidx, view]:
            continue
        width, height = (int(v) for v in meta["image_size"][view])
        if view == 0:
            cam = CameraModel.from_K(
                np.asarray(params["K_ego"][vidx], dtype=np.float64),
                width,
                height,
                D=np.asarray(params["dist"][vidx], dtype=np.float64),
                distortion_model="rational_polynomial",
            )
        else:
            cam = CameraModel.from_K(
                np.asarray(meta["intris_mat"][view - 1], dtype=np.float64), width, height
            )
        image_path = data_dir / "images" / subject / seq / view_s / fname
        if check_images:
            require_file(image_path, "ARCTIC image")
        for side, s in _SIDES.items():
            flag = cam_coord.get(f"{side}_valid")
            if flag is not None and not flag[vidx, view]:
                continue
            kp3d = np.asarray(cam_coord[f"joints.{side}"][vidx, view], dtype=np.float64)[list(ARCTIC_TO_OURS)]
            if np.any(kp3d[:, 2] <= 0):
                continue
            kp2d = cam.project(kp3d)
            box = box_from_points(kp2d, width, height)
            if box is None:
                continue
            kw: dict = {}
            if f"pose_{s}" in params and f"rot_{s}_cam" in cam_coord:
                kw = {
                    "global_orient_aa": np.asarray(cam_coord[f"rot_{s}_cam"][vidx, view], dtype=np.float64),
                    "hand_pose_aa": np.asarray(params[f"pose_{s}"][vidx], dtype=np.float64).reshape(15, 3),
                    "betas": np.asarray(params[f"shape_{s}"][vidx], dtype=np.float64),
                }
            extra = {
                "subject": subject,
                "sequence": seq,
                "view": view,
                "frame": frame,
                "mano_flat_hand_mean": False,
            }
            if f"joints.{side}" in data_2d:
                extra["keypoints_px_undistorted"] = np.asarray(
                    data_2d[f"joints.{side}"][vidx, view], dtype=np.float64
                )[list(ARCTIC_TO_OURS)]
            yield HandRecord(
                dataset="arctic",
                frame_id=f"arctic/{subject}/{seq}/{view}/{frame:05d}",
                camera=cam,
                box_xyxy_px=box,
                side=side,
                image_path=image_path,
                keypoints_cam_m=kp3d,
                keypoints_px=kp2d,
                keypoints_valid=np.ones(21, dtype=bool),
                extra=extra,
                **kw,
            )
