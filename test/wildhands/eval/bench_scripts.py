"""Load a bench script as a module, as `python bench/<name>.py` runs it (its folder first on sys.path, so
that it finds its sibling helpers), for the tests that call a bench's functions at tiny budgets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[3] / "bench"


def load_bench(name: str):
    """The module of ``bench/<name>.py`` (registered as ``bench_<name>``)."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
