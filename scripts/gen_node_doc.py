"""Write the parameter tables of docs/node.md and docs/retargeting.md from the nodes' parameter tables.

    .venv/bin/python scripts/gen_node_doc.py            # rewrite the tables between their markers
    .venv/bin/python scripts/gen_node_doc.py --check    # exit 1 (and say which) when a doc is out of date

The node's parameters are ``wildhands_ros.params.PARAM_SPECS`` (written between ``<!-- params:begin -->``
and ``<!-- params:end -->`` in docs/node.md), the retargeting node's ``RETARGET_PARAM_SPECS`` of
``wildhands_ros.retarget_params`` (between ``<!-- retarget-params:begin -->`` / ``<!-- retarget-params:end
-->`` in docs/retargeting.md). Everything outside the markers is left as it is.
test/wildhands_ros/test_node_doc.py fails when a table differs from what this script writes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# (doc, marker name, module, attribute)
TABLES = (
    ("docs/node.md", "params", "wildhands_ros.params", "PARAM_SPECS"),
    ("docs/retargeting.md", "retarget-params", "wildhands_ros.retarget_params", "RETARGET_PARAM_SPECS"),
)
READ_ONLY = " *(read-only: restart to change)*"


def _number(x) -> str:
    if isinstance(x, float) and x != 0 and math.isclose(x / math.pi, round(x / math.pi), abs_tol=1e-12):
        k = round(x / math.pi)
        return ("-" if k < 0 else "") + (f"{abs(k)}π" if abs(k) != 1 else "π")
    return repr(x)


def _default(value) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`" if isinstance(value, str) else f"`{_number(value)}`"


def _type(value) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]


def _allowed(spec) -> str:
    if spec.choices is not None:
        return ", ".join(spec.choices)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, float):
            lo, hi = float(lo), float(hi)
        return f"[{_number(lo)}, {_number(hi)}]"
    return "not empty" if spec.non_empty else ""


def parameters_markdown(specs: dict) -> str:
    """The markdown table of ``specs`` (name -> wildhands_ros.params.ParamSpec), in their order."""
    rows = [
        "| name | type | default | range / allowed | description |",
        "|---|---|---|---|---|",
    ]
    for name, spec in specs.items():
        # `|` would end the cell, `<name>` would be taken for an HTML tag
        description = spec.description.replace("|", "\\|").replace("<", "&lt;")
        description += READ_ONLY if spec.read_only else ""
        cells = [f"`{name}`", _type(spec.default), _default(spec.default), _allowed(spec), description]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def with_table(text: str, name: str, table: str, doc: str = "the doc") -> str:
    """``text`` with what lies between the markers ``name`` replaced by ``table``."""
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{doc} must hold {begin} ... {end} exactly once, in that order")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{table}{end}{tail}"


def expected_docs() -> dict[Path, tuple[str, str]]:
    """doc path -> (its text now, its text with the generated tables)."""
    import importlib

    out: dict[Path, tuple[str, str]] = {}
    for doc, name, module, attribute in TABLES:
        path = REPO / doc
        current = out[path][1] if path in out else path.read_text()
        specs = getattr(importlib.import_module(module), attribute)
        new = with_table(current, name, parameters_markdown(specs), doc)
        out[path] = (out[path][0] if path in out else current, new)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a doc is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, (current, new) in expected_docs().items():
        if current == new:
            continue
        stale.append(path.relative_to(REPO))
        if not args.check:
            path.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run scripts/gen_node_doc.py", file=sys.stderr)
        return 1
    for doc in stale:
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
