"""bench/pipeline.py's landmark section: each variant's results key, its ratio to MediaPipe's frame in the
same mode, and its row in the table (the figures docs/engines.md quotes)."""

from __future__ import annotations

import pytest
from bench_scripts import load_bench

pb = load_bench("pipeline")


def _entry(mode: str, setting: str, median: float) -> dict:
    stages = {k: 1.0 for k in ("detector", "landmarks", "fit", "hand_layer", "messages")}
    return {"mode": mode, "setting": setting, "frame": {"median_ms": median, "p95_ms": median + 1},
            "stages_median_ms": stages, "hands_found_median": 2, "palm_detector_frames": 0.1}  # fmt: skip


def test_variants_keys_ratios_and_rows():
    variants = [("IMAGE", "on", 60.0), ("VIDEO", "on", 50.0), ("IMAGE", "off", 45.0), ("VIDEO", "off", 40.0),
                ("VIDEO", "tracked", 30.0)]  # fmt: skip
    ours = {pb.variant_key(m, s): _entry(m, s, ms) for m, s, ms in variants}
    assert list(ours) == ["image_refine_on", "video_refine_on", "image_refine_off", "video_refine_off",
                          "video_tracked_start"]  # fmt: skip
    peer = {"IMAGE": {"median_ms": 60.0, "p95_ms": 61.0, "hands_found_median": 2},
            "VIDEO": {"median_ms": 40.0, "p95_ms": 41.0, "hands_found_median": 2}}  # fmt: skip
    section = {"hands": {"2": {"ours": ours, "mediapipe": peer, "other_processes_cores": 0.1}}}
    r = pb.landmark_ratios(section)
    assert r["frame_over_mediapipe_2_hands_image"] == pytest.approx(1.0)
    assert r["frame_over_mediapipe_2_hands_video"] == pytest.approx(1.25)
    assert r["frame_over_mediapipe_2_hands_video_refine_off"] == pytest.approx(1.0)
    assert r["frame_over_mediapipe_2_hands_video_tracked_start"] == pytest.approx(0.75)
    assert "frame_over_mediapipe_2_hands_image_tracked_start" not in r
    assert r["targets"] == {"two_hand_video_frame_faster_than_mediapipe": False,
                            "two_hand_image_frame_within_1.2x_of_mediapipe": True}  # fmt: skip
    section["ratios"] = r
    text = pb.landmark_summary(section)
    assert "| 2 | wildhands (tracked start) | VIDEO | 30.0 / 31.0 |" in text
    assert "| 2 | wildhands (refine off) | IMAGE | 45.0 / 46.0 |" in text
