"""Sequences for the main job: reading folders and the bundled clip, scoring against ground truth, outputs."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from wildhands.apps.demo import write_results
from wildhands.eval.scoring import format_summary, score_sequence
from wildhands.geometry.crop import CropBox
from wildhands.runtime.pipeline import HandEstimate
from wildhands.runtime.sequence import SEQUENCE_DIR, FrameResult, load_sequence


def _hand_from_label(label: dict, shift_m=(0.0, 0.0, 0.0)) -> HandEstimate:
    """An estimate equal to a ground-truth label, translated by ``shift_m``."""
    kp = np.asarray(label["keypoints_cam_m"]) + np.asarray(shift_m)
    x0, y0, x1, y1 = label["box_xyxy"]
    return HandEstimate(
        side=label["side"], side_confidence=1.0, detection_confidence=1.0, confidence=1.0,
        crop_box=CropBox(x0, y0, max(x1 - x0, y1 - y0)), keypoints_cam_m=kp,
        keypoints_px=np.asarray(label["keypoints_px"]), vertices_cam_m=np.zeros((0, 3)),
        faces=np.zeros((0, 3), np.int64), wrist_rotation=np.eye(3), joint_rotations_aa=np.zeros((15, 3)),
        betas=np.zeros(10), grasp_probabilities=np.full(8, 1 / 8), intrinsics_estimated=False,
        hand_model="open_hand_v1",
    )  # fmt: skip


def test_the_bundled_clip_has_frames_stamps_calibration_and_ground_truth():
    seq = load_sequence()
    assert len(seq) == 36 and seq.images[0].parent == SEQUENCE_DIR / "images"
    assert np.allclose(np.diff(seq.stamps_s), 1 / 15)
    assert not seq.camera.estimated and seq.camera_source.startswith("calibration")
    counts = [len(g) for g in seq.ground_truth]
    assert counts[0] == 2 and counts[-1] == 1  # the left hand leaves the view
    right = seq.ground_truth[0][1]
    assert right["side"] == "right"
    uv = seq.camera.project(np.asarray(right["keypoints_cam_m"]))
    assert np.abs(uv - np.asarray(right["keypoints_px"])).max() < 0.01
    assert seq.read_rgb(0).shape == (480, 640, 3)


def test_a_plain_folder_gets_fps_stamps_and_an_estimated_camera(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    seq = load_sequence(tmp_path, fps=10.0, hfov_deg=60.0)
    assert [p.name for p in seq.images] == ["f0.png", "f1.png", "f2.png"]
    assert seq.stamps_s == pytest.approx([0.0, 0.1, 0.2]) and seq.ground_truth is None
    assert seq.camera.estimated and "FoV prior 60" in seq.camera_source
    assert math.degrees(2 * math.atan(32 / seq.camera.fx)) == pytest.approx(60.0)


def test_exif_focal_length_is_used_before_the_fov_prior(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # 26 mm equivalent
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(tmp_path / "a.jpg", exif=exif.tobytes())
    seq = load_sequence(tmp_path)
    assert seq.camera.estimated and "FocalLengthIn35mmFilm 26" in seq.camera_source
    assert seq.camera.fx == pytest.approx(26 / math.hypot(36, 24) * 800.0)


def test_bad_folders_and_mismatched_calibration_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no .*png.* files"):
        load_sequence(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        load_sequence(tmp_path / "missing")
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="640x480 images, the images are 64x48"):
        load_sequence(tmp_path, camera_info=SEQUENCE_DIR / "camera_info.yaml")


def test_scores_are_zero_for_the_truth_and_measure_a_known_shift():
    seq = load_sequence(limit=4)
    perfect = [FrameResult(i, [_hand_from_label(g) for g in seq.ground_truth[i]], 0.01) for i in range(4)]
    s = score_sequence(seq, perfect)["ground_truth"]
    assert s["recall"] == 1.0 and s["found"] == 8
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "mrrpe_mm", "kp2d_px"):
        assert s[key]["mean"] == pytest.approx(0.0, abs=1e-6), key
    # the right hand 10 mm too far right: root error 10 mm on half the hands, MRRPE 10 mm, MPJPE unchanged
    shifted = [
        FrameResult(i, [_hand_from_label(g, (0.01, 0, 0) if g["side"] == "right" else (0, 0, 0))
                        for g in seq.ground_truth[i]], 0.02)
        for i in range(4)
    ]  # fmt: skip
    summary = score_sequence(seq, shifted)
    s = summary["ground_truth"]
    assert s["root_error_mm"]["mean"] == pytest.approx(5.0) and s["mrrpe_mm"]["mean"] == pytest.approx(10.0)
    assert s["mpjpe_mm"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert summary["latency_ms"]["median"] == pytest.approx(20.0)
    assert summary["processing_ms"]["n"] == 0  # not given: no processing figures
    # a missed hand and a wrong side lower the recall
    partial = [FrameResult(0, [_hand_from_label(seq.ground_truth[0][0])]), FrameResult(1, [], received=False)]
    summary = score_sequence(seq, partial)
    assert summary["ground_truth"]["found"] == 1 and summary["frames_answered"] == 1


def test_outputs_are_written_and_the_summary_fits_a_screen(tmp_path):
    seq = load_sequence(limit=3)
    results = [FrameResult(i, [_hand_from_label(g) for g in seq.ground_truth[i]], 0.05) for i in range(3)]
    summary = score_sequence(seq, results)
    paths = write_results(seq, results, summary, tmp_path)
    assert len(list(paths["overlays"].glob("*.png"))) == 3
    assert paths["video"].stat().st_size > 1000
    assert json.loads(paths["summary"].read_text())["frames"] == 3
    text = format_summary(summary)
    assert len(text.splitlines()) <= 10 and "found        6 of 6" in text and "MPJPE 0.0 mm" in text
