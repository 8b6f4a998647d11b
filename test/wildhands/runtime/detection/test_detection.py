"""The detector registry, the 'none' detector and the model files (no LiteRT needed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from detector_models import detector_models_missing

from wildhands.runtime.detection import DETECTORS, NullDetector, build_detector, models
from wildhands.runtime.detection.mediapipe_palm import ssd_anchors, weighted_nms


def test_import_needs_no_litert():
    code = "import sys, wildhands.runtime.detection; sys.exit('ai_edge_litert' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_none_detector_finds_nothing():
    det = build_detector("none")
    assert isinstance(det, NullDetector) and det.name == "none"
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="mediapipe, none"):
        build_detector("yolo")
    with pytest.raises(ValueError):
        build_detector("none", max_hands=2)
    assert DETECTORS == ("mediapipe", "none")


def test_missing_models_name_the_fetch_command(tmp_path):
    with pytest.raises(models.DetectorModelsMissing, match="fetch_detector_models.py"):
        build_detector("mediapipe", model_dir=tmp_path)


def test_default_model_dir_follows_the_cache_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path))
    assert models.default_model_dir() == tmp_path / "mediapipe" / "0.10.21"


def test_fetch_from_a_wheel_checks_hashes(tmp_path):
    """fetch_models unzips from a given wheel; a file with the wrong content is refused."""
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, _ in models.MODEL_FILES.values():
            zf.writestr(member, b"not the model")
        zf.writestr("mediapipe-0.10.21.dist-info/LICENSE", "Apache")
    with pytest.raises(RuntimeError, match="sha256"):
        models.fetch_models(tmp_path / "out", wheel=wheel)
    assert sorted(models.missing_models(tmp_path / "out")) == sorted(models.MODEL_FILES)


def test_fetch_is_a_no_op_when_present(tmp_path):
    reason = detector_models_missing(check_hash=True, litert=False)
    if reason:
        pytest.skip(reason)
    src = models.default_model_dir()
    out = tmp_path / "copy"
    out.mkdir()
    for name in [*models.MODEL_FILES, "NOTICE"]:
        (out / name).write_bytes((src / name).read_bytes())
    # no wheel, no network: returns at once because the checked files are there
    assert models.fetch_models(out, wheel=Path("/nonexistent.whl")) == out
    assert "Apache License" in (src / "NOTICE").read_text()


def test_ssd_anchors():
    anchors = ssd_anchors()
    assert anchors.shape == (2016, 2)
    np.testing.assert_allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[1], anchors[0])  # 2 anchors per cell at stride 8
    np.testing.assert_allclose(anchors[1152], [0.5 / 12, 0.5 / 12])  # stride 16 starts here, 6 per cell
    np.testing.assert_allclose(anchors[1152 + 6], [1.5 / 12, 0.5 / 12])
    assert anchors.min() > 0 and anchors.max() < 1


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=float)
    kps = boxes[:, None, :2].copy()
    scores = np.array([0.9, 0.3, 0.8])
    out = weighted_nms(boxes, kps, scores, 0.3)
    assert [s for _, _, s in out] == [0.9, 0.8]
    np.testing.assert_allclose(out[0][0], [0.25, 0, 10.25, 10])  # (0.9*0 + 0.3*1) / 1.2
    np.testing.assert_allclose(out[1][0], boxes[2])


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.0, np.pi])
def testrotated_crop_maps_points_back(rotation):
    """A bright dot in the image lands in the crop where to_image says it came from."""
    from wildhands.runtime.detection.mediapipe_palm import rotated_crop

    image = np.zeros((300, 400, 3), np.uint8)
    image[120:123, 250:253] = 255  # dot centre at (251.5, 121.5), continuous coordinates
    crop, to_image = rotated_crop(image, np.array([230.0, 140.0]), 120.0, rotation, 224)
    ys, xs = np.nonzero(crop[..., 0] > 0.2)
    w = crop[ys, xs, 0]
    peak = np.array([(xs * w).sum() / w.sum() + 0.5, (ys * w).sum() / w.sum() + 0.5])
    np.testing.assert_allclose(to_image(peak), [251.5, 121.5], atol=0.6)


def test_letterbox_maps_points_back():
    from wildhands.runtime.detection.mediapipe_palm import _letterbox

    image = np.zeros((480, 640, 3), np.uint8)
    tensor, to_image = _letterbox(image, 192)
    assert tensor.shape == (192, 192, 3) and tensor.dtype == np.float32
    np.testing.assert_allclose(to_image(np.array([[0.0, 24 / 192], [1.0, 168 / 192]])), [[0, 0], [640, 480]])
