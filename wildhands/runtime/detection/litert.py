"""LiteRT (TFLite) interpreters: the one place that loads a ``.tflite`` file for the CPU."""

from __future__ import annotations

import os

__all__ = ["load_interpreter"]


def load_interpreter(path: os.PathLike, threads: int):
    """A LiteRT interpreter of ``path`` on ``threads`` CPU threads, tensors allocated; ImportError naming the
    package to install when LiteRT is missing."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the MediaPipe hand detector needs LiteRT: pip install ai-edge-litert==2.3.0 "
            "(listed in requirements/core.txt)"
        ) from exc
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter
