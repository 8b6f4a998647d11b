from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from readers_fixtures import assert_box_contains, known_hand, project, to_dataset_order, write_image

from wildhands.data.readers import open_dataset
from wildhands.data.readers.h2o import H2O_TO_OURS, read_h2o

FX, FY, CX, CY, W, H = 636.6, 636.1, 635.3, 366.9, 1280, 720


def _write_h2o(root: Path, rng) -> dict:
    """subject1/h1/0/cam4 with 2 frames: frame 0 both hands, frame 1 only the right hand valid."""
    cam_dir = root / "subject1" / "h1" / "0" / "cam4"
    (cam_dir / "hand_pose").mkdir(parents=True)
    (cam_dir / "hand_pose_mano").mkdir(parents=True)
    (cam_dir / "cam_intrinsics.txt").write_text(f"{FX} {FY} {CX} {CY} {W} {H}\n")
    truth = {}
    for frame in range(2):
        left = known_hand(rng, (-0.08, 0.05, 0.5))
        right = known_hand(rng, (0.08, 0.05, 0.45))
        left_valid = 1.0 if frame == 0 else 0.0
        numbers = np.concatenate(
            [
                [left_valid],
                to_dataset_order(left, H2O_TO_OURS).ravel(),
                [1.0],
                to_dataset_order(right, H2O_TO_OURS).ravel(),
            ]
        )
        name = f"{frame:06d}"
        np.savetxt(cam_dir / "hand_pose" / f"{name}.txt", numbers[None], fmt="%.9f")
        mano_l = np.concatenate([[left_valid], rng.normal(size=3), rng.normal(size=48), rng.normal(size=10)])
        mano_r = np.concatenate([[1.0], rng.normal(size=3), rng.normal(size=48), rng.normal(size=10)])
        np.savetxt(
            cam_dir / "hand_pose_mano" / f"{name}.txt", np.concatenate([mano_l, mano_r])[None], fmt="%.9f"
        )
        write_image(cam_dir / "rgb" / f"{name}.png", W, H)
        truth[frame] = {"left": (left, mano_l), "right": (right, mano_r)}
    return truth


def test_h2o_reads_published_layout(tmp_path, rng):
    truth = _write_h2o(tmp_path, rng)
    recs = list(read_h2o(tmp_path))
    assert [(r.extra["frame"], r.side) for r in recs] == [
        ("000000", "left"),
        ("000000", "right"),
        ("000001", "right"),
    ]
    K = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    for r in recs:
        kp, mano = truth[int(r.extra["frame"])][r.side]
        np.testing.assert_allclose(r.keypoints_cam_m, kp, atol=1e-8)
        np.testing.assert_allclose(r.keypoints_px, project(K, kp), atol=1e-6)
        np.testing.assert_array_equal(r.camera.K, K)
        assert (r.camera.width, r.camera.height) == (W, H) and not r.camera.estimated
        assert_box_contains(r.box_xyxy_px, r.keypoints_px)
        np.testing.assert_allclose(r.global_orient_aa, mano[4:7], atol=1e-8)
        np.testing.assert_allclose(r.hand_pose_aa.ravel(), mano[7:52], atol=1e-8)
        np.testing.assert_allclose(r.betas, mano[52:62], atol=1e-8)
        assert r.image_path.is_file() and r.load_image().shape == (H, W, 3)
        assert r.dataset == "h2o"
    assert recs[0].frame_id == recs[1].frame_id != recs[2].frame_id


def test_h2o_split_list_and_errors(tmp_path, rng):
    _write_h2o(tmp_path, rng)
    (tmp_path / "local_val.txt").write_text("/elsewhere/h2o/subject1/h1/0/cam4/rgb/000001.png\n")
    recs = list(open_dataset("h2o", tmp_path, split="val"))
    assert [(r.extra["frame"], r.side) for r in recs] == [("000001", "right")]
    with pytest.raises(FileNotFoundError, match="local_test.txt"):
        list(read_h2o(tmp_path, split="test"))
    (tmp_path / "subject1/h1/0/cam4/cam_intrinsics.txt").unlink()
    with pytest.raises(FileNotFoundError, match="cam_intrinsics.txt"):
        list(read_h2o(tmp_path))
    with pytest.raises(FileNotFoundError, match="hand_pose"):
        list(read_h2o(tmp_path / "subject1"))
