"""bench/compare_real.py: hands paired across result files by (set, image, index), synthetic sets left out,
paired differences with a bootstrap interval that excludes 0 only for a real difference."""

from __future__ import annotations

import json

import pytest
from bench_scripts import load_bench

cr = load_bench("compare_real")


def _file(tmp_path, name, errors, pa=None):
    hands = []
    for i, err in enumerate(errors):
        s = {"found": True, "kp2d_px": err, "pa_mpjpe_mm": None if pa is None else pa[i]}
        hands.append(
            {"set": "freihand", "image": f"{i // 2}.jpg", "side": "right", "size_px": 100.0, "image_model": s}
        )
    hands.append({"set": "rhd", "image": "0.jpg", "side": "right", "size_px": 100.0,
                  "image_model": {"found": True, "kp2d_px": 1.0}})  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"per_hand": hands}))
    return path


def test_paired_differences_and_intervals(tmp_path):
    base = [20.0, 30.0, 40.0, 50.0, 25.0, 35.0, 45.0, 55.0]
    same = [b + d for b, d in zip(base, [1, -1, 2, -2, 1, -1, 2, -2])]  # no difference on average
    better = [b - 10.0 + d for b, d in zip(base, [1, -1, 2, -2, 1, -1, 2, -2])]
    models = {
        name: cr.per_hand(_file(tmp_path, name, errs, pa=errs), "image_model", cr.EXCLUDED_SETS)
        for name, errs in (("a", base), ("b", same), ("c", better))
    }
    assert len(models["a"]) == 8  # the rendered set is left out; two hands per image kept apart
    result = cr.compare(models)
    assert result["hands"] == 8 and result["sets"] == ["freihand"]
    assert result["models"]["a"]["kp2d_rel"]["mean"] == pytest.approx(0.375)
    lo, hi = result["models"]["b"]["kp2d_rel"]["diff_vs_reference"]["ci95"]
    assert lo < 0 < hi
    d = result["models"]["c"]["kp2d_rel"]["diff_vs_reference"]
    assert d["mean"] == pytest.approx(-0.1) and d["ci95"][1] < 0
    assert result["models"]["c"]["pa_mpjpe_mm"]["diff_vs_reference"]["mean"] == pytest.approx(-10.0)
    assert "| c |" in cr.markdown(result)
