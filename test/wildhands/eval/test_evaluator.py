"""The evaluator: ~0 error with an oracle, large errors with the untrained network, robust to bad frames,
and the files it writes (metrics.json, metrics.md, worst-hand overlays)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from oracle import OraclePipeline

from wildhands.cli import main
from wildhands.data.record import HandRecord
from wildhands.eval.evaluator import evaluate
from wildhands.eval.report import COLUMNS
from wildhands.eval.sources import open_records, sample_records
from wildhands.model.config import ModelConfig
from wildhands.runtime.pipeline import Pipeline, PipelineConfig

SMALL = PipelineConfig(estimator="image", model=ModelConfig(backbone="resnet18"))


@pytest.fixture(scope="module")
def records():
    return sample_records()


@pytest.fixture(scope="module")
def untrained():
    return Pipeline(SMALL)


@pytest.fixture(scope="module")
def oracle(records):
    return OraclePipeline(records, SMALL)


def _second_frame(records, dataset="sample", frame_id="sample/1", **changes):
    return [dataclasses.replace(r, dataset=dataset, frame_id=frame_id, **changes) for r in records]


def test_oracle_scores_zero(oracle, records, tmp_path):
    result = evaluate(oracle, records, tmp_path, worst_k=2, progress=False)
    m = result["datasets"]["sample"]
    assert m["hands"] == 2 and m["hands_missing"] == 0 and m["frames"] == 1 and m["frames_failed"] == 0
    assert m["frames_mrrpe"] == 1
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "mrrpe_mm", "root_error_mm"):
        assert m[key] < 0.5, key
    assert m["kp2d_px"] < 0.1
    assert m["pck_10mm"] == 1.0 and m["auc_0_50mm"] > 0.98
    assert oracle.engine.calls == 1  # one Pipeline call per frame, both hands together


def test_untrained_network_scores_badly_and_writes_the_report(untrained, records, tmp_path):
    pipeline = untrained
    result = evaluate(pipeline, records, tmp_path, worst_k=8, progress=False)
    m = result["datasets"]["sample"]
    assert m["hands_estimated"] == 2
    assert m["mpjpe_mm"] > 20.0 and m["root_error_mm"] > 20.0 and m["mrrpe_mm"] > 5.0
    assert not result["trained"] and "ground truth" in result["boxes"]

    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["datasets"]["sample"]["mpjpe_mm"] == pytest.approx(m["mpjpe_mm"])
    md = (tmp_path / "metrics.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| dataset"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == [h for h, _, _ in COLUMNS]
    for expected in ("MPJPE (mm)", "PA-MPJPE (mm)", "MRRPE (mm)", "root err (mm)", "2D err (px)", "PCK@50"):
        assert expected in cells
    assert any(line.startswith("| sample |") for line in md.splitlines())
    assert "UNTRAINED" in md
    overlays = sorted((tmp_path / "worst").glob("*.png"))
    assert len(overlays) == 2  # only two hands exist
    assert [w["overlay"] for w in saved["worst"]] == [f"worst/{p.name}" for p in overlays]
    assert saved["worst"][0]["mpjpe_mm"] >= saved["worst"][1]["mpjpe_mm"]


def test_bad_frames_are_counted_not_fatal(oracle, records, tmp_path):
    broken = _second_frame(records, frame_id="sample/broken", image=None, image_path=tmp_path / "missing.png")
    other = _second_frame(records, dataset="other", frame_id="other/0")
    lonely = _second_frame(records[:1], dataset="other", frame_id="other/1")  # one hand: no MRRPE
    result = evaluate(oracle, records + broken + other + lonely, tmp_path, worst_k=3, progress=False)
    sample, other_m = result["datasets"]["sample"], result["datasets"]["other"]
    assert sample["frames"] == 2 and sample["frames_failed"] == 1 and sample["hands"] == 2
    assert other_m["frames"] == 2 and other_m["frames_mrrpe"] == 1 and other_m["hands"] == 3
    assert len(result["failures"]) == 1 and "missing.png" in result["failures"][0]["error"]
    assert "Failed frames" in (tmp_path / "metrics.md").read_text()
    assert other_m["mpjpe_mm"] < 0.5 and other_m["mrrpe_mm"] < 0.5


def test_wild_records_get_2d_metrics_only(untrained, records, tmp_path):
    wild = [
        dataclasses.replace(r, dataset="wild", frame_id="wild/0", keypoints_cam_m=None, global_orient_aa=None)
        for r in records
    ]
    result = evaluate(untrained, wild, tmp_path, worst_k=1, progress=False)
    m = result["datasets"]["wild"]
    assert m["mpjpe_mm"] is None and m["mrrpe_mm"] is None and m["pck_10mm"] is None
    assert m["kp2d_px"] > 0 and m["hands_3d"] == 0
    assert len(result["worst"]) == 1
    assert "| wild |" in (tmp_path / "metrics.md").read_text()


def test_missing_estimates_are_counted(untrained, records, tmp_path):
    three = records + [dataclasses.replace(records[0], box_xyxy_px=records[0].box_xyxy_px + 5.0)]
    result = evaluate(untrained, three, tmp_path, worst_k=0, progress=False)  # max_hands = 2
    m = result["datasets"]["sample"]
    assert m["hands"] == 3 and m["hands_missing"] == 1
    assert not (tmp_path / "worst").exists()


def test_sources(records, tmp_path):
    assert len(records) == 2 and {r.side for r in records} == {"left", "right"}
    assert all(isinstance(r, HandRecord) and r.frame_id == "sample/0" for r in records)
    assert np.asarray(records[0].keypoints_cam_m).shape == (21, 3)
    with pytest.raises(FileNotFoundError):
        open_records(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="unknown dataset"):
        list(open_records("nosuchreader:" + str(tmp_path)))


def test_cli_eval_on_the_sample(tmp_path):
    rc = main(
        ["eval", "--data", "sample", "--out", str(tmp_path), "--backbone", "resnet18", "--worst-k", "1"]
    )
    assert rc == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["datasets"]["sample"]["hands"] == 2
    assert (tmp_path / "metrics.md").exists() and len(list((tmp_path / "worst").glob("*.png"))) == 1


def test_synthetic_folder_with_the_oracle_and_limit(tmp_path):
    from wildhands.data.synthetic.config import SyntheticConfig
    from wildhands.data.synthetic.io import write_dataset

    cfg = SyntheticConfig(
        image_sizes=((320, 240),), occluder_prob=0.0, motion_blur_prob=0.0, two_hands_prob=1.0
    )
    folder = write_dataset(tmp_path / "synth", cfg, 3, seed=4, progress=False)
    records = list(open_records(str(folder)))
    assert len(records) == 6 and records[0].dataset == "synthetic"
    oracle = OraclePipeline(records, SMALL)
    result = evaluate(oracle, open_records(str(folder)), tmp_path / "out", worst_k=1, limit=2, progress=False)
    m = result["datasets"]["synthetic"]
    assert m["frames"] == 2 and m["hands"] == 4 and m["frames_mrrpe"] == 2
    assert m["mpjpe_mm"] < 0.5 and m["mrrpe_mm"] < 0.5 and m["root_error_mm"] < 0.5
    assert m["kp2d_px"] < 0.1
    with pytest.raises(ValueError, match="limit"):
        evaluate(oracle, records, tmp_path / "out", limit=0)
