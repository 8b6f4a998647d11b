"""launch/hands.launch.py: parsed with ast, and evaluated with stand-ins of `launch`/`launch_ros` (which
pip ROS does not have); loaded through the real `launch` where it is installed."""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

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
    # that every retarget argument reaches its parameter: test_every_parameter_argument_reaches_its_parameter


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


# --- the launch file evaluated with stand-ins of launch / launch_ros (each records its arguments) ---------


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context):
        return context.launch_configurations[self.args[0]]


class _ParameterValue(_Recorded):
    pass


class _OpaqueFunction(_Recorded):
    pass


class _Context:
    def __init__(self, launch_configurations: dict[str, str]):
        self.launch_configurations = launch_configurations


def _stand_ins(monkeypatch) -> None:
    def module(name: str, **attrs) -> None:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, mod)

    module("launch", LaunchDescription=type("LaunchDescription", (_Recorded,), {}))
    module(
        "launch.actions",
        DeclareLaunchArgument=type("DeclareLaunchArgument", (_Recorded,), {}),
        OpaqueFunction=_OpaqueFunction,
    )
    module("launch.conditions", IfCondition=type("IfCondition", (_Recorded,), {}))
    module("launch.substitutions", LaunchConfiguration=_LaunchConfiguration)
    module("launch_ros")
    module("launch_ros.actions", Node=type("Node", (_Recorded,), {}))
    module("launch_ros.parameter_descriptions", ParameterValue=_ParameterValue)
    module("ament_index_python")
    module("ament_index_python.packages", get_package_share_directory=lambda package: str(REPO))


