"""Where wildhands keeps what it derives or fetches (ONNX exports, TensorRT engines, the detector's models,
synthetic test sets): ``$WILDHANDS_CACHE``, default ``~/.cache/wildhands``. The one definition."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The cache root: $WILDHANDS_CACHE or ~/.cache/wildhands (not created here)."""
    root = os.environ.get("WILDHANDS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wildhands")
    return Path(root)
