"""The README stays true: its commands exist, .ci/run runs its test command, its Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_first_lines_are_the_two_newcomer_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert block[0].startswith("bash scripts/setup.sh && .venv/bin/wildhands demo")
    assert block[1].startswith("bash scripts/test.sh")
    assert (REPO / "scripts" / "setup.sh").is_file() and (REPO / "scripts" / "test.sh").is_file()


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci.splitlines()[-1]


def test_python_api_example_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    code = re.search(r"## Python API\n```python\n(.*?)```", README, re.S).group(1)
    code = code.replace('engine="onnxruntime"', 'engine="torch", model=ModelConfig(backbone="resnet18")')
    scope: dict = {}
    exec("from wildhands.model.config import ModelConfig\n" + code, scope)
    hands = scope["hands"]
    assert sorted(h.side for h in hands) == ["left", "right"]
    assert hands[0].keypoints_cam_m.shape == (21, 3)


def test_every_cli_subcommand_in_the_readme_exists():
    from wildhands.cli import build_parser

    parser = build_parser()
    commands = set(re.findall(r"\.venv/bin/wildhands (\w+)", README))
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert commands and commands <= set(choices), commands - set(choices)
