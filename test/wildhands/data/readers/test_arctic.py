from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from readers_fixtures import assert_box_contains, known_hand, to_dataset_order, write_image

from wildhands.data.readers import open_dataset
from wildhands.data.readers.arctic import ARCTIC_TO_OURS, read_arctic

W, H = 2800, 2000  # ARCTIC egocentric image size
K_EGO = np.array([[1500.0, 0, 1400.0], [0, 1500.0, 1000.0], [0, 0, 1]])
DIST = np.array([-0.1, 0.02, 0.001, -0.0005, 0.0, 0.0, 0.0, 0.001])
OFFSET = 10  # ioi_offset of the subject: image 00012.jpg is row 2
N, V = 4, 10


def _write(root: Path, rng) -> dict:
    data = root / "data" / "arctic_data" / "data"
    joints = {s: np.zeros((N, V, 21, 3)) for s in ("right", "left")}
    truth = {}
    for row in range(N):
        for side, x in (("right", 0.07), ("left", -0.07)):
            kp = known_hand(rng, (x, 0.05, 0.5))
            joints[side][row, 0] = to_dataset_order(kp, ARCTIC_TO_OURS)
            truth[(row, side)] = kp
    left_valid = np.ones((N, V))
    left_valid[3, 0] = 0
    seq = {
        "cam_coord": {
            "joints.right": joints["right"].astype(np.float32),
            "joints.left": joints["left"].astype(np.float32),
            "rot_r_cam": rng.normal(size=(N, V, 3)).astype(np.float32),
            "rot_l_cam": rng.normal(size=(N, V, 3)).astype(np.float32),
            "is_valid": np.ones((N, V)),
            "right_valid": np.ones((N, V)),
            "left_valid": left_valid,
        },
        "2d": {"joints.right": np.zeros((N, V, 21, 2)), "joints.left": np.zeros((N, V, 21, 2))},
        "bbox": np.zeros((N, V, 3)),
        "params": {
            "K_ego": np.repeat(K_EGO[None], N, 0),
            "dist": np.repeat(DIST[None], N, 0),
            "pose_r": rng.normal(size=(N, 45)),
            "shape_r": rng.normal(size=(N, 10)),
            "pose_l": rng.normal(size=(N, 45)),
            "shape_l": rng.normal(size=(N, 10)),
        },
    }
    imgnames = [
        f"./data/arctic_data/data/images/s01/box_grab_01/{v}/{OFFSET + r:05d}.jpg"
        for r in range(N)
        for v in (0, 1)
    ]
    (data / "splits").mkdir(parents=True)
    np.save(data / "splits" / "p2_val.npy", {"data_dict": {"s01/box_grab_01": seq}, "imgnames": imgnames})
    misc = {
        "s01": {
            "ioi_offset": OFFSET,
            "image_size": [[W, H]] + [[2000, 2800]] * 8,
            "intris_mat": [np.eye(3).tolist()] * 8,
            "world2cam": [np.eye(4).tolist()] * 8,
        }
    }
    (data / "meta").mkdir()
    (data / "meta" / "misc.json").write_text(json.dumps(misc))
    for r in range(N):
        write_image(data / "images" / "s01" / "box_grab_01" / "0" / f"{OFFSET + r:05d}.jpg", 64, 48)
    return {"truth": truth, "seq": seq}


def test_arctic_egocentric(tmp_path, rng):
    w = _write(tmp_path, rng)
    recs = list(read_arctic(tmp_path, split="val", setup="p2"))
    assert len(recs) == 2 * N - 1  # row 3's left hand is not valid
    for r in recs:
        row = r.extra["frame"] - OFFSET
        kp = w["truth"][(row, r.side)]
        np.testing.assert_allclose(r.keypoints_cam_m, kp, atol=1e-6)  # float32 storage
        # 2D lands on the DISTORTED image: OpenCV's rational model with ARCTIC's 8 coefficients
        uv_cv = cv2.projectPoints(r.keypoints_cam_m, np.zeros(3), np.zeros(3), K_EGO, DIST)[0].reshape(-1, 2)
        np.testing.assert_allclose(r.keypoints_px, uv_cv, atol=1e-4)
        assert r.camera.distortion_model.value == "rational_polynomial"
        assert (r.camera.width, r.camera.height) == (W, H)
        assert_box_contains(r.box_xyxy_px, r.keypoints_px)
        s = r.side[0]
        np.testing.assert_allclose(r.hand_pose_aa.ravel(), w["seq"]["params"][f"pose_{s}"][row])
        np.testing.assert_allclose(
            r.global_orient_aa, w["seq"]["cam_coord"][f"rot_{s}_cam"][row, 0], atol=1e-6
        )
        assert r.image_path.is_file()
    assert recs[0].frame_id == "arctic/s01/box_grab_01/0/00010"


def test_arctic_errors(tmp_path, rng):
    _write(tmp_path, rng)
    with pytest.raises(FileNotFoundError, match="p2_train.npy"):
        list(open_dataset("arctic", tmp_path, split="train"))
    with pytest.raises(FileNotFoundError, match="splits"):
        list(read_arctic(tmp_path / "data"))
    (tmp_path / "data/arctic_data/data/images/s01/box_grab_01/0/00011.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="00011.jpg"):
        list(read_arctic(tmp_path))
    assert len(list(read_arctic(tmp_path, check_images=False))) == 2 * N - 1
