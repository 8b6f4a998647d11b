"""Architecture rules: no import cycles in wildhands/ and wildhands_ros/, and the library never imports its
applications.

The import graph is read with ``ast`` (nothing is imported): one node per module (``pkg/__init__.py`` is
``pkg``), one edge per import of a module of these packages, resolved to the most specific module it names
(``from wildhands.eval import metrics`` -> ``wildhands.eval.metrics``). Imports under ``if TYPE_CHECKING:``
are left out (they never run). Two graphs:

* module level (what runs when a module is imported): any cycle fails;
* module level + imports inside functions (what runs when the code is used): a cycle there means two
  modules need each other (a function-level import breaks an import-time cycle, not a design cycle); it
  fails too, except the cycles listed in :data:`KNOWN_FUNCTION_LEVEL_CYCLES` (which must still exist, so
  the list only shrinks).

Applications (:data:`APPLICATIONS`: the main job ``wildhands.apps``, the command line ``wildhands.cli``,
and every ``__main__`` module) sit on top of the library: no other module of ``wildhands`` may import
them, at any level.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("wildhands", "wildhands_ros")
#: Modules (and, with their sub-modules, packages) that are applications of the ``wildhands`` library.
APPLICATIONS = ("wildhands.apps", "wildhands.cli")
#: Function-level cycles that exist today, each as the set of its modules: to be removed, never added to.
KNOWN_FUNCTION_LEVEL_CYCLES: list[set[str]] = []

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first such import}


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name -> file of every module of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, top_level_only: bool) -> list[tuple[ast.Import | ast.ImportFrom, int]]:
    """Import statements that run (not under ``if TYPE_CHECKING:``); with ``top_level_only``, those that run
    at import time (outside function bodies)."""
    found: list[tuple[ast.Import | ast.ImportFrom, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit_one(sub)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, node.lineno))
        elif top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        else:
            visit(node)

    visit(tree)
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific module of ours that ``name`` (a dotted module path) names."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path, packages: tuple[str, ...], top_level_only: bool) -> Graph:
    modules = module_names(root, packages)
    graph: Graph = {m: {} for m in modules}
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, line in _imports(tree, top_level_only):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_resolve(alias.name, modules) for alias in node.names]
            else:
                if node.level:
                    base = mod.split(".") if is_package else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    targets.append(_resolve(f"{source}.{alias.name}", modules) or _resolve(source, modules))
            for target in targets:
                if target is not None and target != mod:
                    graph[mod].setdefault(target, line)
    return graph


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:  # Tarjan's algorithm
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph: Graph, component: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component (breadth-first)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # not reached for a strongly connected component


def describe(graph: Graph, cycle: list[str], root: Path, modules: dict[str, Path]) -> str:
    steps = [f"{a} ({modules[a].relative_to(root)}:{graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:])]
    return "import cycle: " + " ; ".join(steps)


def is_application(module: str, applications: tuple[str, ...] = APPLICATIONS) -> bool:
    if module == "__main__" or module.endswith(".__main__"):
        return True
    return any(module == app or module.startswith(app + ".") for app in applications)


def layering_violations(graph: Graph, library: str = "wildhands", applications=APPLICATIONS) -> list[str]:
    """``module:line -> application`` for every library module that imports an application."""
    return [
        f"{mod}:{line} imports the application {target}"
        for mod, targets in sorted(graph.items())
        if (mod == library or mod.startswith(library + ".")) and not is_application(mod, applications)
        for target, line in sorted(targets.items())
        if is_application(target, applications)
    ]


# ---------------------------------------------------------------------------------------------- the repo
MODULES = module_names(REPO, PACKAGES)
TOP_LEVEL = import_graph(REPO, PACKAGES, top_level_only=True)
ALL_LEVELS = import_graph(REPO, PACKAGES, top_level_only=False)


def test_the_graph_covers_the_packages():
    assert "wildhands.eval.scoring" in MODULES and "wildhands_ros.node" in MODULES
    assert "wildhands.runtime.pipeline" in TOP_LEVEL["wildhands.eval.evaluator"]
    assert "wildhands.eval.scoring" in TOP_LEVEL["wildhands.apps.demo"]
    assert any(is_application(m) for m in MODULES)


def test_no_module_level_import_cycles():
    cycles = find_cycles(TOP_LEVEL)
    assert not cycles, "\n".join(describe(TOP_LEVEL, c, REPO, MODULES) for c in cycles)


def test_no_new_function_level_import_cycles():
    cycles = find_cycles(ALL_LEVELS)
    new = [c for c in cycles if set(c) not in KNOWN_FUNCTION_LEVEL_CYCLES]
    assert not new, "\n".join(describe(ALL_LEVELS, c, REPO, MODULES) for c in new)
    gone = [k for k in KNOWN_FUNCTION_LEVEL_CYCLES if k not in [set(c) for c in cycles]]
    assert not gone, f"no longer a cycle, remove it from KNOWN_FUNCTION_LEVEL_CYCLES: {gone}"


def test_the_library_never_imports_its_applications():
    bad = layering_violations(ALL_LEVELS)
    assert not bad, "wildhands/ library modules must not import the applications:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------- the checker can fail
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_cycles_and_layering_violations(tmp_path: Path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "import typing\nimport pkg.c\nif typing.TYPE_CHECKING:\n    import pkg.d\n",
            "pkg/c.py": "from . import a\n",
            "pkg/d.py": "import pkg.b\n",  # b -> d only under TYPE_CHECKING: no cycle
            "pkg/e.py": "def f():\n    from pkg.f import g\n",
            "pkg/f.py": "import pkg.e\n",  # e -> f only inside a function
            "pkg/apps/__init__.py": "",
            "pkg/apps/main.py": "import pkg.a\n",
            "pkg/lib.py": "def run():\n    from pkg.apps.main import x\n",
            "pkg/__main__.py": "import pkg.apps.main\n",  # an entry point: an application itself
        },
    )
    top = import_graph(tmp_path, ("pkg",), top_level_only=True)
    assert top["pkg.a"] == {"pkg.b": 1} and "pkg.d" not in top["pkg.b"] and "pkg.f" not in top["pkg.e"]
    cycles = find_cycles(top)
    assert cycles == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    modules = module_names(tmp_path, ("pkg",))
    assert describe(top, cycles[0], tmp_path, modules).startswith("import cycle: pkg.a (pkg/a.py:1) -> pkg.b")
    full = import_graph(tmp_path, ("pkg",), top_level_only=False)
    assert sorted(find_cycles(full)) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["pkg.e", "pkg.f", "pkg.e"]]
    violations = layering_violations(full, "pkg", ("pkg.apps",))
    assert violations == ["pkg.lib:2 imports the application pkg.apps.main"]
    assert layering_violations(top, "pkg", ("pkg.apps",)) == []
