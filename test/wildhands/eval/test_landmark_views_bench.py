"""bench/landmark_views.py's own arithmetic: hands found per mode, the paired differences on the hands both
found, and the groups by lens and angle off the axis (the landmark passes themselves: test_lens_views.py)."""

from __future__ import annotations

import numpy as np
import pytest
from bench_scripts import load_bench

lv = load_bench("landmark_views")


def _row(lens: str, off: float, box: float | None, rectified: float | None, name: str = "s") -> dict:
    def errors(v):
        return None if v is None else {m: v for m in lv.METRICS}

    return {"set": name, "frame": "0", "lens": lens, "off_axis_deg": off, "box": errors(box),
            "rectified": errors(rectified)}  # fmt: skip


def test_pairs_only_the_hands_both_modes_found():
    rows = [_row("none", 10, 10.0, 8.0), _row("none", 20, 12.0, 9.0), _row("none", 40, 20.0, 18.0),
            _row("none", 60, None, 30.0), _row("none", 60, 50.0, None)]  # fmt: skip
    s = lv.group_summary(rows)
    assert s["hands"] == 5 and s["found"] == {"box": 4, "rectified": 4} and s["found_by_both"] == 3
    m = s["mpjpe_mm"]
    assert m["box_mean"] == pytest.approx(14.0) and m["rectified_mean"] == pytest.approx(35 / 3, abs=0.01)
    assert m["difference"] == pytest.approx(-7 / 3, abs=0.01)
    assert m["ci95"][0] <= m["difference"] <= m["ci95"][1] < 0  # every hand better: the interval too
    assert "mpjpe_mm" not in lv.group_summary(rows[3:])  # fewer than 3 pairs: counts only


def test_groups_by_set_lens_and_angle_off_the_axis():
    rows = [_row("none", 10, 1.0, 1.0), _row("plumb_bob", 35, 1.0, 1.0), _row("equidistant", 70, 1.0, 1.0),
            _row("none", 10, 1.0, 1.0, name="t")]  # fmt: skip
    s = lv.summarise(rows)
    assert s["s"]["hands"] == 3 and s["t"]["hands"] == 1
    assert s["s plumb_bob"]["hands"] == 1 and s["s off-axis 50-180 deg"]["hands"] == 1
    assert s["s off-axis 0-30 deg"]["hands"] == 1 and s["s off-axis 30-50 deg"]["hands"] == 1
    assert lv.off_axis_deg(np.array([0.0, 0.0, 1.0])) == 0.0
    assert lv.off_axis_deg(np.array([1.0, 0.0, 1.0])) == pytest.approx(45.0)


def test_clip_rows_are_summarised_per_side_and_each_mix_against_box():
    """``--clip`` rows carry a side and the two mixes: each side gets its own box-vs-rectified group and
    one group per mix, paired against the same hands' box pass."""
    rows = []
    for k in range(4):
        for side, box, rect, mix2d, mixw in (("left", 10.0, 20.0, 15.0, 14.0), ("right", 8.0, 8.0, 8.0, 8.0)):
            row = _row("none", 10, box + k, rect + k)
            row.update(side=side, rectified_2d={m: mix2d + k for m in lv.METRICS},
                       rectified_world={m: mixw + k for m in lv.METRICS})  # fmt: skip
            rows.append(row)
    rows[0]["rectified_2d"] = None  # not matched: left out of that mix's pairs only
    s = lv.summarise(rows)
    assert s["s"]["hands"] == 8 and s["s left hand"]["hands"] == 4
    assert s["s left hand"]["mpjpe_mm"]["difference"] == pytest.approx(10.0)
    assert s["s right hand"]["mpjpe_mm"]["difference"] == pytest.approx(0.0)
    mix = s["s left hand, rectified_2d"]
    assert mix["found_by_both"] == 3 and mix["mpjpe_mm"]["difference"] == pytest.approx(5.0)
    assert mix["mpjpe_mm"]["box_mean"] == pytest.approx(12.0)  # the box pass of the 3 paired hands
    assert s["s left hand, rectified_world"]["mpjpe_mm"]["difference"] == pytest.approx(4.0)
    assert "s left hand, rectified_2d" in lv.markdown(s)
    assert lv.parse_args(["--clip"]).synthetic == []
    with pytest.raises(SystemExit):
        lv.parse_args([])  # neither --synthetic nor --clip
