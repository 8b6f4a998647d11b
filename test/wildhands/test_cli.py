"""The `wildhands` CLI: demo on the bundled sample and ONNX export, through `main(argv)`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wildhands.cli import main

UNTRAINED = ["--weights", "untrained", "--backbone", "resnet18"]


def test_demo_on_the_bundled_sample_writes_overlay_and_json(tmp_path, capsys):
    from wildhands.runtime.io import SAMPLE_DIR

    image, info = str(SAMPLE_DIR / "image.png"), str(SAMPLE_DIR / "camera_info.yaml")
    assert main(["demo", "--image", image, "--camera-info", info, *UNTRAINED, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hands      2 (boxes from the detector mediapipe)" in out
    assert "UNTRAINED" in out
    overlay = tmp_path / "image_overlay.png"
    assert overlay.is_file() and overlay.stat().st_size > 10_000
    data = json.loads((tmp_path / "image_hands.json").read_text())
    assert "UNTRAINED" in data["weights"]  # the grasp head (the landmark estimator gives the hands)
    assert sorted(h["side"] for h in data["hands"]) == ["left", "right"]
    assert all(np.asarray(h["keypoints_cam_m"]).shape == (21, 3) for h in data["hands"])


def test_demo_reports_bad_input_without_a_traceback(tmp_path, capsys):
    missing = tmp_path / "nope.png"
    assert main(["demo", "--image", str(missing), *UNTRAINED, "--out", str(tmp_path)]) == 2
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
        *UNTRAINED,
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 2
    assert "--boxes" in capsys.readouterr().err


def test_demo_with_given_boxes_skips_the_detector(tmp_path, capsys):
    from wildhands.runtime.io import SAMPLE_DIR

    args = [
        "demo",
        "--image",
        str(SAMPLE_DIR / "image.png"),
        "--boxes",
        str(SAMPLE_DIR / "hands.json"),
        *UNTRAINED,
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert "hands      2 (boxes from the boxes file)" in capsys.readouterr().out


def test_demo_on_an_image_without_hands_finds_none(tmp_path, capsys):
    import cv2

    image = tmp_path / "blank.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 128, np.uint8))
    assert main(["demo", "--image", str(image), *UNTRAINED, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hands      0" in out and "ESTIMATED" in out


def test_demo_on_the_bundled_sequence_in_process(tmp_path, capsys):
    args = ["demo", "--backend", "python", "--detector", "groundtruth", "--limit", "3", "--engine", "torch"]
    assert main([*args, *UNTRAINED, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "frames       3 (3 answered)" in out and "found        6 of 6 labelled hands (100%)" in out
    assert "UNTRAINED" in out and "MPJPE" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["backend"] == "python" and summary["hands_per_frame"]["histogram"] == {"2": 3}
    assert len(list((tmp_path / "overlays").glob("*.png"))) == 3


def test_demo_refuses_option_mixes_and_missing_weights(tmp_path, capsys):
    assert main(["demo", "--boxes", "x.json", *UNTRAINED, "--out", str(tmp_path)]) == 2
    assert "--boxes applies to --image" in capsys.readouterr().err
    assert main(["demo", "--backend", "python", "--weights", "/nowhere.pt", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "/nowhere.pt does not exist" in err and "wildhands train" in err


@pytest.mark.onnxruntime
def test_export_onnx_runs_in_onnxruntime(tmp_path, capsys):
    import onnxruntime as ort

    path = tmp_path / "net.onnx"
    assert main(["export", "--onnx", str(path)]) == 0  # the shipped default weights (128 px crops)
    assert "wrote" in capsys.readouterr().out
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images", "kpe"]
    size = session.get_inputs()[0].shape[2]
    outputs = session.run(
        None, {"images": np.zeros((2, 3, size, size), np.float32), "kpe": np.zeros((2, 5, 2), np.float32)}
    )
    assert [o.shape for o in outputs] == [(2, 3, 3), (2, 15, 3, 3), (2, 10), (2, 3), (2, 8)]


def test_the_docstring_lists_every_subcommand_and_choices_come_from_the_library():
    import argparse

    import wildhands.cli as cli
    from wildhands.model.config import BACKBONE_CHANNELS
    from wildhands.model.weights import SHIPPED_BACKBONE
    from wildhands.runtime.engines import ENGINES

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"demo", "export", "train", "synth", "eval"}
    for name in sub.choices:
        assert f"``{name}``" in cli.__doc__, name
    demo = {a.dest: a for a in sub.choices["demo"]._actions}
    assert tuple(demo["backbone"].choices) == tuple(BACKBONE_CHANNELS)
    assert demo["backbone"].default == SHIPPED_BACKBONE
    assert tuple(demo["engine"].choices) == ENGINES
    assert tuple(demo["kpe"].choices) == ("sparse", "dense", "free", "none")
    assert tuple(demo["detector"].choices) == ("auto", "mediapipe", "groundtruth", "none")
