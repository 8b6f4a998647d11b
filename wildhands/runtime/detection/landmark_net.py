"""MediaPipe's hand-landmark network in PyTorch, built at load time from the cached ``.tflite``.

No copy of Google's weights is in git: :func:`load_landmark_net` reads ``hand_landmark_full.tflite`` from
the detector-model cache (checked by sha256; :mod:`wildhands.runtime.detection.models`, whose NOTICE and
LICENCE — Apache-2.0 — sit beside the file) with the kept reader of
:mod:`wildhands.runtime.detection.tflite_torch` and builds the network from it, in about a second.

The network (:data:`LANDMARK_OUTPUT_NAMES`) takes ``(N, 224, 224, 3)`` float32 RGB crops in [0, 1] (what
``MediaPipeHandDetector.rotated_crop`` makes) and returns the four outputs of LiteRT's ``Identity`` ..
``Identity_3``, with the same meaning (the sigmoids of presence and handedness are part of the graph, in
both):

* ``landmarks`` (N, 63): 21 x (x, y, z) in crop pixels (z relative, same scale as x);
* ``presence`` (N, 1): hand-presence probability;
* ``handedness`` (N, 1): P("Left") in the selfie (mirrored) view;
* ``world_landmarks`` (N, 63): 21 x (x, y, z), metres, hand-centred.

Engines (:func:`build_landmark_engine`, all with ``infer(crops) -> LandmarkOutput``): ``'litert'`` (the
file in LiteRT/XNNPACK; the CPU default: faster than the others on the CPU, see docs/landmark-net.md),
``'torch'`` (this module, CPU or CUDA), ``'onnxruntime'`` (:func:`export_landmark_onnx`, cached by
fingerprint) and ``'tensorrt'`` (the ONNX export through the project's TensorRT builder and engine cache,
:mod:`wildhands.runtime.engines.tensorrt_engine` / ``engine_cache``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wildhands.runtime.detection.models import LANDMARK_MODEL, MODEL_FILES, model_paths
from wildhands.runtime.detection.tflite_torch import TFLiteModule, load_tflite_module, mixed_precision_copy

logger = logging.getLogger(__name__)

#: Input edge of the landmark network (pixels).
LANDMARK_INPUT_SIZE = 224
#: The file's output tensors, in the order :func:`load_landmark_net`'s forward returns them.
TFLITE_OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3")
#: Names of the network's input and outputs in the ONNX export and the engines.
LANDMARK_INPUT_NAME = "crops"
LANDMARK_OUTPUT_NAMES = ("landmarks", "presence", "handedness", "world_landmarks")
#: Bumped when the way the network is built from the file changes (part of the cache fingerprint).
CONVERTER_VERSION = 1
LANDMARK_ENGINES = ("litert", "torch", "onnxruntime", "tensorrt")
#: The engine on a CPU (measured: bench/landmark_net.py, docs/landmark-net.md).
DEFAULT_CPU_ENGINE = "litert"
#: (min, opt, max) crops per TensorRT call: one per hand, 2 hands by default.
LANDMARK_BATCH_PROFILE = (1, 2, 4)


@dataclass
class LandmarkOutput:
    """The four outputs for N crops (numpy float32): landmarks (N, 63) crop px, presence (N, 1),
    handedness (N, 1) P("Left") selfie view, world_landmarks (N, 63) m."""

    landmarks: np.ndarray
    presence: np.ndarray
    handedness: np.ndarray
    world_landmarks: np.ndarray

    @classmethod
    def from_sequence(cls, arrays) -> LandmarkOutput:
        values = [np.asarray(a, dtype=np.float32) for a in arrays]
        if len(values) != 4:
            raise ValueError(f"expected 4 outputs {LANDMARK_OUTPUT_NAMES}, got {len(values)}")
        return cls(*values)

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        return (self.landmarks, self.presence, self.handedness, self.world_landmarks)


def landmark_model_path(model_dir: str | os.PathLike | None = None) -> Path:
    """The checked ``hand_landmark_full.tflite`` (else ``DetectorModelsMissing`` naming the fetch command)."""
    return model_paths(model_dir)[LANDMARK_MODEL]


def landmark_fingerprint() -> str:
    """16 hex digits naming the network built from the (checksummed) file by this converter version."""
    sha = MODEL_FILES[LANDMARK_MODEL][1]
    return hashlib.sha256(f"{sha}:{CONVERTER_VERSION}".encode()).hexdigest()[:16]


def load_landmark_net(model_dir: str | os.PathLike | None = None) -> TFLiteModule:
    """The hand-landmark network as an ``nn.Module`` (float32, eval mode, CPU), built from the cache.

    ``forward(crops)``: crops (N, 224, 224, 3) float32 in [0, 1] -> (landmarks (N, 63), presence (N, 1),
    handedness (N, 1), world_landmarks (N, 63)), as LiteRT's Identity .. Identity_3. Sub-modules are named
    ``op<index>_<kind>`` after the operator they run (``op002_conv_2d`` ... ``op164_fully_connected``).
    """
    path = landmark_model_path(model_dir)
    net = load_tflite_module(path, TFLITE_OUTPUTS)
    if tuple(net.input_shape[1:]) != (LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, 3):
        raise ValueError(f"{path}: input shape {net.input_shape} is not (1, 224, 224, 3)")
    want = ((1, 63), (1, 1), (1, 1), (1, 63))
    if tuple(net.output_shapes) != want:
        raise ValueError(f"{path}: output shapes {net.output_shapes} are not {want}")
    net.source_path = str(path)
    net.fingerprint = landmark_fingerprint()
    net.output_names = LANDMARK_OUTPUT_NAMES
    return net


def check_crops(crops: np.ndarray) -> np.ndarray:
    """(N, 224, 224, 3) float32, finite, else ValueError. A single (224, 224, 3) crop gets a batch axis."""
    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[1:] != (LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, 3) or not len(crops):
        raise ValueError(f"crops must be (N, 224, 224, 3) with N >= 1, got {crops.shape}")
    if not np.issubdtype(crops.dtype, np.floating):
        raise ValueError(f"crops must be float in [0, 1], got {crops.dtype}")
    crops = np.ascontiguousarray(crops, dtype=np.float32)
    if not np.all(np.isfinite(crops)):
        raise ValueError("crops must be finite (found NaN or inf)")
    return crops


# -- ONNX ------------------------------------------------------------------------------------------------


_FOLDABLE = frozenset(
    {"Constant", "ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast", "Squeeze", "Unsqueeze"}
)


def fold_constant_subgraphs(model):
    """Evaluate the nodes of ``model`` (an ``onnx.ModelProto``, changed in place) whose inputs are all
    constants — only shape-plumbing kinds (:data:`_FOLDABLE`) — and store their results as initializers.

    The TorchScript exporter writes the pads of an asymmetric ``F.pad`` (TensorFlow 'SAME' with an odd total)
    as a chain of ``Constant -> ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose -> Reshape ->
    Cast`` that its own constant folding leaves alone; after this, each ``Pad`` reads one initializer, as
    TensorRT's ONNX parser likes best.
    """
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    initial = set(values)
    kept = []
    for node in graph.node:
        inputs = [i for i in node.input if i]
        if node.op_type in _FOLDABLE and all(i in values for i in inputs):
            results = ReferenceEvaluator(node).run(None, {i: values[i] for i in inputs})
            values.update(zip(node.output, results))
        else:
            kept.append(node)
    used = {i for node in kept for i in node.input} | {o.name for o in graph.output}
    new_inits = [
        numpy_helper.from_array(np.asarray(values[n]), n) for n in sorted(used & (set(values) - initial))
    ]
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new_inits)
    return model


def export_landmark_onnx(
    net: TFLiteModule,
    path: str | os.PathLike,
    batch_size: int = 1,
    dynamic_batch: bool = True,
    opset: int = 17,
    precision: str = "fp32",
) -> Path:
    """Export ``net`` (from :func:`load_landmark_net`; not modified) to ``path``, with the conventions of
    :func:`wildhands.model.export.export_onnx`: TorchScript exporter (``dynamo=False``), constant folding
    (and :func:`fold_constant_subgraphs` for the pads of TensorFlow's asymmetric 'SAME' padding), axis 0
    of the input and every output dynamic (``batch``) when ``dynamic_batch``, opset >= 13,
    ``onnx.checker``. Input ``crops`` (B, 224, 224, 3) float32, outputs :data:`LANDMARK_OUTPUT_NAMES`.

    precision: 'fp32', or 'fp16' for :func:`~wildhands.runtime.detection.tflite_torch.mixed_precision_copy`
        (float16 trunk, float32 heads, inputs and outputs): what a strongly typed TensorRT network builds
        into an fp16 engine.
    Returns the path; raises ValueError on bad arguments, ``onnx.checker.ValidationError`` on a bad graph.
    """
    import copy

    import onnx

    from wildhands.model.export import check_export_args, trace_to_onnx

    if not isinstance(net, TFLiteModule):
        raise ValueError(f"net type={type(net).__name__} must be TFLiteModule (load_landmark_net)")
    check_export_args(batch_size, opset, precision)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = copy.deepcopy(net).float().cpu().eval()
    if precision == "fp16":
        module = mixed_precision_copy(module)
    example = torch.zeros(batch_size, *net.input_shape[1:])
    trace_to_onnx(
        module, (example,), path, (LANDMARK_INPUT_NAME,), LANDMARK_OUTPUT_NAMES, dynamic_batch, opset
    )
    model = fold_constant_subgraphs(onnx.load(str(path)))
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path))
    logger.info("exported the hand-landmark network (%s, opset %d) to %s", precision, opset, path)
    return path


def cached_landmark_onnx(net: TFLiteModule, precision: str = "fp32") -> Path:
    """The fp32/fp16 ONNX export of ``net`` in ``cache_dir()/onnx``, written once per fingerprint."""
    from wildhands.cache import cache_dir

    fingerprint = getattr(net, "fingerprint", None) or landmark_fingerprint()
    path = cache_dir() / "onnx" / f"hand_landmark-{fingerprint}.{precision}.onnx"
    if not path.is_file():
        tmp = path.with_suffix(f".tmp{os.getpid()}.onnx")
        export_landmark_onnx(net, tmp, precision=precision)
        tmp.replace(path)
    return path


# -- engines ---------------------------------------------------------------------------------------------


class LiteRTLandmarkEngine:
    """The ``.tflite`` in LiteRT (XNNPACK, CPU), one crop per invoke."""

    name = "litert"

    def __init__(self, model_path: str | os.PathLike, threads: int = 2) -> None:
        from wildhands.runtime.detection.litert import load_interpreter

        self.interpreter = load_interpreter(model_path, threads)
        self._in = self.interpreter.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._out = tuple(outs[n] for n in TFLITE_OUTPUTS)

    def infer(self, crops: np.ndarray) -> LandmarkOutput:
        crops = check_crops(crops)
        results = []
        for crop in crops:
            self.interpreter.set_tensor(self._in, crop[None])
            self.interpreter.invoke()
            results.append([self.interpreter.get_tensor(i).copy() for i in self._out])
        return LandmarkOutput.from_sequence(np.concatenate(parts) for parts in zip(*results))


class TorchLandmarkEngine:
    """:func:`load_landmark_net` under ``torch.inference_mode`` on ``device`` (channels_last on CUDA;
    ``precision='fp16'`` runs :func:`mixed_precision_copy`, CUDA only). CPU threads are torch's global
    setting (``torch.set_num_threads``)."""

    name = "torch"

    def __init__(self, net: TFLiteModule, device: str = "cpu", precision: str = "fp32") -> None:
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision={precision!r} not in {{'fp32', 'fp16'}}")
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu'")
        self.device = torch.device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision='fp16' needs a CUDA device; use precision='fp32'")
        if precision == "fp16":
            net = mixed_precision_copy(net)
        self.net = net.to(self.device).eval()
        if self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def infer(self, crops: np.ndarray) -> LandmarkOutput:
        x = torch.from_numpy(check_crops(crops)).to(self.device)
        outs = self.net(x)
        return LandmarkOutput.from_sequence(o.float().cpu().numpy() for o in outs)


class OnnxRuntimeLandmarkEngine:
    """The ONNX export in ONNX Runtime on the CPU (session options as the WildHands ONNX Runtime engine)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | os.PathLike, threads: int = 2) -> None:
        from wildhands.runtime.engines.onnxruntime_engine import cpu_session

        self.session = cpu_session(onnx_path, threads)
        names = tuple(i.name for i in self.session.get_inputs())
        if names != (LANDMARK_INPUT_NAME,):
            raise ValueError(f"{onnx_path}: inputs {names} are not ({LANDMARK_INPUT_NAME!r},)")

    def infer(self, crops: np.ndarray) -> LandmarkOutput:
        outs = self.session.run(list(LANDMARK_OUTPUT_NAMES), {LANDMARK_INPUT_NAME: check_crops(crops)})
        return LandmarkOutput.from_sequence(outs)


