"""The `wildhands` CLI: demo on the bundled sample and ONNX export, through `main(argv)`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wildhands.cli import main


def test_demo_on_the_bundled_sample_writes_overlay_and_json(tmp_path, capsys):
    assert main(["demo", "--backbone", "resnet18", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hands      2 (boxes from the detector mediapipe)" in out
    assert "UNTRAINED" in out
    overlay = tmp_path / "image_overlay.png"
    assert overlay.is_file() and overlay.stat().st_size > 10_000
    data = json.loads((tmp_path / "image_hands.json").read_text())
    assert data["weights"].startswith("UNTRAINED")
    assert sorted(h["side"] for h in data["hands"]) == ["left", "right"]
    assert all(np.asarray(h["keypoints_cam_m"]).shape == (21, 3) for h in data["hands"])


def test_demo_reports_bad_input_without_a_traceback(tmp_path, capsys):
    missing = tmp_path / "nope.png"
    assert main(["demo", "--image", str(missing), "--backbone", "resnet18", "--out", str(tmp_path)]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_demo_without_boxes_or_detector_says_what_is_missing(tmp_path, capsys):
    import cv2

    image = tmp_path / "blank.png"
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    args = [
        "demo",
        "--image",
        str(image),
        "--detector",
        "none",
        "--backbone",
        "resnet18",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 2
    assert "--boxes" in capsys.readouterr().err


def test_demo_with_given_boxes_skips_the_detector(tmp_path, capsys):
    from wildhands.runtime.demo import SAMPLE_DIR

    args = [
        "demo",
        "--boxes",
        str(SAMPLE_DIR / "hands.json"),
        "--backbone",
        "resnet18",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert "hands      2 (boxes from the boxes file)" in capsys.readouterr().out


def test_demo_on_an_image_without_hands_finds_none(tmp_path, capsys):
    import cv2

    image = tmp_path / "blank.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 128, np.uint8))
    assert main(["demo", "--image", str(image), "--backbone", "resnet18", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hands      0" in out and "ESTIMATED" in out


@pytest.mark.onnxruntime
def test_export_onnx_runs_in_onnxruntime(tmp_path, capsys):
    import onnxruntime as ort

    path = tmp_path / "net.onnx"
    assert main(["export", "--onnx", str(path), "--backbone", "resnet18"]) == 0
    assert "wrote" in capsys.readouterr().out
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images", "kpe"]
    outputs = session.run(
        None, {"images": np.zeros((2, 3, 224, 224), np.float32), "kpe": np.zeros((2, 5, 2), np.float32)}
    )
    assert [o.shape for o in outputs] == [(2, 3, 3), (2, 15, 3, 3), (2, 10), (2, 3), (2, 8)]
