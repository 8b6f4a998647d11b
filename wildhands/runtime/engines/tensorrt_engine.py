"""TensorRT engine (NVIDIA GPUs, Jetson included): build from the ONNX export, cache, run.

Build (:func:`build_serialized_engine`): the ONNX graph of :func:`wildhands.model.export.export_onnx` is
parsed into a **strongly typed** network (TensorRT >= 10; on TensorRT 11 every network is strongly typed and
``BuilderFlag.FP16`` no longer exists), so the precision lives in the graph: ``fp16`` builds the
mixed-precision export (ResNet trunk and KPE fusion in fp16, the KPE encoding, regressor and heads in fp32,
see :func:`wildhands.model.export.mixed_precision_copy`); ``fp32`` builds the float32 export with TF32
disabled (true fp32, the agreement reference). TensorRT 8.5-8.6 (JetPack 5) has no strong typing: there the
float32 graph is built with ``BuilderFlag.FP16`` for fp16. One optimisation profile covers 1-4 hands per
call (optimised for 2); larger batches are split.

Cache (:func:`tensorrt_engine`): the engine is cached beside the weights file (or in
``cache_dir()/tensorrt`` without weights, or where the weights' folder is read-only), keyed by the network
fingerprint, GPU name + compute capability, TensorRT version and precision
(:mod:`wildhands.runtime.engines.engine_cache`): a stale engine (another GPU, another TensorRT, new
weights) or a corrupt one is rebuilt with a log line saying why.

Run (:class:`TensorRTEngine`): the ``tensorrt`` Python API with CUDA memory from torch (no pycuda):
device buffers and pinned host buffers for the largest batch are allocated once, their addresses are bound
once, and each call copies the inputs in, runs ``execute_async_v3`` on a torch CUDA stream and copies the
outputs out — no allocation per frame.

Without a CUDA GPU or without the ``tensorrt`` package, :func:`require_tensorrt` raises ``ValueError`` naming
the engine to use instead: ``'onnxruntime'`` on a CPU-only machine, ``'torch'`` (``device='cuda'``) on a
GPU machine without TensorRT; a build that fails raises ``ValueError`` naming ``'torch'`` too (the node then
stops with ``cannot start: ...``, no traceback).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from wildhands.cache import cache_dir
from wildhands.model.network import WildHandsNet
from wildhands.runtime.engines.base import INPUT_NAMES, OUTPUT_NAMES, EngineOutput, check_inputs
from wildhands.runtime.engines.engine_cache import (
    EngineKey,
    EngineLoadError,
    load_or_build,
    network_fingerprint,
)

logger = logging.getLogger(__name__)

#: (min, opt, max) hands per engine call of the optimisation profile.
BATCH_PROFILE: tuple[int, int, int] = (1, 2, 4)
#: Builder workspace limit (bytes).
WORKSPACE_BYTES = 1 << 30
TENSORRT_PRECISIONS = ("fp16", "fp32")


def _cuda_device(device: str) -> torch.device:
    """The CUDA device for ``device`` ('cuda', 'cuda:1'; anything else -> 'cuda:0')."""
    dev = torch.device(device) if str(device).startswith("cuda") else torch.device("cuda", 0)
    return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())


def require_tensorrt(device: str = "cuda") -> ModuleType:
    """The ``tensorrt`` module, or ``ValueError`` naming the engine to use instead.

    No CUDA GPU -> use 'onnxruntime' (the CPU engine); a GPU but no ``tensorrt`` package -> use 'torch'
    with device='cuda' (or install TensorRT).
    """
    try:
        import tensorrt as trt
    except (ImportError, OSError) as exc:  # OSError: the bindings are there but libnvinfer is not
        trt, trt_error = None, f"{type(exc).__name__}: {exc}"
    if not torch.cuda.is_available():
        extra = "" if trt is not None else " (the tensorrt package is not installed either)"
        raise ValueError(
            "engine='tensorrt' needs an NVIDIA GPU with CUDA, and torch finds none here "
            f"(torch.cuda.is_available() is False){extra}; use engine='onnxruntime' (the CPU engine)"
        )
    if trt is None:
        raise ValueError(
            f"engine='tensorrt' needs the tensorrt Python package ({trt_error}); install it (pip install "
            "tensorrt, or JetPack's python3-libnvinfer on a Jetson) or use engine='torch' with "
            "device='cuda' (precision fp16 for speed)"
        )
    major = int(str(trt.__version__).split(".")[0])
    if major < 8 or not hasattr(trt.IExecutionContext, "execute_async_v3"):
        raise ValueError(
            f"engine='tensorrt' needs TensorRT >= 8.5 (found {trt.__version__}); use engine='torch' with "
            "device='cuda'"
        )
    return trt


def gpu_description(device: str = "cuda") -> str:
    """GPU name and compute capability, e.g. ``'NVIDIA H100 80GB HBM3 (sm_90)'`` (part of the engine key)."""
    dev = _cuda_device(device)
    major, minor = torch.cuda.get_device_capability(dev)
    return f"{torch.cuda.get_device_name(dev)} (sm_{major}{minor})"


def _strongly_typed(trt: ModuleType) -> bool:
    return hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")


def onnx_precision_for(precision: str, trt: ModuleType) -> str:
    """The precision of the ONNX graph to build ``precision`` from with this TensorRT."""
    return precision if _strongly_typed(trt) else "fp32"


def build_serialized_engine(
    onnx_path: str | os.PathLike,
    precision: str,
    trt: ModuleType,
    batch: tuple[int, int, int] = BATCH_PROFILE,
    workspace_bytes: int = WORKSPACE_BYTES,
) -> bytes:
    """Build a serialized TensorRT engine from the ONNX file (see the module docstring).

    Args:
        onnx_path: graph from ``export_onnx(..., dynamic_batch=True, precision=onnx_precision_for(...))``.
        precision: 'fp16' or 'fp32'.
        trt: the ``tensorrt`` module (:func:`require_tensorrt`).
        batch: (min, opt, max) batch of the optimisation profile.
        workspace_bytes: builder workspace limit.

    Raises ``RuntimeError`` with the parser's errors, or when the builder fails.
    """
    if precision not in TENSORRT_PRECISIONS:
        raise ValueError(f"precision={precision!r} not in {set(TENSORRT_PRECISIONS)}")
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    strong = _strongly_typed(trt)
    if strong:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    else:  # TensorRT 8.x: explicit batch must be asked for
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # true fp32: the reference precision
    if precision == "fp16" and not strong:
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT 8.x weak typing
    profile = builder.create_optimization_profile()
    lo, opt, hi = batch
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(tensor.shape)[1:]
        profile.set_shape(tensor.name, (lo, *rest), (opt, *rest), (hi, *rest))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build a {precision} engine from {onnx_path} (see its log)")
    return bytes(serialized)


class TensorRTEngine:
    """Runs a serialized WildHands TensorRT engine (float32 inputs and outputs) on one CUDA device."""

    name = "tensorrt"

    def __init__(
        self, serialized: bytes, image_size: int, num_kpe_points: int, device: str = "cuda", trt=None
    ) -> None:
        trt = trt if trt is not None else require_tensorrt(device)
        self.device = _cuda_device(device)
        self.image_size = image_size
        self.num_kpe_points = num_kpe_points
        self._trt_logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.device):
            self.runtime = trt.Runtime(self._trt_logger)
            self.engine = self.runtime.deserialize_cuda_engine(serialized)
            if self.engine is None:
                raise EngineLoadError("TensorRT cannot deserialize the engine (corrupt, or built elsewhere)")
            names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
            inputs = tuple(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
            outputs = tuple(n for n in names if n not in inputs)
            if set(inputs) != set(INPUT_NAMES) or set(outputs) != set(OUTPUT_NAMES):
                raise EngineLoadError(
                    f"engine tensors {inputs} -> {outputs} are not WildHands' {INPUT_NAMES} -> {OUTPUT_NAMES}"
                )
            for n in names:
                if self.engine.get_tensor_dtype(n) != trt.DataType.FLOAT:
                    raise EngineLoadError(
                        f"engine tensor {n} is {self.engine.get_tensor_dtype(n)}, not float32"
                    )
            self.max_batch = int(self.engine.get_tensor_profile_shape("images", 0)[2][0])
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
            shapes = {
                "images": (3, image_size, image_size),
                "kpe": (num_kpe_points, 2),
            }
            for n in OUTPUT_NAMES:
                shapes[n] = tuple(int(d) for d in self.engine.get_tensor_shape(n))[1:]
            # device buffers for the largest batch, and pinned host mirrors; bound once
            self._device = {
                n: torch.empty((self.max_batch, *shapes[n]), dtype=torch.float32, device=self.device)
                for n in (*INPUT_NAMES, *OUTPUT_NAMES)
            }
            self._host = {n: torch.empty_like(t, device="cpu").pin_memory() for n, t in self._device.items()}
            self._host_np = {n: t.numpy() for n, t in self._host.items()}
            for n, t in self._device.items():
                self.context.set_tensor_address(n, t.data_ptr())

    def infer(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        check_inputs(images, kpe, self.image_size, self.num_kpe_points)
        n = images.shape[0]
        if n <= self.max_batch:
            return self._run(images, kpe)
        parts = [
            self._run(images[i : i + self.max_batch], kpe[i : i + self.max_batch])
            for i in range(0, n, self.max_batch)
        ]
        return EngineOutput.from_sequence(
            np.concatenate([getattr(p, name) for p in parts]) for name in OUTPUT_NAMES
        )

    def _run(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        b = images.shape[0]
        np.copyto(self._host_np["images"][:b], images, casting="same_kind")
        np.copyto(self._host_np["kpe"][:b], kpe, casting="same_kind")
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            for n in INPUT_NAMES:
                self._device[n][:b].copy_(self._host[n][:b], non_blocking=True)
                self.context.set_input_shape(n, tuple(self._device[n][:b].shape))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed (see its log)")
            for n in OUTPUT_NAMES:
                self._host[n][:b].copy_(self._device[n][:b], non_blocking=True)
            self.stream.synchronize()
        return EngineOutput.from_sequence(self._host_np[n][:b].copy() for n in OUTPUT_NAMES)


def engine_location(weights_path: str | os.PathLike | None, fingerprint: str):
    """(directory, stem) of the cached engines: beside the weights when that folder is writable, else in
    ``cache_dir()/tensorrt`` (stem = the weights' stem, or ``wildhands-<fingerprint>`` without weights)."""

    if weights_path is not None:
        weights = Path(weights_path)
        if os.access(weights.parent, os.W_OK):
            return weights.parent, weights.stem
        logger.info("%s is read-only: TensorRT engines are cached in %s", weights.parent, cache_dir())
        return cache_dir() / "tensorrt", weights.stem
    return cache_dir() / "tensorrt", f"wildhands-{fingerprint}"


def tensorrt_engine(
    model: WildHandsNet,
    precision: str = "fp16",
    device: str = "cuda",
    weights_path: str | os.PathLike | None = None,
    cache_directory: str | os.PathLike | None = None,
) -> TensorRTEngine:
    """The TensorRT engine of ``model`` for this GPU, built once and cached (see the module docstring).

    ``cache_directory`` overrides where the engine is cached (default: :func:`engine_location`).
    The returned engine has ``cache_path`` (its file) and ``built`` (whether this call built it).
    """
    from wildhands.model.export import export_onnx

    if precision not in TENSORRT_PRECISIONS:
        raise ValueError(f"precision={precision!r} not in {set(TENSORRT_PRECISIONS)}")
    trt = require_tensorrt(device)
    cfg = model.config
    if cfg.global_backbone:
        raise ValueError(
            "engine='tensorrt' runs the 2-input network; a global_backbone network needs full_images"
        )
    fingerprint = network_fingerprint(model)
    key = EngineKey(
        network=fingerprint, gpu=gpu_description(device), tensorrt=str(trt.__version__), precision=precision,
        batch=BATCH_PROFILE,
    )  # fmt: skip
    directory, stem = engine_location(weights_path, fingerprint)
    if cache_directory is not None:
        directory = Path(cache_directory)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="wildhands-trt-") as tmp:
            onnx_path = export_onnx(
                model,
                Path(tmp) / "net.onnx",
                dynamic_batch=True,
                precision=onnx_precision_for(precision, trt),
            )
            return build_serialized_engine(onnx_path, precision, trt)

    def load(data: bytes) -> TensorRTEngine:
        return TensorRTEngine(data, cfg.image_size, cfg.kpe.num_points, device=device, trt=trt)

    try:
        cached = load_or_build(key, directory, stem, build, load)
    except (
        RuntimeError
    ) as exc:  # a parser/builder failure, or an engine that does not load right after building
        raise ValueError(
            f"the {precision} TensorRT engine could not be built or loaded on {key.gpu} with TensorRT "
            f"{key.tensorrt}: {exc}; use engine='torch' with device='cuda'"
        ) from exc
    engine = cached.engine
    engine.cache_path = cached.path
    engine.built = cached.built
    return engine
