"""docs/node.md and docs/retargeting.md list the parameters the nodes declare: their tables are what
scripts/gen_node_doc.py writes from wildhands_ros.params.PARAM_SPECS and RETARGET_PARAM_SPECS."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_node_doc", REPO / "scripts" / "gen_node_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_node_doc", module)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@pytest.mark.parametrize("doc", sorted({table[0] for table in GEN.TABLES}))
def test_parameter_tables_are_generated_from_the_specs(doc):
    current, expected = GEN.expected_docs()[REPO / doc]
    assert current == expected, (
        f"{doc}: its parameter table differs from the nodes' parameter specs; "
        "run .venv/bin/python scripts/gen_node_doc.py"
    )


def test_every_parameter_has_a_row():
    from wildhands_ros.params import PARAM_SPECS
    from wildhands_ros.retarget_params import RETARGET_PARAM_SPECS

    for doc, specs in (("docs/node.md", PARAM_SPECS), ("docs/retargeting.md", RETARGET_PARAM_SPECS)):
        text = (REPO / doc).read_text()
        missing = [name for name in specs if f"| `{name}` |" not in text]
        assert not missing, f"{doc} lacks {missing}; run .venv/bin/python scripts/gen_node_doc.py"


def test_the_generator_replaces_only_the_table():
    text = "intro\n<!-- params:begin -->\nold table\n<!-- params:end -->\noutro\n"
    new = GEN.with_table(text, "params", "| new |\n")
    assert new == "intro\n<!-- params:begin -->\n| new |\n<!-- params:end -->\noutro\n"
    with pytest.raises(ValueError, match="exactly once"):
        GEN.with_table("no markers\n", "params", "| new |\n")


def test_the_check_mode_reports_a_stale_doc(monkeypatch, capsys):
    stale = {REPO / "docs/node.md": ("old", "new")}
    monkeypatch.setattr(GEN, "expected_docs", lambda: stale)
    assert GEN.main(["--check"]) == 1
    assert "run scripts/gen_node_doc.py" in capsys.readouterr().err
