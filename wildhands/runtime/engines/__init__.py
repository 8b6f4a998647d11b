"""Inference engines behind one interface (:class:`~wildhands.runtime.engines.base.Engine`)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from wildhands.model.network import WildHandsNet
from wildhands.runtime.engines.base import Engine, EngineOutput
from wildhands.runtime.engines.torch_engine import TorchEngine

logger = logging.getLogger(__name__)

__all__ = ["Engine", "EngineOutput", "TorchEngine", "build_engine", "cache_dir", "network_fingerprint"]


def cache_dir() -> Path:
    """Where derived artefacts (ONNX exports, engines) are cached: $WILDHANDS_CACHE or ~/.cache/wildhands."""
    root = os.environ.get("WILDHANDS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wildhands")
    return Path(root)


def network_fingerprint(model: WildHandsNet) -> str:
    """sha256 (16 hex digits) of the network's config and weights: the cache key of its exports."""
    h = hashlib.sha256(repr(model.config.to_dict()).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def build_engine(
    name: str,
    model: WildHandsNet,
    device: str = "cpu",
    onnx_path: str | os.PathLike | None = None,
    threads: int = 0,
) -> Engine:
    """Make the engine ``name`` ('torch' | 'onnxruntime') for ``model``.

    For 'onnxruntime' without ``onnx_path`` the model is exported once into :func:`cache_dir`, keyed by
    :func:`network_fingerprint`.
    """
    if name == "torch":
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        return TorchEngine(model, device=device)
    if name == "onnxruntime":
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
    raise ValueError(f"engine={name!r} not in {{'torch', 'onnxruntime'}}")
