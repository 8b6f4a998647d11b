from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from readers_fixtures import assert_box_contains, known_hand, project, to_dataset_order, write_image

from wildhands.data.readers import open_dataset
from wildhands.data.readers.freihand import FREIHAND_TO_OURS, read_freihand

N = 3


def _write_freihand(root: Path, rng) -> tuple[list, list, list]:
    Ks, xyzs, manos = [], [], []
    for i in range(N):
        f = 480.0 + 20 * i
        K = [[f, 0.0, 112.0], [0.0, f, 111.5], [0.0, 0.0, 1.0]]
        kp = known_hand(rng, (0.0, 0.04, 0.6 + 0.05 * i))
        Ks.append(K)
        xyzs.append(to_dataset_order(kp, FREIHAND_TO_OURS).tolist())
        manos.append([rng.normal(size=61).tolist()])
    (root / "training_K.json").write_text(json.dumps(Ks))
    (root / "training_xyz.json").write_text(json.dumps(xyzs))
    (root / "training_mano.json").write_text(json.dumps(manos))
    for image_id in range(4 * N):  # 4 versions: gs, hom, sample, auto
        write_image(root / "training" / "rgb" / f"{image_id:08d}.jpg", 224, 224)
    for i in range(N):
        m = np.zeros((224, 224), np.uint8)
        m[50:150, 60:170] = 255
        (root / "training" / "mask").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "training" / "mask" / f"{i:08d}.jpg"), m)
    return Ks, xyzs, manos


def test_freihand_training(tmp_path, rng):
    Ks, xyzs, manos = _write_freihand(tmp_path, rng)
    recs = list(read_freihand(tmp_path, versions=("gs", "auto"), load_masks=True))
    assert len(recs) == 2 * N
    for r in recs:
        i = r.extra["index"]
        kp = np.asarray(xyzs[i])[list(FREIHAND_TO_OURS)]
        np.testing.assert_allclose(r.keypoints_cam_m, kp, atol=1e-12)
        np.testing.assert_allclose(r.keypoints_px, project(Ks[i], kp), atol=1e-6)
        assert r.side == "right"
        assert_box_contains(r.box_xyxy_px, r.keypoints_px)
        theta = np.asarray(manos[i][0])
        np.testing.assert_allclose(r.global_orient_aa, theta[:3])
        np.testing.assert_allclose(r.betas, theta[48:58])
    gs = [r for r in recs if r.extra["version"] == "gs"]
    auto = [r for r in recs if r.extra["version"] == "auto"]
    assert [r.image_path.name for r in auto] == [f"{3 * N + i:08d}.jpg" for i in range(N)]
    assert all(r.mask is not None and r.mask[100, 100] and not r.mask[10, 10] for r in gs)
    assert all(r.mask is None for r in auto)


def test_freihand_errors(tmp_path, rng):
    _write_freihand(tmp_path, rng)
    (tmp_path / "training_xyz.json").unlink()
    with pytest.raises(FileNotFoundError, match="training_xyz.json"):
        list(open_dataset("freihand", tmp_path))
    with pytest.raises(FileNotFoundError, match="evaluation_K.json"):
        list(read_freihand(tmp_path, split="evaluation"))
