"""A small TFLite flatbuffer reader and a PyTorch module that executes the graph it reads.

Kept deliberately small: it covers the operators of MediaPipe's ``hand_landmark_full.tflite`` (165
operators of 7 kinds) and refuses anything else by name, so that a new model version that needs more is
noticed at load time rather than computed wrongly.

* :func:`parse_tflite` reads a ``.tflite`` file with the ``tflite`` flatbuffer package (PyPI, the generated
  schema classes only; no TensorFlow) into a :class:`TFLiteGraph`: tensors (name, shape, type, constant data,
  quantisation), operators (kind, inputs, outputs, options) and the subgraph's inputs/outputs.
* :func:`truncate_graph` cuts a graph at one of its tensors (e.g. a trunk's last feature map, without the
  heads after it: ``model.backbones.load_landmark_trunk``, the ``mediapipe_hand`` backbone).
* :class:`TFLiteModule` turns that graph into an ``nn.Module``. Weights of constant ``DEQUANTIZE`` operators
  (float16 -> float32, or int8/uint8 with scale and zero point) are folded at build time. Activations run in
  NCHW; the graph input is accepted in the file's NHWC layout and 4-D outputs are returned NHWC. Each
  operator becomes one sub-module named ``op<index:03d>_<kind>`` after its index in the file (stable for a
  given file; e.g. ``op002_conv_2d``), so the state dict reads ``op002_conv_2d.weight`` and so on.

Operators: ``CONV_2D``, ``DEPTHWISE_CONV_2D`` (stride, dilation, depth multiplier, padding ``SAME`` with
TensorFlow's exact — possibly asymmetric — split, or ``VALID``), ``ADD``, ``MEAN`` (``keep_dims`` or not),
``FULLY_CONNECTED`` (default weight format), ``LOGISTIC`` and constant ``DEQUANTIZE``; fused activations
``NONE``, ``RELU``, ``RELU_N1_TO_1``, ``RELU6``, ``TANH``. Anything else raises :class:`UnsupportedTFLiteOp`
naming the operator kinds (and indices) it cannot run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Operator kinds :class:`TFLiteModule` executes.
SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "ADD",
    "MEAN",
    "FULLY_CONNECTED",
    "LOGISTIC",
    "DEQUANTIZE",
)

_DTYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT32": np.int32,
    "INT64": np.int64,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "BOOL": np.bool_,
}
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
# NHWC axis -> NCHW axis
_NHWC_TO_NCHW = (0, 2, 3, 1)


class TFLiteParseError(ValueError):
    """The file is not a readable TFLite flatbuffer (wrong identifier, truncated, corrupt)."""


class UnsupportedTFLiteOp(ValueError):
    """The graph holds operators (or operator options) that :class:`TFLiteModule` does not execute."""


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of the subgraph. ``data`` is the constant's value (file layout), None for activations."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TFLite TensorType name, e.g. 'FLOAT32'
    data: np.ndarray | None = None
    scale: np.ndarray | None = None  # quantisation parameters, when present
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0


@dataclass(frozen=True)
class TFLiteOp:
    """One operator: its kind (builtin name, or ``CUSTOM:<code>``), tensor indices (-1 = absent optional
    input) and decoded options."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TFLiteGraph:
    """The (single) subgraph of a ``.tflite`` file."""

    tensors: tuple[TFLiteTensor, ...]
    operators: tuple[TFLiteOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    version: int
    description: str

    def op_kinds(self) -> dict[str, int]:
        """Operator kind -> count, in order of first appearance."""
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        return counts

    def tensor_by_name(self, name: str) -> TFLiteTensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor named {name!r}")


def _names(module) -> dict[int, str]:
    return {v: k for k, v in vars(module).items() if not k.startswith("_") and isinstance(v, int)}


def _options(op, kind: str) -> dict:
    import tflite

    table = op.BuiltinOptions()
    classes = {
        "CONV_2D": tflite.Conv2DOptions,
        "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
        "ADD": tflite.AddOptions,
        "MEAN": tflite.ReducerOptions,
        "FULLY_CONNECTED": tflite.FullyConnectedOptions,
    }
    if kind not in classes or table is None:
        return {}
    o = classes[kind]()
    o.Init(table.Bytes, table.Pos)
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        opts = {
            "padding": _PADDING.get(o.Padding(), f"padding#{o.Padding()}"),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), f"#{o.FusedActivationFunction()}"),
        }
        if kind == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = o.DepthMultiplier()
        return opts
    if kind == "ADD":
        return {
            "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), f"#{o.FusedActivationFunction()}")
        }
    if kind == "MEAN":
        return {"keep_dims": bool(o.KeepDims())}
    return {  # FULLY_CONNECTED
        "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), f"#{o.FusedActivationFunction()}"),
        "weights_format": o.WeightsFormat(),
        "keep_num_dims": bool(o.KeepNumDims()),
    }


