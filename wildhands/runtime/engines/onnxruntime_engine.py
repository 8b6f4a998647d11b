"""ONNX Runtime engine (the CPU default): runs the graph written by ``wildhands export --onnx``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wildhands.runtime.engines.base import INPUT_NAMES, OUTPUT_NAMES, EngineOutput, check_inputs


def cpu_session(onnx_path: str | Path, threads: int = 0):
    """An ONNX Runtime session of ``onnx_path`` on the CPU, the one way this project makes them:
    ``threads`` intra-op threads (0 = all cores), every graph optimisation, and no spin-waiting workers
    after a run (they took the cores from the hand layer, the messages and the next frame's detector:
    2-hand frame 217 -> 124 ms on a shared 2-core machine, bench/cpu_threads.py). ValueError naming the
    file when it cannot be loaded or onnxruntime is missing."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(
            "ONNX Runtime is not installed: pip install onnxruntime (requirements/core.txt)"
        ) from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise ValueError(f"cannot load ONNX file {onnx_path}: {exc}") from exc


class OnnxRuntimeEngine:
    """Runs an exported WildHands ONNX graph with ONNX Runtime on the CPU."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, image_size: int, num_kpe_points: int, threads: int = 0) -> None:
        path = Path(onnx_path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file not found: {path} (write it with `wildhands export --onnx`)")
        self.session = cpu_session(path, threads)
        names = tuple(i.name for i in self.session.get_inputs())
        if names != INPUT_NAMES:
            raise ValueError(f"{path}: inputs {names} are not the WildHands inputs {INPUT_NAMES}")
        self.image_size = image_size
        self.num_kpe_points = num_kpe_points

    def infer(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        check_inputs(images, kpe, self.image_size, self.num_kpe_points)
        feeds = {
            "images": np.ascontiguousarray(images, dtype=np.float32),
            "kpe": np.ascontiguousarray(kpe, dtype=np.float32),
        }
        return EngineOutput.from_sequence(self.session.run(list(OUTPUT_NAMES), feeds))