class TensorRTLandmarkEngine:
    """A serialized TensorRT engine of the landmark network (float32 I/O) on one CUDA device.

    Buffers for the profile's largest batch are allocated and bound once (as
    :class:`wildhands.runtime.engines.tensorrt_engine.TensorRTEngine`); larger batches are split.
    """

    name = "tensorrt"

    def __init__(self, serialized: bytes, device: str = "cuda", trt=None) -> None:
        from wildhands.runtime.engines.engine_cache import EngineLoadError
        from wildhands.runtime.engines.tensorrt_engine import _cuda_device, require_tensorrt

        trt = trt if trt is not None else require_tensorrt(device)
        self.device = _cuda_device(device)
        self._trt_logger = trt.Logger(trt.Logger.WARNING)
        names = (LANDMARK_INPUT_NAME, *LANDMARK_OUTPUT_NAMES)
        with torch.cuda.device(self.device):
            self.runtime = trt.Runtime(self._trt_logger)
            self.engine = self.runtime.deserialize_cuda_engine(serialized)
            if self.engine is None:
                raise EngineLoadError("TensorRT cannot deserialize the engine (corrupt, or built elsewhere)")
            have = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
            if have != set(names):
                raise EngineLoadError(f"engine tensors {sorted(have)} are not the landmark network's {names}")
            self.max_batch = int(self.engine.get_tensor_profile_shape(LANDMARK_INPUT_NAME, 0)[2][0])
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
            shapes = {LANDMARK_INPUT_NAME: (LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, 3)}
            for n in LANDMARK_OUTPUT_NAMES:
                shapes[n] = tuple(int(d) for d in self.engine.get_tensor_shape(n))[1:]
            self._device = {
                n: torch.empty((self.max_batch, *shapes[n]), dtype=torch.float32, device=self.device)
                for n in names
            }
            self._host = {n: torch.empty_like(t, device="cpu").pin_memory() for n, t in self._device.items()}
            for n, t in self._device.items():
                self.context.set_tensor_address(n, t.data_ptr())

    def infer(self, crops: np.ndarray) -> LandmarkOutput:
        crops = check_crops(crops)
        parts = [self._run(crops[i : i + self.max_batch]) for i in range(0, len(crops), self.max_batch)]
        return LandmarkOutput.from_sequence(np.concatenate(p) for p in zip(*parts))

    def _run(self, crops: np.ndarray) -> list[np.ndarray]:
        b = crops.shape[0]
        self._host[LANDMARK_INPUT_NAME][:b].numpy()[...] = crops
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            src = self._device[LANDMARK_INPUT_NAME][:b]
            src.copy_(self._host[LANDMARK_INPUT_NAME][:b], non_blocking=True)
            self.context.set_input_shape(LANDMARK_INPUT_NAME, tuple(src.shape))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed (see its log)")
            for n in LANDMARK_OUTPUT_NAMES:
                self._host[n][:b].copy_(self._device[n][:b], non_blocking=True)
            self.stream.synchronize()
        return [self._host[n][:b].numpy().copy() for n in LANDMARK_OUTPUT_NAMES]


