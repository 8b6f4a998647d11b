"""bench/fisheye_crops.py at a tiny budget: both crop modes run end to end, the crop-coverage measure is
right on hands whose answer is known, and the result file holds what the docs/benchmarks.md table needs.
Everything goes to tmp folders (never bench/results)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bench_scripts import load_bench

from wildhands.data.record import HandRecord
from wildhands.geometry.camera import CameraModel
from wildhands.model.checkpoint import save_checkpoint
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet

REPO = Path(__file__).resolve().parents[3]
TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


def _bench():
    return load_bench("fisheye_crops")


def _record(camera: CameraModel, kp: np.ndarray, box) -> HandRecord:
    return HandRecord(
        dataset="t",
        frame_id="0",
        side="right",
        image=np.zeros((camera.height, camera.width, 3), np.uint8),
        camera=camera,
        box_xyxy_px=np.asarray(box, np.float64),
        keypoints_cam_m=kp,
        keypoints_px=camera.project(kp),
    )


def test_hand_coverage_counts_keypoints_outside_each_crop():
    bench = _bench()
    K = np.array([[100.0, 0, 159.5], [0, 100.0, 119.5], [0, 0, 1]])
    fisheye = CameraModel(320, 240, K, "equidistant", [0.0, 0.0, 0.0, 0.0])
    # 21 points around a direction 70 deg off-axis: in the fisheye image, far outside a pinhole's
    d = np.array([np.sin(np.radians(70)), 0.0, np.cos(np.radians(70))])
    kp = 0.4 * d + np.random.default_rng(0).uniform(-0.03, 0.03, (21, 3))
    uv = fisheye.project(kp)
    box = (*(uv.min(0) - 1), *(uv.max(0) + 1))
    cov = bench.hand_coverage(_record(fisheye, kp, box), 1.5, 64)
    assert cov["box"][:2] == (21, 0) and cov["rectified"][:2] == (21, 0)
    assert cov["image_rectified"][:2] == (21, 21)  # the whole-image rectification loses this hand
    assert 0.4 < cov["box"][2] < 0.7 and 0.3 < cov["rectified"][2] < 0.7
    # a box that misses half the hand cuts it in both crops
    half = (box[0], box[1], (box[0] + box[2]) / 2 - 8, box[3])
    cov = bench.hand_coverage(_record(fisheye, kp, half), 1.0, 64)
    assert cov["box"][1] > 0 and cov["rectified"][1] > 0


def test_bench_runs_both_crop_modes(tmp_path, monkeypatch):
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    weights = save_checkpoint(
        tmp_path / "tiny.pt", WildHandsNet(ModelConfig.from_dict(TINY)), extra={"step": 7}
    )
    bench = _bench()
    args = ["--weights", str(weights), "--testsets", "fisheye", "--frames", "1", "--threads", "1"]
    assert bench.main([*args, "--no-progress", "--out-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "fisheye_crops.json").read_text())
    assert result["command"].startswith("python bench/fisheye_crops.py --weights")
    fisheye = result["testsets"]["fisheye"]
    assert {"box", "rectified", "coverage"} <= set(fisheye)
    assert fisheye["box"]["metrics"]["hands"] == fisheye["rectified"]["metrics"]["hands"] >= 1
    assert fisheye["box"]["metrics"]["mpjpe_mm"] != fisheye["rectified"]["metrics"]["mpjpe_mm"]
    assert set(fisheye["rectified"]["relative_to_box_pct"]) >= {"mpjpe_mm", "mrrpe_mm", "kp2d_px"}
    assert fisheye["box"]["crop_ms_per_hand"] > 0
    assert set(fisheye["coverage"]["all"]) == {"box", "rectified", "image_rectified"}
    assert (
        "| fisheye | rectified |" in result["markdown"]
        and "| fisheye | image rectified |" in result["markdown"]
    )
    assert (tmp_path / "fisheye-1-v1" / "rectified" / "metrics.json").exists()
    with pytest.raises(SystemExit, match="does not exist"):
        bench.main(["--weights", str(tmp_path / "missing.pt"), "--out-dir", str(tmp_path)])
