from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from readers_fixtures import write_image

from wildhands.data.readers import READERS, open_dataset
from wildhands.data.readers.grasp import GRASP_LABEL_TO_ID, read_grasp_labels
from wildhands.data.readers.visor import read_visor
from wildhands.model.grasp import GRASP_CLASS_IDS


def _write_visor(root: Path, image_wh=(1920, 1080)) -> Path:
    sparse = root / "GroundTruth-SparseAnnotations"
    ann = sparse / "annotations" / "train"
    ann.mkdir(parents=True)
    name = "P01_01_frame_0000000140.jpg"
    doc = {
        "video_annotations": [
            {
                "image": {
                    "name": name,
                    "image_path": f"P01_01/{name}",
                    "video": "P01_01",
                    "subsequence": "P01_01_01",
                },
                "annotations": [
                    {
                        "id": "a",
                        "name": "left hand",
                        "class_id": 300,
                        "segments": [[[100, 200], [300, 200], [300, 400], [100, 400]]],
                    },
                    {
                        "id": "b",
                        "name": "right hand",
                        "class_id": 301,
                        "segments": [
                            [[1000, 500], [1200, 500], [1100, 700]],
                            [[1300, 300], [1350, 300], [1350, 350]],
                        ],
                    },
                    {"id": "c", "name": "knife", "class_id": 12, "segments": [[[0, 0], [10, 0], [10, 10]]]},
                ],
            },
            {
                "image": {
                    "name": "P01_01_frame_0000000200.jpg",
                    "image_path": "P01_01/P01_01_frame_0000000200.jpg",
                    "video": "P01_01",
                },
                "annotations": [{"id": "d", "name": "pan", "segments": [[[0, 0], [5, 0], [5, 5]]]}],
            },
        ]
    }
    (ann / "P01_01.json").write_text(json.dumps(doc))
    write_image(sparse / "rgb_frames" / "train" / "P01" / "P01_01" / name, *image_wh)
    return sparse


def test_visor_masks(tmp_path):
    _write_visor(tmp_path)
    recs = list(read_visor(tmp_path, split="train"))
    assert [r.side for r in recs] == ["left", "right"]
    left, right = recs
    np.testing.assert_allclose(left.box_xyxy_px, [99.5, 199.5, 300.5, 400.5])
    assert left.mask.shape == (1080, 1920) and left.mask[300, 200] and not left.mask[300, 400]
    np.testing.assert_allclose(right.box_xyxy_px, [999.5, 299.5, 1350.5, 700.5])  # union of both polygons
    for r in recs:
        assert r.camera.estimated and r.camera.fx == 1000.0 and r.keypoints_cam_m is None
        assert r.image_path.is_file()
    assert left.frame_id == right.frame_id


def test_visor_scaled_frames_and_errors(tmp_path):
    sparse = _write_visor(tmp_path, image_wh=(854, 480))
    left = next(iter(read_visor(sparse)))
    assert left.mask.shape == (480, 854)
    sx = 854 / 1920
    assert abs(left.box_xyxy_px[0] - (100 * sx - 0.5)) <= 1.0 and abs(left.camera.fx - 1000 * sx) < 1e-9
    with pytest.raises(FileNotFoundError, match="annotations"):
        (tmp_path / "empty").mkdir()
        list(open_dataset("visor", tmp_path / "empty"))
    img = sparse / "rgb_frames/train/P01/P01_01/P01_01_frame_0000000140.jpg"
    img.unlink()
    with pytest.raises(FileNotFoundError, match="P01_01_frame_0000000140.jpg"):
        list(read_visor(tmp_path))
    with pytest.raises(FileNotFoundError, match="P99_01.json"):
        list(read_visor(tmp_path, videos=["P99_01"]))


def test_grasp_ids_follow_wildhands_order():
    assert GRASP_LABEL_TO_ID == {
        "NP-Palm": GRASP_CLASS_IDS["non_prehensile_palm"],
        "NP-Fin": GRASP_CLASS_IDS["non_prehensile_fingers"],
        "Pow-Pris": GRASP_CLASS_IDS["power_prismatic"],
        "Pre-Pris": GRASP_CLASS_IDS["precision_prismatic"],
        "Pow-Circ": GRASP_CLASS_IDS["power_circular"],
        "Pre-Circ": GRASP_CLASS_IDS["precision_circular"],
        "Later": GRASP_CLASS_IDS["lateral"],
        "Other": GRASP_CLASS_IDS["other"],
    }


def test_grasp_pickle(tmp_path):
    rel = "epic_frames/P01/P01_01/frame_0000000140.jpg"
    write_image(tmp_path / rel, 1920, 1080)
    abs_img = write_image(tmp_path / "elsewhere" / "b.jpg", 960, 540)
    data = {
        rel: {
            "right_bbox": [100, 120, 400, 500],
            "left_bbox": [1500, 600, 2000, 1200],
            "right_grasp": "Pow-Pris",
            "left_grasp": None,
        },
        str(abs_img): {
            "right_bbox": None,
            "left_bbox": [10, 10, 200, 200],
            "right_grasp": None,
            "left_grasp": "Later",
        },
    }
    (tmp_path / "epic_hands").mkdir()
    with open(tmp_path / "epic_hands" / "grasp_visor_train.pkl", "wb") as f:
        pickle.dump(data, f)
    recs = list(open_dataset("epic_grasp", tmp_path))
    assert [(r.side, r.grasp) for r in recs] == [("right", 2), ("left", None), ("left", 6)]
    np.testing.assert_allclose(recs[0].box_xyxy_px, [100, 120, 400, 500])
    np.testing.assert_allclose(recs[1].box_xyxy_px, [1500, 600, 1920, 1080])  # clipped to the image
    assert recs[2].camera.width == 960 and recs[2].camera.fx == 500.0 and recs[2].camera.estimated
    assert recs[0].dataset == "epic_grasp" and recs[0].image_path == tmp_path / rel
    with pytest.raises(FileNotFoundError, match="grasp_ego.pkl"):
        list(READERS["ego4d_grasp"](tmp_path))
    bad = {rel: {"right_bbox": [0, 0, 5, 5], "left_bbox": None, "right_grasp": "Pinch", "left_grasp": None}}
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump(bad, f)
    with pytest.raises(ValueError, match="Pinch"):
        list(read_grasp_labels(tmp_path, pickle_path=tmp_path / "bad.pkl"))


def test_open_dataset_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        open_dataset("nope", tmp_path)
    assert set(READERS) >= {
        "arctic",
        "assemblyhands",
        "h2o",
        "visor",
        "epic_grasp",
        "ego4d_grasp",
        "freihand",
    }