def landmark_tensorrt_engine(
    net: TFLiteModule,
    precision: str = "fp32",
    device: str = "cuda",
    cache_directory: str | os.PathLike | None = None,
) -> TensorRTLandmarkEngine:
    """The TensorRT engine of the landmark network for this GPU, built once and cached.

    Reuses the project's path: ONNX export (:func:`export_landmark_onnx`, fp16 = mixed precision on
    strongly typed TensorRT), :func:`~wildhands.runtime.engines.tensorrt_engine.build_serialized_engine`
    (profile :data:`LANDMARK_BATCH_PROFILE`), and
    :func:`~wildhands.runtime.engines.engine_cache.load_or_build` keyed by :func:`landmark_fingerprint`,
    GPU, TensorRT version and precision (default folder ``cache_dir()/tensorrt``, stem ``hand_landmark``).
    fp32 by default (TF32 off: the agreement with LiteRT holds; the network is 0.33 GMAC per crop, so fp16
    saves little); fp16 builds the mixed-precision export.
    Raises ValueError (naming ``'litert'`` or ``'torch'``) without TensorRT or a GPU, or when the build
    fails.
    """
    from wildhands.cache import cache_dir
    from wildhands.runtime.engines.engine_cache import EngineKey, load_or_build
    from wildhands.runtime.engines.tensorrt_engine import (
        TENSORRT_PRECISIONS,
        build_serialized_engine,
        gpu_description,
        onnx_precision_for,
        require_tensorrt,
    )

    if precision not in TENSORRT_PRECISIONS:
        raise ValueError(f"precision={precision!r} not in {set(TENSORRT_PRECISIONS)}")
    try:
        trt = require_tensorrt(device)
    except ValueError as exc:
        raise ValueError(
            f"landmark engine 'tensorrt': {exc} (or landmark engine 'litert' on the CPU)"
        ) from exc
    key = EngineKey(
        network=getattr(net, "fingerprint", None) or landmark_fingerprint(),
        gpu=gpu_description(device),
        tensorrt=str(trt.__version__),
        precision=precision,
        batch=LANDMARK_BATCH_PROFILE,
    )
    directory = Path(cache_directory) if cache_directory is not None else cache_dir() / "tensorrt"

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="wildhands-trt-landmark-") as tmp:
            onnx_path = export_landmark_onnx(
                net, Path(tmp) / "hand_landmark.onnx", precision=onnx_precision_for(precision, trt)
            )
            return build_serialized_engine(onnx_path, precision, trt, batch=LANDMARK_BATCH_PROFILE)

    def load(data: bytes) -> TensorRTLandmarkEngine:
        return TensorRTLandmarkEngine(data, device=device, trt=trt)

    try:
        cached = load_or_build(key, directory, "hand_landmark", build, load)
    except RuntimeError as exc:
        raise ValueError(
            f"the {precision} TensorRT landmark engine could not be built or loaded on {key.gpu}: {exc}; "
            "use landmark engine 'torch' with device='cuda'"
        ) from exc
    engine = cached.engine
    engine.cache_path = cached.path
    engine.built = cached.built
    return engine


