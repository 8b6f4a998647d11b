"""The README and docs/ stay true: the README is short and starts with the two commands, .ci/run runs its test
command, its Python example runs, the CLI commands exist, links and anchors resolve, the files the docs name
exist, and models/README.md agrees with the manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
DOCS = sorted((REPO / "docs").glob("*.md"))
MARKDOWN = [REPO / "README.md", REPO / "models" / "README.md", *DOCS]
README_MAX_BYTES = 12 * 1024


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _outside_code(text: str) -> str:
    """``text`` with fenced code blocks blanked (their lines kept, emptied)."""
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
            out.append("")
        else:
            out.append("" if fence else line)
    return "\n".join(out)


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a markdown text."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in _outside_code(text).splitlines():
        m = re.match(r"#{1,6} (.+?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def links(text: str) -> list[str]:
    """Targets of the inline links and images outside code blocks."""
    return re.findall(r"\]\(([^)\s]+)\)", _outside_code(text))


def test_first_lines_are_the_two_newcomer_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert block[0].startswith("bash scripts/setup.sh && .venv/bin/wildhands demo")
    assert block[1].startswith("bash scripts/test.sh")
    assert (REPO / "scripts" / "setup.sh").is_file() and (REPO / "scripts" / "test.sh").is_file()


def test_readme_is_short():
    size = len(README.encode())
    assert size < README_MAX_BYTES, f"README.md: {size} bytes, limit {README_MAX_BYTES}; move detail to docs/"


def test_readme_has_its_sections():
    for heading in ("## ROS 2 node", "## Python API", "## Train and evaluate", "## Documentation"):
        assert f"\n{heading}\n" in README, heading
    assert "ros2 launch wildhands_ros hands.launch.py" in README
    assert "](docs/img/demo_overlay.png)" in README and (REPO / "docs/img/demo_overlay.png").is_file()
    train_eval = README.split("## Train and evaluate\n", 1)[1].split("\n## ", 1)[0]
    assert ".venv/bin/wildhands train " in train_eval and ".venv/bin/wildhands eval " in train_eval


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


def test_every_cli_subcommand_in_the_readme_and_docs_exists():
    from wildhands.cli import build_parser

    parser = build_parser()
    commands = {c for md in MARKDOWN for c in re.findall(r"\.venv/bin/wildhands (\w+)", md.read_text())}
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert commands and commands <= set(choices), commands - set(choices)


@pytest.mark.parametrize("md", MARKDOWN, ids=_rel)
def test_links_and_anchors_resolve(md):
    broken = []
    for target in links(md.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (md.parent / path).resolve() if path else md
        if not file.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in github_anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {_rel(file)}")
    assert not broken, f"{_rel(md)}: " + "; ".join(broken)


def test_the_readme_links_every_doc():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in links(README) if t.startswith("docs/")}
    missing = [_rel(d) for d in DOCS if d.resolve() not in linked]
    assert not missing, f"README.md's documentation index lacks {missing}"


def test_the_readme_topics_table_is_the_node_docs():
    def topics(text: str) -> str:
        start = text.index("| name | type | QoS | description |")
        return text[start : text.index("\n\n", start)]

    assert topics(README) == topics((REPO / "docs" / "node.md").read_text()), (
        "README.md's topics table differs from docs/node.md's: keep them equal"
    )


FOLDERS = ("bench", "config", "docs", "launch", "models", "msg", "requirements", "scripts", "test")
FOLDERS += ("wildhands", "wildhands_ros")
FILE = r"(?<![\w./-])((?:" + "|".join(FOLDERS) + r")/"
FILE += r"[\w./-]*?\.(?:py|json|yaml|sh|md|png|pt|xml|rviz|urdf|txt|msg))(?![\w/-])"


@pytest.mark.parametrize("md", MARKDOWN, ids=_rel)
def test_files_named_in_the_docs_exist(md):
    named = set(re.findall(FILE, md.read_text()))
    missing = sorted(f for f in named if not (REPO / f).exists())
    assert not missing, f"{_rel(md)} names files that do not exist: {missing}"


def test_docs_cited_by_code_and_config_exist():
    cited = {}
    for folder in FOLDERS:
        for f in (REPO / folder).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".yaml", ".sh", ".txt", ".xml"):
                for doc in re.findall(r"docs/[\w-]+\.md", f.read_text(errors="ignore")):
                    cited.setdefault(doc, _rel(f))
    missing = {doc: by for doc, by in cited.items() if not (REPO / doc).is_file()}
    assert cited and not missing, f"cited but missing (doc: cited by): {missing}"


def test_models_readme_matches_the_manifest():
    manifest = json.loads((REPO / "models" / "manifest.json").read_text())
    text = (REPO / "models" / "README.md").read_text()

    def figure(n: int) -> str:
        return f"{n:,}".replace(",", " ")

    training = manifest["weights"][manifest["default"]]["training"]
    done, planned = training["steps_done"], training["config"]["optim"]["steps"]
    assert f"{figure(done)} of {figure(planned)} training steps" in text, (done, planned)
    assert f"{figure(manifest['lifting']['training']['steps_done'])} steps" in text