def parse_tflite(source: str | os.PathLike | bytes) -> TFLiteGraph:
    """Read a ``.tflite`` file (path or bytes) into a :class:`TFLiteGraph`.

    Raises :class:`TFLiteParseError` for a file that is not a TFLite flatbuffer or is corrupt, and
    :class:`UnsupportedTFLiteOp` for a model with more than one subgraph (control flow).
    """
    try:
        import tflite
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "reading .tflite graphs needs the tflite package: pip install tflite==2.18.0 "
            "(listed in requirements/core.txt)"
        ) from exc
    if isinstance(source, (bytes, bytearray)):
        buf, where = bytes(source), "<bytes>"
    else:
        where = str(source)
        try:
            buf = Path(source).read_bytes()
        except OSError as exc:
            raise TFLiteParseError(f"cannot read {where}: {exc}") from exc
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteParseError(f"{where} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    type_names = _names(tflite.TensorType)
    op_names = dict(tflite.utils.BUILTIN_OPCODE2NAME)
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        if model.SubgraphsLength() != 1:
            raise UnsupportedTFLiteOp(
                f"{where} has {model.SubgraphsLength()} subgraphs; only single-subgraph models are supported"
            )
        graph = model.Subgraphs(0)
        tensors = []
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            dtype = type_names.get(t.Type(), f"TYPE#{t.Type()}")
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            data = None
            b = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
            if b is not None:
                raw = None
                if b.DataLength():
                    raw = b.DataAsNumpy().tobytes()
                elif b.Offset() > 1:  # large models keep buffers after the flatbuffer
                    raw = buf[b.Offset() : b.Offset() + b.Size()]
                if raw is not None:
                    if dtype not in _DTYPES:
                        raise TFLiteParseError(
                            f"tensor {i} ({t.Name().decode()}) has unsupported type {dtype}"
                        )
                    data = np.frombuffer(raw, dtype=_DTYPES[dtype]).reshape(shape).copy()
            scale = zero_point = None
            qdim = 0
            q = t.Quantization()
            if q is not None and q.ScaleLength():
                scale = q.ScaleAsNumpy().astype(np.float32)
                zero_point = (
                    q.ZeroPointAsNumpy().astype(np.int64)
                    if q.ZeroPointLength()
                    else np.zeros_like(scale, np.int64)
                )
                qdim = int(q.QuantizedDimension())
            tensors.append(TFLiteTensor(i, t.Name().decode(), shape, dtype, data, scale, zero_point, qdim))
        ops = []
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == 32:  # CUSTOM
                kind = f"CUSTOM:{(code.CustomCode() or b'?').decode()}"
            else:
                kind = op_names.get(builtin, f"BUILTIN#{builtin}")
            ins = tuple(int(v) for v in op.InputsAsNumpy()) if op.InputsLength() else ()
            outs = tuple(int(v) for v in op.OutputsAsNumpy()) if op.OutputsLength() else ()
            ops.append(TFLiteOp(k, kind, ins, outs, _options(op, kind)))
        inputs = tuple(int(v) for v in graph.InputsAsNumpy()) if graph.InputsLength() else ()
        outputs = tuple(int(v) for v in graph.OutputsAsNumpy()) if graph.OutputsLength() else ()
        description = (model.Description() or b"").decode(errors="replace")
        version = int(model.Version())
    except (UnsupportedTFLiteOp, TFLiteParseError):
        raise
    except Exception as exc:  # flatbuffers raises struct.error / IndexError / ... on corrupt bytes
        raise TFLiteParseError(f"{where} is corrupt ({type(exc).__name__}: {exc})") from exc
    n = len(tensors)
    for op in ops:
        bad = [i for i in (*op.inputs, *op.outputs) if i >= n or i < -1]
        if bad:
            raise TFLiteParseError(f"{where}: operator {op.index} ({op.kind}) refers to tensors {bad} of {n}")
    return TFLiteGraph(tuple(tensors), tuple(ops), inputs, outputs, version, description)


# -- execution -------------------------------------------------------------------------------------------


def _activation(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "NONE":
        return x
    if kind == "RELU":
        return F.relu(x)
    if kind == "RELU6":
        return torch.clamp(x, 0.0, 6.0)
    if kind == "RELU_N1_TO_1":
        return torch.clamp(x, -1.0, 1.0)
    if kind == "TANH":
        return torch.tanh(x)
    raise UnsupportedTFLiteOp(f"fused activation {kind}")  # checked at build time


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding (before, after) of one spatial axis: output ceil(size / stride); the
    odd pixel, if any, goes after (bottom/right)."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D in NCHW with TF padding and a fused activation."""

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray | None,
        groups: int,
        stride: tuple[int, int],
        dilation: tuple[int, int],
        pad: tuple[int, int, int, int],  # top, bottom, left, right
        activation: str,
    ) -> None:
        super().__init__()
        out_ch, in_per_group, kh, kw = weight.shape
        symmetric = pad[0] == pad[1] and pad[2] == pad[3]
        self.conv = nn.Conv2d(
            in_per_group * groups,
            out_ch,
            (kh, kw),
            stride=stride,
            padding=(pad[0], pad[2]) if symmetric else 0,
            dilation=dilation,
            groups=groups,
            bias=bias is not None,
        )
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, np.float32)))
            if bias is not None:
                self.conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias, np.float32)))
        # F.pad order: (left, right, top, bottom)
        self.pad = None if symmetric else (pad[2], pad[3], pad[0], pad[1])
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return _activation(self.conv(x), self.activation)

    def extra_repr(self) -> str:
        return f"tf_pad={self.pad}, activation={self.activation}"


