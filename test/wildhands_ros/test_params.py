"""Parameters: descriptors, checks with messages naming the parameter, YAML defaults == declared defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter

from wildhands_ros.params import PARAM_SPECS, NodeParams, check_value, descriptor

REPO = Path(__file__).resolve().parents[2]


def test_specs_match_dataclass():
    assert list(PARAM_SPECS) == [f.name for f in dataclasses.fields(NodeParams)]
    assert NodeParams.defaults().engine == "onnxruntime" and NodeParams.defaults().weights == "default"


def test_yaml_defaults_equal_declared_defaults():
    data = yaml.safe_load((REPO / "config" / "hands.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert values == {name: spec.default for name, spec in PARAM_SPECS.items()}


@pytest.mark.parametrize(
    "name, value, text",
    [("engine", "trt", "engine='trt' not in"), ("detector", "yolo", "detector='yolo' not in"),
     ("max_hands", 0, "max_hands=0 must be in [1, 16]"), ("box_scale", 9.0, "box_scale=9.0 must be in"),
     ("camera_info_policy", "guess", "camera_info_policy='guess'"),
     ("publish_tf", "yes", "must be of type bool"),
     ("estimate_hfov_deg", float("nan"), "estimate_hfov_deg=nan"),
     ("tracked_steps", 101, "tracked_steps=101 must be in [0, 100]")],
)  # fmt: skip
def test_bad_values_are_refused_with_the_name(name, value, text):
    assert text in check_value(name, value)
    with pytest.raises(ValueError, match=text.replace("[", r"\[")):
        dataclasses.replace(NodeParams.defaults(), **{name: value})


def test_descriptors():
    d = descriptor("box_scale")
    assert d.read_only and d.floating_point_range[0].from_value == 1.0 and d.description
    assert descriptor("max_hands").integer_range[0].to_value == 16
    assert "onnxruntime" in descriptor("engine").additional_constraints
    assert all(descriptor(n).description for n in PARAM_SPECS)


def test_node_refuses_bad_startup_values(ros_context):
    from wildhands_ros.node import WildHandsNode

    with pytest.raises((ValueError, ParameterException), match="engine='trt' not in"):
        WildHandsNode(parameter_overrides=[Parameter("engine", value="trt")])
    with pytest.raises((ValueError, ParameterException)):
        WildHandsNode(parameter_overrides=[Parameter("max_hands", value=99)])
    assert rclpy.ok()
