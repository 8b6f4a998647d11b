from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from readers_fixtures import assert_box_contains, known_hand, project, to_dataset_order, write_image
from scipy.spatial.transform import Rotation

from wildhands.data.readers import open_dataset
from wildhands.data.readers.assemblyhands import ASSEMBLYHANDS_TO_OURS, read_assemblyhands

W, H = 640, 480
K = np.array([[300.0, 0, 319.5], [0, 301.0, 239.5], [0, 0, 1]])


def _write(root: Path, rng, split: str = "val") -> dict:
    R = Rotation.from_euler("xyz", [10, -20, 5], degrees=True).as_matrix()
    t = np.array([100.0, -50.0, 400.0])  # mm
    right = known_hand(rng, (0.06, 0.04, 0.4))
    left = known_hand(rng, (-0.07, 0.05, 0.45))
    # dataset arrays: 42 joints, right first, tip->base order, WORLD frame, millimetres
    cam42 = np.concatenate(
        [to_dataset_order(right, ASSEMBLYHANDS_TO_OURS), to_dataset_order(left, ASSEMBLYHANDS_TO_OURS)]
    )
    world_mm = (cam42 * 1000.0 - t) @ R  # inverse of X_cam = R X_world + t
    valid = np.ones(42)
    valid[21 + 4] = 0  # left index tip (dataset index 4) unlabelled
    seq, camera, frame = (
        "nusar-2021_action_both_9081-c11b_9081_user_id_2021-02-12_161433",
        "HMC_21176875",
        1234,
    )
    file_name = f"ego_images_rectified/{split}/{seq}/{camera}_mono10bit/{frame:06d}.jpg"
    data = {
        "images": [
            {
                "id": 7,
                "file_name": file_name,
                "width": W,
                "height": H,
                "seq_name": seq,
                "camera": camera,
                "frame_idx": frame,
            }
        ],
        "annotations": [
            {
                "id": 7,
                "image_id": 7,
                "bbox": {"right": [1, 1, 600, 400], "left": [0, 0, 300, 300]},
                "joint_valid": valid.tolist(),
            }
        ],
    }
    calib = {
        "calibration": {
            seq: {
                "intrinsics": {f"{camera}_mono10bit": K.tolist()},
                "extrinsics": {f"{frame:06d}": {f"{camera}_mono10bit": np.hstack([R, t[:, None]]).tolist()}},
            }
        }
    }
    joints = {"annotations": {seq: {f"{frame:06d}": {"world_coord": world_mm.tolist()}}}}
    ann = root / "annotations" / split
    ann.mkdir(parents=True)
    for kind, obj in (("ego_data", data), ("ego_calib", calib)):
        (ann / f"assemblyhands_{split}_{kind}_v1-1.json").write_text(json.dumps(obj))
    (ann / f"assemblyhands_{split}_joint_3d_v1-1.json").write_text(json.dumps(joints))
    write_image(root / "images" / file_name, W, H)
    return {"right": right, "left": left}


def test_assemblyhands(tmp_path, rng):
    truth = _write(tmp_path, rng)
    recs = list(read_assemblyhands(tmp_path, split="val"))
    assert [r.side for r in recs] == ["right", "left"]
    for r in recs:
        np.testing.assert_allclose(r.keypoints_cam_m, truth[r.side], atol=1e-9)
        ok = r.keypoints_valid
        np.testing.assert_allclose(r.keypoints_px[ok], project(K, truth[r.side])[ok], atol=1e-6)
        assert_box_contains(r.box_xyxy_px, r.keypoints_px[ok])
        np.testing.assert_array_equal(r.camera.K, K)
    assert recs[0].keypoints_valid.all()
    assert np.flatnonzero(~recs[1].keypoints_valid).tolist() == [8]  # our index_tip
    assert recs[0].frame_id == recs[1].frame_id


def test_assemblyhands_missing_file(tmp_path, rng):
    _write(tmp_path, rng)
    with pytest.raises(FileNotFoundError, match="assemblyhands_train_ego_data_v1-1.json"):
        list(open_dataset("assemblyhands", tmp_path, split="train"))
    (tmp_path / "annotations/val/assemblyhands_val_ego_calib_v1-1.json").unlink()
    with pytest.raises(FileNotFoundError, match="assemblyhands_val_ego_calib_v1-1.json"):
        list(read_assemblyhands(tmp_path, split="val"))
