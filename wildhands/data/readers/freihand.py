"""FreiHAND (Zimmermann et al., ICCV 2019) reader: the published JSON + JPEG layout.

Layout (FreiHAND_pub_v2, as read by the dataset's own toolkit github.com/lmb-freiburg/freihand,
``utils/fh_utils.py``: ``load_db_annotation``, ``read_img``, ``read_msk``, ``sample_version``)::

    <root>/training_K.json      list of N (3, 3) camera matrices (px)            N = 32560 unique samples
    <root>/training_xyz.json    list of N (21, 3) keypoints, camera frame, METRES
    <root>/training_mano.json   list of N [[61 numbers]]: pose(48, axis-angle, global first), betas(10),
                                uv_root(2), scale(1)
    <root>/training/rgb/%08d.jpg    224x224, 4 x N images: versions gs / hom / sample / auto; image
                                    ``i + v * N`` shows sample ``i``
    <root>/training/mask/%08d.jpg   N hand masks (version gs only), same ids as the first N images
    <root>/evaluation_K.json, evaluation_xyz.json, evaluation_mano.json, evaluation/rgb/%08d.jpg
                                    (the evaluation set, one version; xyz/mano published since v2)

Facts used: every hand is a RIGHT hand; keypoints are in our order (wrist, thumb..pinky base -> tip, the
order FreiHAND shares with MANO-based datasets + fingertips): :data:`FREIHAND_TO_OURS` is the identity;
the xyz are already in the camera optical frame (x right, y down, z forward) and in metres; FreiHAND's
MANO pose is for ``flat_hand_mean=False`` (the toolkit's ``ManoLayer`` default), kept in ``extra``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from wildhands.data.readers._common import box_from_points, load_json, require_dir, require_file
from wildhands.data.record import HandRecord
from wildhands.geometry.camera import CameraModel

#: ours = freihand[FREIHAND_TO_OURS]: FreiHAND already uses our order.
FREIHAND_TO_OURS: tuple[int, ...] = tuple(range(21))

#: Image versions of the training set, in the order of their id blocks (``fh_utils.sample_version``).
FREIHAND_VERSIONS: tuple[str, ...] = ("gs", "hom", "sample", "auto")

FREIHAND_IMAGE_SIZE = 224


def read_freihand(
    root: str | os.PathLike,
    split: str = "training",
    versions: Sequence[str] = ("gs",),
    load_masks: bool = False,
    check_images: bool = True,
) -> Iterator[HandRecord]:
    """Yield one right-hand :class:`HandRecord` per FreiHAND image.

    Args:
        root: the FreiHAND root (holding ``training_K.json``...).
        split: ``'training'`` or ``'evaluation'``.
        versions: which training image versions to read (``FREIHAND_VERSIONS``); ignored for evaluation.
        load_masks: read ``training/mask/%08d.jpg`` into ``record.mask`` (version ``gs`` only; the mask path
            is always in ``extra['mask_path']`` where one exists).
        check_images: raise ``FileNotFoundError`` when an image is missing.
    """
    if split not in ("training", "evaluation"):
        raise ValueError(f"FreiHAND split={split!r} must be 'training' or 'evaluation'")
    root = require_dir(Path(root), "FreiHAND root")
    Ks = load_json(root / f"{split}_K.json", "FreiHAND intrinsics")
    xyz_path = root / f"{split}_xyz.json"
    if split == "training":
        require_file(xyz_path, "FreiHAND 3D keypoints")
    xyzs = load_json(xyz_path, "FreiHAND 3D keypoints") if xyz_path.is_file() else None
    mano_path = root / f"{split}_mano.json"
    manos = load_json(mano_path, "FreiHAND MANO") if mano_path.is_file() else None
    n = len(Ks)
    for name, lst in (("xyz", xyzs), ("mano", manos)):
        if lst is not None and len(lst) != n:
            raise ValueError(f"FreiHAND {split}_{name}.json has {len(lst)} entries, {split}_K.json has {n}")
    if split == "training":
        bad = [v for v in versions if v not in FREIHAND_VERSIONS]
        if bad:
            raise ValueError(f"FreiHAND versions {bad} not in {FREIHAND_VERSIONS}")
        blocks = [FREIHAND_VERSIONS.index(v) for v in versions]
    else:
        blocks = [0]
    size = FREIHAND_IMAGE_SIZE
    for block in blocks:
        version = FREIHAND_VERSIONS[block] if split == "training" else "eval"
        for i in range(n):
            image_id = i + block * n
            image_path = root / split / "rgb" / f"{image_id:08d}.jpg"
            if check_images:
                require_file(image_path, "FreiHAND image")
            cam = CameraModel.from_K(np.asarray(Ks[i], dtype=np.float64), size, size)
            extra: dict = {"index": i, "version": version}
            kp3d = kp2d = None
            if xyzs is not None:
                kp3d = np.asarray(xyzs[i], dtype=np.float64).reshape(21, 3)[list(FREIHAND_TO_OURS)]
                kp2d = cam.project(kp3d)
            mask = None
            mask_path = root / split / "mask" / f"{i:08d}.jpg"
            if split == "training" and block == 0 and mask_path.is_file():
                extra["mask_path"] = mask_path
                if load_masks:
                    import cv2

                    m = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
                    if m is None:
                        raise ValueError(f"cannot read FreiHAND mask {mask_path}")
                    mask = m > 127
            if kp2d is not None:
                box = box_from_points(kp2d, size, size)
            else:
                box = None
            if box is None:
                box = np.array([0.0, 0.0, size, size])  # no label: the whole (hand-centred) crop
            kw: dict = {}
            if manos is not None:
                theta = np.asarray(manos[i], dtype=np.float64).reshape(-1)
                if theta.size != 61:
                    raise ValueError(
                        f"FreiHAND {split}_mano.json entry {i} has {theta.size} numbers, expected 61"
                    )
                kw = {
                    "global_orient_aa": theta[:3],
                    "hand_pose_aa": theta[3:48].reshape(15, 3),
                    "betas": theta[48:58],
                }
                extra.update(
                    mano_uv_root=theta[58:60].copy(), mano_scale=float(theta[60]), mano_flat_hand_mean=False
                )
            yield HandRecord(
                dataset="freihand",
                frame_id=f"freihand/{split}/{image_id:08d}",
                camera=cam,
                box_xyxy_px=box,
                side="right",
                image_path=image_path,
                keypoints_cam_m=kp3d,
                keypoints_px=kp2d,
                mask=mask,
                extra=extra,
                **kw,
            )
