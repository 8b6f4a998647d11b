"""The MediaPipe detector models (the cached .tflite files, wildhands.runtime.detection.models) for the tests
that need them: the one check, its skip reason and the ``needs_detector_models`` marker.

A plain module, imported as ``from detector_models import needs_detector_models`` (pytest puts test/, the
folder of test/conftest.py, on sys.path)."""

from __future__ import annotations

import importlib.util

import pytest

from wildhands.runtime.detection.models import FETCH_COMMAND, default_model_dir, missing_models


def detector_models_missing(check_hash: bool = False, litert: bool = True) -> str | None:
    """Why the MediaPipe detector models cannot be used here (the skip reason), or None when they can.

    check_hash: also check the files' sha256 (as the detector does when it loads them), not only that they
        are in the cache.
    litert: also need the ai-edge-litert runtime that runs them.
    """
    if litert and importlib.util.find_spec("ai_edge_litert") is None:
        return "ai-edge-litert is not installed (requirements/core.txt; run scripts/setup.sh)"
    missing = missing_models(check_hash=check_hash)
    if missing:
        return (
            f"MediaPipe detector models {missing} {'missing or corrupt' if check_hash else 'missing'} in "
            f"{default_model_dir()}; run `{FETCH_COMMAND}` (scripts/setup.sh does this)"
        )
    return None


_REASON = detector_models_missing()
needs_detector_models = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
"""Skips a test (or, as ``pytestmark``, a module) unless LiteRT and the cached models (present; the sha256
is checked when the detector loads them) are there."""