class _Add(nn.Module):
    """ADD of two activations, or of an activation and a constant (given in the file's layout)."""

    def __init__(
        self, activation: str, constant: np.ndarray | None = None, const_first: bool = False
    ) -> None:
        super().__init__()
        self.activation = activation
        self.const_first = const_first
        if constant is not None:
            self.register_buffer("constant", torch.from_numpy(np.ascontiguousarray(constant, np.float32)))
        else:
            self.constant = None

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if self.constant is not None:
            a, b = (self.constant, a) if self.const_first else (a, self.constant)
        return _activation(a + b, self.activation)

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


class _Mean(nn.Module):
    """MEAN over constant axes; ``dims`` are in the internal layout, ``perm`` restores the file's order."""

    def __init__(self, dims: tuple[int, ...], keep_dims: bool, perm: tuple[int, ...] | None) -> None:
        super().__init__()
        self.dims, self.keep_dims, self.perm = dims, keep_dims, perm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=self.dims, keepdim=self.keep_dims)
        return y.permute(self.perm) if self.perm is not None else y

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keep_dims={self.keep_dims}"


class _FullyConnected(nn.Module):
    """FULLY_CONNECTED: input flattened to (-1, in_features) in the file's (NHWC) order."""

    def __init__(
        self, weight: np.ndarray, bias: np.ndarray | None, activation: str, nchw_input: bool, keep_shape
    ) -> None:
        super().__init__()
        units, features = weight.shape
        self.linear = nn.Linear(features, units, bias=bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, np.float32)))
            if bias is not None:
                self.linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias, np.float32)))
        self.activation = activation
        self.nchw_input = nchw_input
        self.keep_shape = keep_shape  # None, or the output shape after the batch axis (keep_num_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nchw_input:
            x = x.permute(0, 2, 3, 1)
        y = _activation(self.linear(x.reshape(-1, self.linear.in_features)), self.activation)
        if self.keep_shape is not None:
            y = y.reshape((-1, *self.keep_shape))
        return y

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


