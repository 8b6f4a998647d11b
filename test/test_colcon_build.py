"""The package builds with colcon (ament_cmake: interfaces + Python + launch/config) and imports from the
install tree. Skipped where colcon is not installed (it is in the project venv: requirements/dev.txt)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.ros
def test_colcon_build_installs_an_importable_package(tmp_path):
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists() and shutil.which("colcon") is None:
        pytest.skip("colcon is not installed")
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "check_colcon.sh"), str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "colcon install OK" in result.stdout
