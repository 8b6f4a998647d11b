"""Inference engines behind one interface (:class:`~wildhands.runtime.engines.base.Engine`).

``build_engine(name, model, ...)`` with name in :data:`ENGINES`: 'torch' (eager PyTorch, CPU or CUDA; fp16 +
channels_last on CUDA), 'onnxruntime' (the CPU default: the ONNX export, cached by network fingerprint) and
'tensorrt' (NVIDIA GPUs: an engine built from the ONNX export, cached by network, GPU, TensorRT version and
precision; see :mod:`wildhands.runtime.engines.tensorrt_engine`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wildhands.cache import cache_dir
from wildhands.model.network import WildHandsNet
from wildhands.runtime.engines.base import Engine, EngineOutput
from wildhands.runtime.engines.engine_cache import network_fingerprint
from wildhands.runtime.engines.torch_engine import TorchEngine

logger = logging.getLogger(__name__)

__all__ = [
    "ENGINES",
    "Engine",
    "EngineOutput",
    "TorchEngine",
    "build_engine",
    "cache_dir",
    "default_precision",
    "network_fingerprint",
]

#: Engine names, in the order the node parameter ``engine`` lists them.
ENGINES = ("torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16")


def default_precision(engine: str) -> str:
    """fp16 for TensorRT (what it is for), fp32 for the others."""
    return "fp16" if engine == "tensorrt" else "fp32"


def build_engine(
    name: str,
    model: WildHandsNet,
    device: str = "cpu",
    onnx_path: str | os.PathLike | None = None,
    threads: int = 0,
    precision: str | None = None,
    weights_path: str | os.PathLike | None = None,
) -> Engine:
    """Make the engine ``name`` (one of :data:`ENGINES`) for ``model``.

    Args:
        device: torch device of the torch engine; the CUDA device of the TensorRT engine ('cuda:N'; a
            non-CUDA value means 'cuda').
        onnx_path: ONNX file of the onnxruntime engine; without it the model is exported once into
            :func:`cache_dir`, keyed by :func:`network_fingerprint`.
        threads: CPU threads (0 = all cores).
        precision: 'fp32' or 'fp16' (torch on CUDA, tensorrt); None = :func:`default_precision`.
        weights_path: the checkpoint the model came from: TensorRT engines are cached beside it.

    Raises ValueError for an unknown name or precision, and (tensorrt) when TensorRT or a GPU is missing,
    naming the engine to use instead.
    """
    if name not in ENGINES:
        raise ValueError(f"engine={name!r} not in {{{', '.join(repr(e) for e in ENGINES)}}}")
    precision = default_precision(name) if precision is None else precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} not in {set(PRECISIONS)}")
    if name == "torch":
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        return TorchEngine(model, device=device, precision=precision)
    if name == "tensorrt":
        from wildhands.runtime.engines.tensorrt_engine import tensorrt_engine

        return tensorrt_engine(model, precision=precision, device=device, weights_path=weights_path)
    # onnxruntime
    if precision != "fp32":
        raise ValueError(f"engine='onnxruntime' runs fp32 only (got precision={precision!r})")
    from wildhands.runtime.engines.onnxruntime_engine import OnnxRuntimeEngine

    if onnx_path is None:
        from wildhands.model.export import export_onnx

        onnx_path = cache_dir() / "onnx" / f"wildhands-{network_fingerprint(model)}.onnx"
        if not Path(onnx_path).is_file():
            logger.info("exporting the network to %s", onnx_path)
            tmp = Path(onnx_path).with_suffix(f".tmp{os.getpid()}.onnx")
            export_onnx(model, tmp)
            tmp.replace(onnx_path)
    cfg = model.config
    return OnnxRuntimeEngine(onnx_path, cfg.image_size, cfg.kpe.num_points, threads=threads)