class _Logistic(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


def dequantize_constant(t: TFLiteTensor) -> np.ndarray:
    """float32 value of a constant float16 / int8 / uint8 tensor (per-tensor or per-axis scale)."""
    if t.data is None:
        raise UnsupportedTFLiteOp(f"DEQUANTIZE of the non-constant tensor {t.index} ({t.name})")
    if t.dtype == "FLOAT16":
        return t.data.astype(np.float32)
    if t.dtype in ("INT8", "UINT8", "INT16") and t.scale is not None:
        shape = [1] * t.data.ndim
        if t.scale.size > 1:
            shape[t.quantized_dimension] = -1
        scale = t.scale.reshape(shape)
        zp = t.zero_point.reshape(shape) if t.zero_point.size == t.scale.size else t.zero_point.ravel()[0]
        return ((t.data.astype(np.float32) - zp) * scale).astype(np.float32)
    raise UnsupportedTFLiteOp(
        f"DEQUANTIZE of a {t.dtype} tensor {t.index} ({t.name}) without float16/int8 data"
    )


def layer_name(op: TFLiteOp) -> str:
    """The stable sub-module name of an operator: ``op<index:03d>_<kind>``, e.g. ``op002_conv_2d``."""
    return f"op{op.index:03d}_{op.kind.lower()}"


class TFLiteModule(nn.Module):
    """Executes a :class:`TFLiteGraph` in PyTorch (see the module docstring).

    graph: the parsed file (one float32 input, float32 outputs).
    output_names: tensor names of the outputs, in the order ``forward`` returns them (default: the file's
        output order).

    ``forward(x)`` takes the input in the file's layout (NHWC for images) with any batch size and returns a
    tuple of the outputs. ``tflite_outputs`` (tensor names) and ``layer_tensors`` (sub-module name -> the
    name of the tensor it writes in the file) keep the link to the file.
    """

    def __init__(self, graph: TFLiteGraph, output_names: tuple[str, ...] | None = None) -> None:
        super().__init__()
        unsupported: dict[str, list[int]] = {}
        for op in graph.operators:
            if op.kind not in SUPPORTED_OPS:
                unsupported.setdefault(op.kind, []).append(op.index)
        if unsupported:
            listed = ", ".join(
                f"{kind} (operator{'s' if len(idx) > 1 else ''} {', '.join(map(str, idx[:5]))}"
                f"{', ...' if len(idx) > 5 else ''})"
                for kind, idx in unsupported.items()
            )
            raise UnsupportedTFLiteOp(
                f"the graph uses operators that wildhands' TFLite reader does not execute: {listed}; "
                f"supported: {', '.join(SUPPORTED_OPS)}"
            )
        if len(graph.inputs) != 1:
            raise UnsupportedTFLiteOp(f"graphs with {len(graph.inputs)} inputs are not supported (need 1)")
        tensors = graph.tensors
        x_t = tensors[graph.inputs[0]]
        if x_t.dtype != "FLOAT32":
            raise UnsupportedTFLiteOp(f"input {x_t.name} is {x_t.dtype}; only FLOAT32 inputs are supported")
        self.input_shape = x_t.shape  # file layout, batch included
        self.input_name = x_t.name
        consts: dict[int, np.ndarray] = {t.index: t.data for t in tensors if t.data is not None}
        nchw: set[int] = set()  # activation tensors held in NCHW (4-D in the file)
        if len(x_t.shape) == 4:
            nchw.add(x_t.index)
        self.layers = nn.ModuleDict()
        self.layer_tensors: dict[str, str] = {}
        plan: list[tuple[str, tuple[int, ...], int]] = []

        def const(i: int, what: str, op: TFLiteOp) -> np.ndarray | None:
            if i < 0:
                return None
            if i not in consts:
                raise UnsupportedTFLiteOp(
                    f"operator {op.index} ({op.kind}): its {what} (tensor {i}, {tensors[i].name}) is not "
                    "a constant"
                )
            return np.asarray(consts[i])

        def check_activation(op: TFLiteOp) -> str:
            act = op.options.get("activation", "NONE")
            if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1", "TANH"):
                raise UnsupportedTFLiteOp(f"operator {op.index} ({op.kind}): fused activation {act}")
            return act

        for op in graph.operators:
            name = layer_name(op)
            if op.kind == "DEQUANTIZE":
                consts[op.outputs[0]] = dequantize_constant(tensors[op.inputs[0]])
                continue
            src, out = op.inputs[0], op.outputs[0]
            if src in consts:
                raise UnsupportedTFLiteOp(
                    f"operator {op.index} ({op.kind}) on a constant input; constant folding is not supported"
                )
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                act = check_activation(op)
                if op.options["padding"] not in ("SAME", "VALID"):
                    raise UnsupportedTFLiteOp(f"operator {op.index} ({op.kind}): {op.options['padding']}")
                w = const(op.inputs[1], "weight", op).astype(np.float32)
                b = const(op.inputs[2], "bias", op) if len(op.inputs) > 2 else None
                in_shape = tensors[src].shape
                if len(in_shape) != 4 or src not in nchw:
                    raise UnsupportedTFLiteOp(f"operator {op.index} ({op.kind}) on a non-4-D input")
                cin = in_shape[3]
                if op.kind == "CONV_2D":  # OHWI -> OIHW
                    weight = w.transpose(0, 3, 1, 2)
                    groups = cin // weight.shape[1]
                    if groups * weight.shape[1] != cin:
                        raise UnsupportedTFLiteOp(f"operator {op.index}: {cin} input channels vs {w.shape}")
                else:  # [1, kh, kw, cin * multiplier] -> [cin * multiplier, 1, kh, kw]
                    weight = w.transpose(3, 0, 1, 2)
                    groups = cin
                    if weight.shape[0] % cin or weight.shape[0] // cin != op.options["depth_multiplier"]:
                        raise UnsupportedTFLiteOp(
                            f"operator {op.index}: depthwise weight {w.shape} vs {cin} channels and depth "
                            f"multiplier {op.options['depth_multiplier']}"
                        )
                kh, kw = weight.shape[2:]
                (sh, sw), (dh, dw) = op.options["stride"], op.options["dilation"]
                if op.options["padding"] == "SAME":
                    pad = (*same_padding(in_shape[1], kh, sh, dh), *same_padding(in_shape[2], kw, sw, dw))
                else:
                    pad = (0, 0, 0, 0)
                self.layers[name] = _Conv(weight, b, groups, (sh, sw), (dh, dw), pad, act)
                nchw.add(out)
                inputs = (src,)
            elif op.kind == "ADD":
                act = check_activation(op)
                a, c = op.inputs[:2]
                if a in consts or c in consts:
                    const_first = a in consts
                    value = np.asarray(consts[a if const_first else c], np.float32)
                    other = c if const_first else a
                    if other in nchw:
                        if value.ndim == 4:
                            value = value.transpose(0, 3, 1, 2)
                        elif value.ndim == 1 and value.size > 1:
                            value = value.reshape(1, -1, 1, 1)
                        elif value.ndim not in (0, 1):
                            raise UnsupportedTFLiteOp(
                                f"operator {op.index} (ADD): constant of shape {value.shape}"
                            )
                    self.layers[name] = _Add(act, value, const_first)
                    inputs = (other,)
                else:
                    if (a in nchw) != (c in nchw) or tensors[a].shape != tensors[c].shape:
                        raise UnsupportedTFLiteOp(
                            f"operator {op.index} (ADD): broadcasting {tensors[a].shape} + {tensors[c].shape}"
                        )
                    self.layers[name] = _Add(act)
                    inputs = (a, c)
                if a in nchw or c in nchw:
                    nchw.add(out)
            elif op.kind == "MEAN":
                axes = const(op.inputs[1], "axes", op).astype(np.int64).ravel()
                rank = len(tensors[src].shape)
                axes_file = sorted({int(v) % rank for v in axes})
                keep = op.options.get("keep_dims", False)
                if src in nchw:
                    dims = tuple(sorted(_NHWC_TO_NCHW[a] for a in axes_file))
                    perm = None
                    if keep:
                        nchw.add(out)
                    else:
                        kept = [_NHWC_TO_NCHW[a] for a in range(4) if a not in axes_file]
                        order = sorted(kept)
                        p = tuple(order.index(k) for k in kept)
                        perm = p if p != tuple(range(len(p))) else None
                else:
                    dims, perm = tuple(axes_file), None
                self.layers[name] = _Mean(dims, keep, perm)
                inputs = (src,)
            elif op.kind == "FULLY_CONNECTED":
                act = check_activation(op)
                if op.options.get("weights_format", 0) != 0:
                    raise UnsupportedTFLiteOp(
                        f"operator {op.index} (FULLY_CONNECTED): weights format "
                        f"{op.options['weights_format']}"
                    )
                w = const(op.inputs[1], "weight", op).astype(np.float32)
                b = const(op.inputs[2], "bias", op) if len(op.inputs) > 2 else None
                keep_shape = tuple(tensors[out].shape[1:]) if op.options.get("keep_num_dims") else None
                if keep_shape is not None and src in nchw:
                    raise UnsupportedTFLiteOp(f"operator {op.index}: keep_num_dims on a 4-D input")
                self.layers[name] = _FullyConnected(w, b, act, src in nchw, keep_shape)
                inputs = (src,)
            elif op.kind == "LOGISTIC":
                self.layers[name] = _Logistic()
                if src in nchw:
                    nchw.add(out)
                inputs = (src,)
            else:  # pragma: no cover - SUPPORTED_OPS and this chain agree
                raise UnsupportedTFLiteOp(op.kind)
            self.layer_tensors[name] = tensors[out].name
            plan.append((name, inputs, out))
        by_name = {tensors[i].name: i for i in graph.outputs}
        names = (
            tuple(output_names) if output_names is not None else tuple(tensors[i].name for i in graph.outputs)
        )
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"output_names {missing} are not outputs of the graph ({sorted(by_name)})")
        produced = {out for _, _, out in plan} | {x_t.index}
        for n in names:
            if by_name[n] not in produced:
                raise UnsupportedTFLiteOp(f"output {n} is not computed from the input (a constant output)")
        self._plan = plan
        self.half_layers: frozenset[str] = frozenset()  # see mixed_precision_copy
        self._input = x_t.index
        self._outputs = tuple(by_name[n] for n in names)
        self._outputs_nchw = tuple(i in nchw for i in self._outputs)
        self.tflite_outputs = names
        self.output_shapes = tuple(tensors[i].shape for i in self._outputs)  # file layout, file batch
        self.eval()
        self._check_shapes(tensors)

    @torch.no_grad()
    def _check_shapes(self, tensors) -> None:
        """Run one zero input and compare every tensor's shape with the file's (catches layout slips)."""
        env = self._run(torch.zeros(self.input_shape))
        for name, _, out in self._plan:
            got = tuple(env[out].shape)
            want = tensors[out].shape
            if len(want) == 4 and len(got) == 4:
                got = (got[0], got[2], got[3], got[1])
            if got != want:
                raise RuntimeError(f"{name}: computed shape {got} differs from the file's {want}")

    def _run(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        env = {self._input: x.permute(0, 3, 1, 2) if x.dim() == 4 else x}
        half = self.half_layers
        for name, inputs, out in self._plan:
            args = [env[i] for i in inputs]
            if half:  # mixed precision: cast only where the precision changes
                want = torch.float16 if name in half else torch.float32
                args = [a if a.dtype == want else a.to(want) for a in args]
            env[out] = self.layers[name](*args)
        return env

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        want = tuple(self.input_shape[1:])
        if x.dim() != len(self.input_shape) or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"input shape {tuple(x.shape)} must be (N, {', '.join(map(str, want))}) ({self.input_name})"
            )
        env = self._run(x)
        outs = tuple(
            env[i].permute(0, 2, 3, 1) if is_nchw else env[i]
            for i, is_nchw in zip(self._outputs, self._outputs_nchw)
        )
        return tuple(o.float() for o in outs) if self.half_layers else outs


