"""bench/refine_budget.py: its budgets fit the same landmarks, a tracked start is used (and re-lifted when
asked), and its summary pairs every budget against the default. Results go to tmp folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_scripts import load_bench

rb = load_bench("refine_budget")


def _scores(values: list[float]) -> list[dict]:
    return [{"found": True, **{m: v for m in rb.METRICS}, "distance_ratio": 1 + v / 10} for v in values]


def test_summary_pairs_each_budget_against_the_default():
    runs = {
        "s": {
            "scores": {"lift+5": _scores([1.0, 2.0, 3.0]), "lift+1": _scores([2.0, 3.0, 4.0])},
            "fit_ms": {"lift+5": [10.0, 12.0], "lift+1": [5.0]},
        }
    }
    s = rb.summarise(runs)["s"]
    assert "mpjpe_mm_vs_default" not in s["lift+5"] and s["lift+5"]["fit_ms_median"] == 11.0
    d = s["lift+1"]["mpjpe_mm_vs_default"]
    assert d["mean"] == pytest.approx(1.0) and d["ci95"] == [1.0, 1.0]
    assert s["lift+1"]["found"] == 3 and s["lift+1"]["pa_mpjpe_mm"] == pytest.approx(3.0)
    assert s["lift+1"]["distance_ratio_median"] == pytest.approx(1.3)  # the median of 1.2, 1.3, 1.4
    assert "| s | lift+1 | 3/3 | 5.0 |" in rb.markdown(rb.summarise(runs))


def test_parse_args_refuses_bad_budgets():
    args = rb.parse_args(["--steps", "2", "--warm-steps", ""])
    assert args.steps == [2, 5] and args.warm_steps == []  # the default budget is always run
    for bad in (["--steps", "x"], ["--steps", "-1"], ["--relift-every", "0"]):
        with pytest.raises(SystemExit):
            rb.parse_args(bad)


@pytest.mark.parametrize("relift_every", [1, 10])
def test_a_tracked_start_is_used_unless_every_frame_is_lifted(tmp_path, relift_every):
    """warm+2 re-lifted on every frame is the default (lift+5: a detector frame's hands start from the head
    with the fit's own steps) exactly; re-lifted every 10 frames it starts most frames from the previous
    hand, and reads the clip otherwise (same hands found)."""
    out = tmp_path / "r.json"
    argv = ["--steps", "2", "--warm-steps", "2", "--relift-every", str(relift_every), "--no-progress",
            "--results", str(out), "--log", str(tmp_path / "log")]  # fmt: skip
    assert rb.main(argv) == 0
    clip = json.loads(out.read_text())["summary"]["clip"]
    lifted, warm = clip["lift+5"], clip["warm+2"]
    assert warm["found"] == lifted["found"] >= 50
    same = [warm[m] == lifted[m] for m in rb.METRICS]
    assert all(same) if relift_every == 1 else not all(same)
    assert np.isfinite(warm["fit_ms_median"]) and "real (3D truth)" in json.loads(out.read_text())["summary"]


def test_distance_ratio_is_placed_over_true_wrist_distance():
    from types import SimpleNamespace

    truth = SimpleNamespace(keypoints_cam_m=np.tile([0.0, 0.3, 0.4], (21, 1)), valid=np.ones(21, bool))
    hand = SimpleNamespace(keypoints_cam_m=np.tile([0.0, 0.36, 0.48], (21, 1)))
    assert rb.distance_ratio(hand, truth) == pytest.approx(1.2)
    assert np.isnan(rb.distance_ratio(None, truth))
    assert np.isnan(rb.distance_ratio(hand, SimpleNamespace(keypoints_cam_m=None, valid=truth.valid)))
