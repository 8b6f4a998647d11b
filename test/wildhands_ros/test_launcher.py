"""The shared helpers of benches and tests: the loopback environment and the node launcher's command line."""

from __future__ import annotations

import os
import sys

from wildhands_ros.loopback import keep_on_loopback, loopback_env
from wildhands_ros.testing import DEFAULT_PARAMS_FILE, boxes_node_params, node_command, node_env


def test_loopback_env_sets_localhost_and_drops_peers(monkeypatch):
    base = {"ROS_STATIC_PEERS": "10.0.0.1", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "KEEP": "1"}
    env = loopback_env(base, ROS_LOG_DIR=123)
    assert env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "KEEP": "1", "ROS_LOG_DIR": "123"}
    assert base["ROS_STATIC_PEERS"] == "10.0.0.1"  # a copy
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("ROS_STATIC_PEERS", "10.0.0.1")
    keep_on_loopback(force=False)  # the demo: a user's choice wins
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET" and "ROS_STATIC_PEERS" in os.environ
    keep_on_loopback()
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and "ROS_STATIC_PEERS" not in os.environ


def test_node_command_and_env(tmp_path):
    cmd = node_command("/ns", boxes_node_params(5.0), remap={"image": "/cam/image"}, extra=("-p", "x:=1"))
    start = cmd.index("--ros-args")
    assert cmd[0].endswith("wildhands_node") or cmd[:3] == [sys.executable, "-m", "wildhands_ros.node"]
    assert cmd[start + 1 : start + 5] == ["--params-file", str(DEFAULT_PARAMS_FILE), "-r", "__ns:=/ns"]
    assert "log_throttle_sec:=5.0" in cmd and "detector:=none" in cmd
    assert cmd[-4:] == ["-r", "image:=/cam/image", "-p", "x:=1"]
    assert "--params-file" not in node_command(params_file=None)
    env = node_env(tmp_path)
    assert env["ROS_LOG_DIR"] == str(tmp_path) and env["PYTHONUNBUFFERED"] == "1"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and "ROS_STATIC_PEERS" not in env
