"""H2O (Kwon et al., ICCV 2021) reader: the published per-frame text files.

Layout (H2O release, as read by the WildHands code ``src/datasets/h2o_dataset.py`` and the H2O toolkit
github.com/taeinkwon/h2odataset)::

    <root>/<subject>/<scene>/<take>/cam<N>/           e.g. subject1/h1/0/cam4 (cam4 = egocentric)
        cam_intrinsics.txt       one line: fx fy cx cy width height (px)
        rgb/<frame:06d>.png      1280x720 colour image
        hand_pose/<frame>.txt    128 numbers: left hand [valid, 21 x (x, y, z)], right hand [same]
        hand_pose_mano/<frame>.txt (optional) 124 numbers: left [valid, transl(3), pose(48), betas(10)],
                                 right [same]
    <root>/local_<split>.txt    (optional) the WildHands code's image list, one rgb path per line
                                 (``.../<subject>/<scene>/<take>/cam<N>/rgb/<frame>.png``)

Facts used:
- 3D joints are in the camera frame of ``cam<N>`` in METRES (the WildHands code projects them with
  ``cam_intrinsics.txt`` directly and divides by nothing), x right / y down / z forward: already our
  camera optical frame, no transform.
- Joint order: wrist, then thumb/index/middle/ring/pinky base -> tip (the WildHands code reorders it to
  MANO with ``[0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20]``, which is exactly
  our ``MANO_JOINT_TO_KEYPOINT`` inverted), i.e. OUR order: :data:`H2O_TO_OURS` is the identity.
- A hand whose validity flag is 0 is not annotated in that frame: no record is produced for it.
- MANO parameters: axis-angle pose (global orientation first, then 15 joints in MANO order), built for
  ``flat_hand_mean=True`` (the WildHands code builds its MANO layers with ``flat_hand=True`` for H2O);
  ``transl`` is MANO's translation in the camera frame (kept in ``extra['mano_transl']``).
- Images are undistorted pinhole images (no distortion coefficients are published).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wildhands.data.readers._common import box_from_points, require_dir, require_file
from wildhands.data.record import HandRecord
from wildhands.geometry.camera import CameraModel

logger = logging.getLogger(__name__)

#: ours = h2o[H2O_TO_OURS]: H2O already uses our order (see the module docstring for the source).
H2O_TO_OURS: tuple[int, ...] = tuple(range(21))

_HAND_POSE_LEN = 128
_MANO_LEN = 124


def _read_numbers(path: Path, n: int) -> np.ndarray:
    values = np.loadtxt(require_file(path, "H2O annotation"), dtype=np.float64).reshape(-1)
    if values.size != n:
        raise ValueError(f"H2O file {path} has {values.size} numbers, expected {n}")
    return values


def _read_intrinsics(cam_dir: Path) -> CameraModel:
    v = np.loadtxt(require_file(cam_dir / "cam_intrinsics.txt", "H2O intrinsics"), dtype=np.float64).reshape(
        -1
    )
    if v.size < 6:
        raise ValueError(
            f"H2O {cam_dir / 'cam_intrinsics.txt'} needs 'fx fy cx cy width height', got {v.tolist()}"
        )
    fx, fy, cx, cy, w, h = v[:6]
    return CameraModel.from_K([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], int(w), int(h))


def _frames_from_list(root: Path, list_file: Path) -> list[tuple[Path, str]]:
    out = []
    for line in list_file.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        parts = Path(line).parts
        if len(parts) < 6 or parts[-2] != "rgb":
            raise ValueError(
                f"H2O list {list_file}: line {line!r} is not "
                "'.../<subject>/<scene>/<take>/camN/rgb/<frame>.png'"
            )
        out.append((root.joinpath(*parts[-6:-2]), Path(parts[-1]).stem))
    return out


def _frames_by_scan(root: Path, camera: str) -> list[tuple[Path, str]]:
    out = []
    for cam_dir in sorted(root.glob(f"*/*/*/{camera}")):
        pose_dir = cam_dir / "hand_pose"
        if pose_dir.is_dir():
            out.extend((cam_dir, p.stem) for p in sorted(pose_dir.glob("*.txt")))
    return out


def read_h2o(
    root: str | os.PathLike,
    split: str | None = None,
    camera: str = "cam4",
    with_mano: bool = True,
    check_images: bool = True,
) -> Iterator[HandRecord]:
    """Yield one :class:`HandRecord` per annotated hand of every H2O frame of ``camera``.

    Args:
        root: the H2O root (holding ``subject*/``).
        split: ``None`` for every sequence found under ``root``; otherwise the name of an image list
            ``<root>/local_<split>.txt`` (the WildHands code's file) or ``<root>/<split>.txt``.
        camera: ``'cam4'`` (egocentric, the WildHands benchmark) or ``'cam0'``..``'cam3'``.
        with_mano: also read ``hand_pose_mano/<frame>.txt`` where it exists.
        check_images: raise ``FileNotFoundError`` when a frame's ``rgb/<frame>.png`` is missing.
    """
    root = require_dir(Path(root), "H2O root")
    if split is None:
        frames = _frames_by_scan(root, camera)
        if not frames:
            raise FileNotFoundError(
                "H2O: no annotations found; expected files like "
                f"{root}/subject1/h1/0/{camera}/hand_pose/000000.txt"
            )
    else:
        candidates = [root / f"local_{split}.txt", root / f"{split}.txt"]
        list_file = next((c for c in candidates if c.is_file()), None)
        if list_file is None:
            raise FileNotFoundError(
                f"H2O split {split!r}: expected file {candidates[0]} (or {candidates[1]})"
            )
        frames = _frames_from_list(root, list_file)

    cameras: dict[Path, CameraModel] = {}
    for cam_dir, frame in frames:
        if cam_dir not in cameras:
            cameras[cam_dir] = _read_intrinsics(cam_dir)
        cam = cameras[cam_dir]
        image_path = cam_dir / "rgb" / f"{frame}.png"
        if check_images:
            require_file(image_path, "H2O image")
        pose = _read_numbers(cam_dir / "hand_pose" / f"{frame}.txt", _HAND_POSE_LEN)
        mano = None
        mano_path = cam_dir / "hand_pose_mano" / f"{frame}.txt"
        if with_mano and mano_path.is_file():
            mano = _read_numbers(mano_path, _MANO_LEN)
        seq = cam_dir.relative_to(root).as_posix()
        for hand_idx, side in enumerate(("left", "right")):
            block = pose[64 * hand_idx : 64 * (hand_idx + 1)]
            if block[0] == 0:
                continue
            kp3d = block[1:].reshape(21, 3)[list(H2O_TO_OURS)]
            if np.any(kp3d[:, 2] <= 0):
                logger.warning("H2O %s/%s %s hand: keypoints behind the camera, skipped", seq, frame, side)
                continue
            kp2d = cam.project(kp3d)
            box = box_from_points(kp2d, cam.width, cam.height)
            if box is None:
                continue
            kw: dict = {}
            extra = {"sequence": seq, "frame": frame}
            if mano is not None:
                mblock = mano[62 * hand_idx : 62 * (hand_idx + 1)]
                if mblock[0] != 0:
                    kw = {
                        "global_orient_aa": mblock[4:7],
                        "hand_pose_aa": mblock[7:52].reshape(15, 3),
                        "betas": mblock[52:62],
                    }
                    extra.update(mano_transl=mblock[1:4].copy(), mano_flat_hand_mean=True)
            yield HandRecord(
                dataset="h2o",
                frame_id=f"h2o/{seq}/{frame}",
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
