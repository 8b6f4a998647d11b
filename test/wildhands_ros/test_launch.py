"""launch/hands.launch.py: parsed with ast here; loaded through `launch` where it is installed."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from wildhands_ros.params import PARAM_SPECS
from wildhands_ros.retarget_params import RETARGET_PARAM_SPECS

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "hands.launch.py"
REMAPS = {"image", "camera_info", "hand_boxes"}
LAUNCH_ONLY = {"params_file", "namespace", "rviz", "retarget", "retarget_params_file"}
RETARGET_ARGS = {"retarget_side": "side", "robot_frame": "robot_frame", "urdf": "urdf"}  # argument -> param


def _declared_arguments(tree: ast.AST) -> list[tuple[str, str | None]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DeclareLaunchArgument":
            name = node.args[0].value
            desc = next((k.value.value for k in node.keywords if k.arg == "description"), None)
            out.append((name, desc))
    return out


def test_launch_file_parses_and_every_argument_is_used():
    tree = ast.parse(LAUNCH.read_text())
    args = _declared_arguments(tree)
    assert len(args) >= 8 and all(desc for _, desc in args), "every argument needs a description"
    for name, _ in args:
        assert name in PARAM_SPECS or name in REMAPS or name in LAUNCH_ONLY or name in RETARGET_ARGS, (
            f"launch argument {name!r} is unused"
        )
    assert all(p in RETARGET_PARAM_SPECS for p in RETARGET_ARGS.values())
    names = {n for n, _ in args}
    assert {"engine", "weights", "image", "camera_info", "namespace", "rviz"} <= names
    text = LAUNCH.read_text()
    assert "eval(" not in text and "hands.rviz" in text and "IfCondition" in text
    assert 'executable="wildhands_node"' in text
    assert (
        'executable="wildhands_retarget_node"' in text
        and 'IfCondition(LaunchConfiguration("retarget"))' in text
    )
    for arg, param in RETARGET_ARGS.items():
        assert f'"{param}": ParameterValue(LaunchConfiguration("{arg}")' in text, arg


def test_argument_checker_can_fail(tmp_path):
    bad = 'DeclareLaunchArgument("not_a_param", default_value="", description="x")'
    assert _declared_arguments(ast.parse(bad)) == [("not_a_param", "x")]
    assert "not_a_param" not in PARAM_SPECS


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None, reason="launch/launch_ros not installed (pip ROS)"
)
def test_launch_description_loads():  # pragma: no cover - runs on a ROS 2 install only
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    ld = get_launch_description_from_python_launch_file(str(LAUNCH))
    assert isinstance(ld, LaunchDescription)
    declared = {a.name for a in ld.entities if isinstance(a, DeclareLaunchArgument)}
    assert {n for n, _ in _declared_arguments(ast.parse(LAUNCH.read_text()))} == declared