def build_landmark_engine(
    name: str,
    model_dir: str | os.PathLike | None = None,
    threads: int = 2,
    device: str = "cpu",
    precision: str | None = None,
):
    """The landmark engine ``name`` (one of :data:`LANDMARK_ENGINES`); every one has ``name`` and
    ``infer(crops (N, 224, 224, 3) float32 [0, 1]) -> LandmarkOutput``.

    threads: CPU threads of LiteRT / ONNX Runtime (torch: set ``torch.set_num_threads`` yourself).
    device: torch device ('torch'), CUDA device ('tensorrt'; a non-CUDA value means 'cuda').
    precision: 'fp32' (default: the LiteRT agreement holds) or 'fp16' (torch on CUDA, tensorrt; landmarks
        then differ by ~0.1 crop px).
    """
    if name not in LANDMARK_ENGINES:
        raise ValueError(f"landmark engine={name!r} not in {{{', '.join(map(repr, LANDMARK_ENGINES))}}}")
    precision = "fp32" if precision is None else precision
    if name == "litert":
        if precision != "fp32":
            raise ValueError(f"landmark engine 'litert' runs fp32 only (got precision={precision!r})")
        return LiteRTLandmarkEngine(landmark_model_path(model_dir), threads)
    net = load_landmark_net(model_dir)
    if name == "torch":
        return TorchLandmarkEngine(net, device=device, precision=precision)
    if name == "onnxruntime":
        if precision != "fp32":
            raise ValueError(f"landmark engine 'onnxruntime' runs fp32 only (got precision={precision!r})")
        return OnnxRuntimeLandmarkEngine(cached_landmark_onnx(net), threads)
    return landmark_tensorrt_engine(net, precision=precision, device=device)
