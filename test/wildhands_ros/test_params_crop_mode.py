"""The crop_mode parameter: declared with its choices, refused with its name when wrong (at start-up and by
the check), and handed to the pipeline."""

from __future__ import annotations

import dataclasses

import pytest
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter

from wildhands.runtime.pipeline import CROP_MODES
from wildhands_ros.params import PARAM_SPECS, NodeParams, check_value, descriptor


def test_crop_mode_parameter():
    spec = PARAM_SPECS["crop_mode"]
    assert spec.choices == CROP_MODES and spec.read_only and spec.default == NodeParams.defaults().crop_mode
    assert "rectified" in descriptor("crop_mode").additional_constraints
    assert "crop_mode='warp' not in" in check_value("crop_mode", "warp")
    with pytest.raises(ValueError, match="crop_mode='warp' not in"):
        dataclasses.replace(NodeParams.defaults(), crop_mode="warp")
    for mode in CROP_MODES:
        assert dataclasses.replace(NodeParams.defaults(), crop_mode=mode).pipeline_config().crop_mode == mode


def test_node_refuses_a_bad_crop_mode(ros_context):
    from wildhands_ros.node import WildHandsNode

    with pytest.raises((ValueError, ParameterException), match="crop_mode='warp' not in"):
        WildHandsNode(parameter_overrides=[Parameter("crop_mode", value="warp")])
    assert rclpy.ok()
