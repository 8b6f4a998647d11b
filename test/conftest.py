"""Shared test set-up: markers that skip with a reason, and seeded RNGs for every test."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest

try:
    import torch
except ImportError:  # pragma: no cover - torch is a hard dependency of wildhands
    torch = None


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


_MARKER_REQUIREMENTS = {
    "ros": ("rclpy", "rclpy is not installed (run scripts/setup.sh)"),
    "onnxruntime": ("onnxruntime", "onnxruntime is not installed"),
    "smplx": ("smplx", "smplx is not installed"),
    "tensorrt": ("tensorrt", "TensorRT is not installed"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, (module, reason) in _MARKER_REQUIREMENTS.items():
            if marker in item.keywords and not _has(module):
                item.add_marker(pytest.mark.skip(reason=reason))
        if "gpu" in item.keywords and (torch is None or not torch.cuda.is_available()):
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed Python, numpy and torch before each test and restore torch's RNG after it."""
    random.seed(0)
    np.random.seed(0)
    state = torch.get_rng_state() if torch is not None else None
    if torch is not None:
        torch.manual_seed(0)
    yield
    if torch is not None:
        torch.set_rng_state(state)
