"""Architecture rules: the core package knows nothing of ROS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROS_MODULES = {
    "rclpy",
    "rosidl_runtime_py",
    "sensor_msgs",
    "sensor_msgs_py",
    "geometry_msgs",
    "std_msgs",
    "visualization_msgs",
    "diagnostic_msgs",
    "tf2_ros",
    "tf2_msgs",
    "launch",
    "launch_ros",
    "cv_bridge",
    "message_filters",
    "builtin_interfaces",
    "wildhands_ros",
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


CORE_FILES = sorted((REPO / "wildhands").rglob("*.py"))


def test_core_package_has_files():
    assert len(CORE_FILES) > 10


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_core_package_imports_no_ros(path: Path):
    bad = _imported_top_levels(path) & ROS_MODULES
    assert not bad, (
        f"{path.relative_to(REPO)} imports ROS modules {sorted(bad)}; wildhands/ must stay ROS-free"
    )


def test_layering_check_detects_a_ros_import(tmp_path: Path):
    """The checker itself must be able to fail."""
    offender = tmp_path / "x.py"
    offender.write_text("import numpy\nfrom rclpy.node import Node\n")
    assert _imported_top_levels(offender) & ROS_MODULES == {"rclpy"}


TEST_FILES = sorted(p for p in (REPO / "test").rglob("*.py") if "data" not in p.relative_to(REPO).parts)


def test_tests_never_import_bench():
    """Test helpers live under test/ (or in the library: wildhands_ros.testing,
    wildhands.retarget.example_poses); a bench may run as a command in a test, never be imported by one."""
    offenders = [str(p.relative_to(REPO)) for p in TEST_FILES if "bench" in _imported_top_levels(p)]
    assert len(TEST_FILES) > 20 and not offenders, offenders


BENCH_FILES = sorted((REPO / "bench").glob("*.py"))


@pytest.mark.parametrize("path", BENCH_FILES, ids=lambda p: p.name)
def test_bench_scripts_do_not_edit_sys_path(path: Path):
    """A bench runs as `python bench/<name>.py`: its siblings import as plain modules (bench/ is the
    script's folder on sys.path), the library as the installed package; no script edits sys.path."""
    tree = ast.parse(path.read_text(), filename=str(path))
    edits = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "path"
        and isinstance(node.value, ast.Name) and node.value.id == "sys"
    ]  # fmt: skip
    assert not edits, f"{path.name} touches sys.path at lines {edits}"
    assert "bench" not in _imported_top_levels(path), f"{path.name}: import its siblings without 'bench.'"