def _launch(
    monkeypatch, **user_arguments: str
) -> tuple[dict[str, _Recorded], dict[str, _Recorded], _Context]:
    """Evaluate the launch file as `ros2 launch ... name:=value` would: declared arguments, the nodes
    (OpaqueFunctions run with the declared defaults updated with user_arguments) and the context."""
    _stand_ins(monkeypatch)
    spec = importlib.util.spec_from_file_location("_hands_launch_under_test", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = list(module.generate_launch_description().args[0])
    declared = {e.args[0]: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    unknown = set(user_arguments) - set(declared)
    assert not unknown, f"not launch arguments: {unknown}"
    context = _Context({name: d.kwargs.get("default_value", "") for name, d in declared.items()})
    context.launch_configurations.update(user_arguments)
    nodes = {}
    while entities:
        entity = entities.pop(0)
        if isinstance(entity, _OpaqueFunction):
            function = entity.kwargs.get("function", entity.args[0] if entity.args else None)
            entities.extend(function(context, *entity.kwargs.get("args", ())) or [])
        elif type(entity).__name__ == "Node":
            nodes[entity.kwargs["name"]] = entity
    return declared, nodes, context


def _performed(value, context: _Context):
    if isinstance(value, _LaunchConfiguration):
        return value.perform(context)
    if isinstance(value, list | tuple) and all(isinstance(v, str | _LaunchConfiguration) for v in value):
        return "".join(_performed(v, context) for v in value)
    return value


def _typed(value, context: _Context):
    """A parameter value as launch_ros evaluates it: ParameterValue(substitution, value_type) coerced like
    launch's coerce_to_type (bool: yaml), a plain value as it is."""
    if isinstance(value, _ParameterValue):
        inner, value_type = value.args[0], value.kwargs.get("value_type")
        performed = _performed(inner, context)
        if inner is performed or value_type is str:
            return performed  # a scalar stays as it is; str stays str
        loaded = yaml.safe_load(performed)
        assert value_type is None or isinstance(loaded, value_type), (performed, value_type)
        return loaded
    assert not isinstance(value, _LaunchConfiguration | list | tuple), "untyped substitution"
    return value


def _effective(node: _Recorded, context: _Context) -> dict:
    """The node's parameters after its `parameters` list: YAML files (/** ros__parameters) and dicts in
    order, later ones overriding earlier ones."""
    out: dict = {}
    for entry in node.kwargs["parameters"]:
        if isinstance(entry, dict):
            out.update({name: _typed(value, context) for name, value in entry.items()})
        else:
            path = Path(str(_performed(entry, context)))
            out.update(yaml.safe_load(path.read_text())["/**"]["ros__parameters"])
    return out


def _yaml_params(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())["/**"]["ros__parameters"]


def test_no_arguments_gives_exactly_the_params_files_values(monkeypatch):
    """Issue 17: `ros2 launch wildhands_ros hands.launch.py` started an UNTRAINED torch network (the
    arguments' defaults engine:=torch weights:='' overrode config/hands.yaml)."""
    _, nodes, context = _launch(monkeypatch)
    params = _effective(nodes["wildhands_node"], context)
    hands = _yaml_params("hands.yaml")
    assert hands["engine"] == "onnxruntime" and hands["weights"] == "default"
    assert params["engine"] == "onnxruntime" and params["weights"] == "default"
    assert params == hands
    assert _effective(nodes["retarget_node"], context) == _yaml_params("retarget.yaml")


def test_an_argument_overrides_only_its_parameter(monkeypatch):
    _, nodes, context = _launch(monkeypatch, engine="torch")
    params = _effective(nodes["wildhands_node"], context)
    assert params == {**_yaml_params("hands.yaml"), "engine": "torch"}


def test_boolean_arguments_are_booleans_and_strings_stay_strings(monkeypatch):
    _, nodes, context = _launch(monkeypatch, publish_debug_image="true", tracking="False", weights="1")
    params = _effective(nodes["wildhands_node"], context)
    assert params["publish_debug_image"] is True and params["tracking"] is False
    assert params["weights"] == "1" and isinstance(params["weights"], str)
    assert params == {
        **_yaml_params("hands.yaml"),
        "publish_debug_image": True,
        "tracking": False,
        "weights": "1",
    }


@pytest.mark.parametrize("bad", ["yes", "1", "on", "treu"])
def test_a_bad_boolean_argument_is_refused(monkeypatch, bad):
    with pytest.raises(ValueError, match="publish_debug_image"):
        _launch(monkeypatch, publish_debug_image=bad)


def test_every_parameter_argument_reaches_its_parameter(monkeypatch):
    """Every launch argument named after a wildhands_node parameter, and every retarget argument, defaults to
    empty (= the params file's value) and, given, changes exactly its parameter."""
    declared, _, _ = _launch(monkeypatch)
    node_args = {n: n for n in declared if n in PARAM_SPECS}
    assert {"engine", "weights", "publish_debug_image"} <= set(node_args)
    for node_name, arguments, params_yaml in (
        ("wildhands_node", node_args, "hands.yaml"),
        ("retarget_node", RETARGET_ARGS, "retarget.yaml"),
    ):
        base = _yaml_params(params_yaml)
        for arg, param in arguments.items():
            assert declared[arg].kwargs.get("default_value") == "", arg
            assert "params file's value" in declared[arg].kwargs["description"], arg
            value = (not base[param]) if isinstance(base[param], bool) else f"{param}_from_launch"
            _, nodes, context = _launch(monkeypatch, **{arg: str(value).lower()})
            assert _effective(nodes[node_name], context) == {**base, param: value}, arg


def test_retarget_node_keeps_a_custom_params_files_values(monkeypatch, tmp_path):
    """robot_frame/urdf '' mean the camera frame / the bundled hand, but only as parameter values: left
    empty, the arguments no longer wipe a params file's robot_frame or urdf (nor a hands params file's
    engine)."""
    retarget = {
        **_yaml_params("retarget.yaml"),
        "side": "left",
        "robot_frame": "base_link",
        "urdf": "/h.urdf",
    }
    hands = {**_yaml_params("hands.yaml"), "engine": "tensorrt", "publish_debug_image": True}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": retarget}}))
    (tmp_path / "h.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": hands}}))
    _, nodes, context = _launch(
        monkeypatch,
        retarget="true",
        retarget_params_file=str(tmp_path / "r.yaml"),
        params_file=str(tmp_path / "h.yaml"),
    )
    assert _effective(nodes["retarget_node"], context) == retarget
    assert _effective(nodes["wildhands_node"], context) == hands
    condition = nodes["retarget_node"].kwargs["condition"]
    assert _performed(condition.args[0], context) == "true"


def test_stand_in_evaluation_can_fail(monkeypatch, tmp_path):
    """The harness sees an argument default that overrides the params file (today's defect, in small)."""
    bad = tmp_path / "bad.launch.py"
    bad.write_text(
        "from launch import LaunchDescription\n"
        "from launch.actions import DeclareLaunchArgument\n"
        "from launch.substitutions import LaunchConfiguration\n"
        "from launch_ros.actions import Node\n"
        "from launch_ros.parameter_descriptions import ParameterValue\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([\n"
        "        DeclareLaunchArgument('params_file', default_value='config/hands.yaml', description='x'),\n"
        "        DeclareLaunchArgument('engine', default_value='torch', description='x'),\n"
        "        Node(name='wildhands_node', parameters=[LaunchConfiguration('params_file'),\n"
        "             {'engine': ParameterValue(LaunchConfiguration('engine'), value_type=str)}])])\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "LAUNCH", bad)
    monkeypatch.chdir(REPO)
    _, nodes, context = _launch(monkeypatch)
    assert (
        _effective(nodes["wildhands_node"], context)["engine"]
        == "torch"
        != _yaml_params("hands.yaml")["engine"]
    )
