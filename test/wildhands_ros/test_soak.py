"""60-second soak: wildhands_node (own process, onnxruntime, resnet18) under a 1280x720 rgb8 stream at 30 Hz
with the hand boxes; ``bench/soak.py`` runs in a subprocess (its own rclpy context, so the Fast DDS
shared-memory profile applies to both sides). The node must stay alive, its RSS must not grow after warm-up,
latency must stay bounded and HandArrays must keep coming; dropped frames (latest frame wins) are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wildhands_ros.loopback import loopback_env

REPO = Path(__file__).resolve().parents[2]
DURATION_S = 60.0
# measured on the 2-core machine (1280x720, 30 Hz): HandArray.latency p95 ~0.16 s, end to end ~0.18 s
P95_BOUND_S = 2.0


@pytest.mark.slow
def test_soak_60s(tmp_path):
    out = tmp_path / "soak.json"
    env = loopback_env(MPLBACKEND="Agg")
    assert 101 <= int(env.get("ROS_DOMAIN_ID", "0")) <= 200
    cmd = [sys.executable, str(REPO / "bench" / "soak.py"), "--duration", str(DURATION_S)]
    cmd += [
        "--out",
        str(out),
        "--plot",
        str(tmp_path / "soak.png"),
        "--namespace",
        f"/soak_test{os.getpid()}",
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=DURATION_S + 300)
    assert out.exists(), f"soak wrote no result (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    r = json.loads(out.read_text())
    log = Path(r["log_path"]).read_text(errors="replace")[-3000:]

    assert r["alive_at_end"], log
    assert r["run_s"] >= DURATION_S - 1.0
    assert r["rss"]["growth_after_warmup_pct"] < 5.0, r["rss"]
    assert r["latency"]["node"]["p95_ms"] < 1e3 * P95_BOUND_S, r["latency"]["node"]
    assert r["latency"]["end_to_end"]["p95_ms"] < 1e3 * P95_BOUND_S, r["latency"]["end_to_end"]
    f = r["frames"]
    assert f["published"] >= 0.9 * 30 * DURATION_S, f
    # latest frame wins: at 30 Hz the node cannot keep up here, and the diagnostics must say so
    assert f["node_frames_dropped"] > 0, r["node_diagnostics"]
    assert f["hand_arrays_received"] > 0 and f["hand_arrays_with_2_hands"] == f["hand_arrays_received"], f
    assert f["node_errors"] == 0, r["node_diagnostics"]
    # throughout: no gap > 5 s between HandArrays, from the start of the stream to its end
    assert r["max_gap_between_hand_arrays_s"] <= 5.0
    assert r["shutdown"]["exit_code"] == 0 and not r["traceback_in_log"], r["shutdown"]
    assert r["ok"], proc.stderr[-2000:]