def truncate_graph(graph: TFLiteGraph, output: int) -> TFLiteGraph:
    """``graph`` cut at tensor index ``output``: that tensor is the only output and only the operators it
    depends on are kept (in file order), e.g. a trunk's last feature map without the heads after it."""
    if not 0 <= output < len(graph.tensors):
        raise ValueError(f"tensor index {output} not in [0, {len(graph.tensors) - 1}]")
    producer = {o: op for op in graph.operators for o in op.outputs}
    if output not in producer:
        raise ValueError(f"tensor {graph.tensors[output].name!r} is not computed by an operator")
    needed: set[int] = set()
    stack = [producer[output]]
    while stack:
        op = stack.pop()
        if op.index in needed:
            continue
        needed.add(op.index)
        stack.extend(producer[i] for i in op.inputs if i in producer)
    operators = tuple(op for op in graph.operators if op.index in needed)
    return TFLiteGraph(graph.tensors, operators, graph.inputs, (output,), graph.version, graph.description)


def mixed_precision_copy(module: TFLiteModule) -> TFLiteModule:
    """A copy of ``module`` whose convolutions and residual additions (the trunk, ~all of the FLOPs) run in
    float16; pooling, fully-connected heads and sigmoids stay float32, as do the input and the outputs.
    What a strongly typed TensorRT network builds into an fp16 engine; the caller's module is unchanged."""
    import copy

    net = copy.deepcopy(module)
    names = [name for name, layer in net.layers.items() if isinstance(layer, (_Conv, _Add))]
    for name in names:
        net.layers[name].half()
    net.half_layers = frozenset(names)
    return net.eval()


def load_tflite_module(
    path: str | os.PathLike | bytes, output_names: tuple[str, ...] | None = None
) -> TFLiteModule:
    """Parse ``path`` and build its :class:`TFLiteModule` (float32, eval mode, CPU)."""
    return TFLiteModule(parse_tflite(path), output_names)
