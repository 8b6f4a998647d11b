"""ONNX export of :class:`WildHandsNet` (``forward_tensors``).

Graph: inputs ``images (B,3,S,S) float32`` (ImageNet-normalised RGB) and ``kpe (B,P,2) float32``; outputs
``global_orient (B,3,3)``, ``hand_pose (B,15,3,3)``, ``betas (B,nb)``, ``cam_wp (B,3)``,
``grasp_logits (B,ncls)``; B is a dynamic axis named ``batch`` when ``dynamic_batch``. A model with
``config.global_backbone`` has a third input ``full_images (B,3,S,S) float32`` (``network.input_names``).

``precision='fp16'`` writes the mixed-precision graph of :func:`mixed_precision_copy` (inputs and outputs
stay float32): what a strongly typed TensorRT network builds into an fp16 engine (TensorRT 11 removed the
``BuilderFlag.FP16`` that let the builder choose fp16 layers itself).

Uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): the dynamo exporter, the
default since torch 2.9, needs ``onnxscript``, which is not a dependency here. Input validation of
``forward`` is skipped while exporting (it needs data-dependent Python control flow); the runtime engines
validate before calling the graph.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from wildhands.model.network import OUTPUT_NAMES, WildHandsNet, _TensorsWrapper, input_names

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")


class _Fp16(nn.Module):
    """Runs ``module`` in float16: floating-point tensor arguments are cast to fp16, outputs back to fp32."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.half()

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        out = self.module(*(a.half() if a.is_floating_point() else a for a in args))
        return out.float()


def mixed_precision_copy(model: WildHandsNet) -> WildHandsNet:
    """A copy of ``model`` (eval mode) whose heavy convolutions run in float16, the rest in float32.

    fp16: the ResNet trunk(s) (``backbone``, ``global_backbone``) and the KPE fusion convolutions — more than
    95% of the FLOPs. fp32: the KPE encoding (``sin/cos(2^k θ)`` up to k = 7: in fp16 the argument of
    ``sin(128 θ)`` would carry errors of 0.03 rad), the pooled features, the iterative regressor, the 6D ->
    rotation Gram-Schmidt and the grasp head. Inputs and outputs stay float32. The caller's model is not
    modified. The copy is what the torch engine runs with ``precision='fp16'`` on CUDA and what
    ``export_onnx(..., precision='fp16')`` writes for TensorRT.
    """
    if not isinstance(model, WildHandsNet):
        raise ValueError(f"model type={type(model).__name__} must be WildHandsNet")
    net = copy.deepcopy(model).float().eval()
    net.backbone = _Fp16(net.backbone)
    if net.global_backbone is not None:
        net.global_backbone = _Fp16(net.global_backbone)
    net.kpe_fusion = _Fp16(net.kpe_fusion)
    return net


def check_export_args(batch_size: int, opset: int, precision: str) -> None:
    """ValueError naming a bad ``batch_size`` (int >= 1), ``opset`` (int >= 13) or ``precision``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset={opset!r} must be an int >= 13")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} not in {set(PRECISIONS)}")


def trace_to_onnx(
    module: nn.Module,
    example: tuple,
    path: Path,
    input_names,
    output_names,
    dynamic_batch: bool,
    opset: int,
) -> None:
    """This project's ONNX export conventions, for every network it exports: the TorchScript exporter
    (``dynamo=False``), constant folding, axis 0 of every input and output dynamic (``batch``) when
    ``dynamic_batch``; tracer warnings silenced."""
    names = (*input_names, *output_names)
    dynamic_axes = {name: {0: "batch"} for name in names} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings / TorchScript-exporter deprecation notice
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def export_onnx(
    model: WildHandsNet,
    path: str | os.PathLike,
    batch_size: int = 1,
    dynamic_batch: bool = True,
    opset: int = 17,
    precision: str = "fp32",
) -> Path:
    """Export ``model`` (in eval mode, fp32, on CPU; the caller's model is not modified) to ``path``.

    Args:
        model: the network.
        path: output ``.onnx`` file (parent directories are created).
        batch_size: batch of the example input used for tracing (and the fixed batch if not dynamic).
        dynamic_batch: make axis 0 of every input and output dynamic (``batch``).
        opset: ONNX opset (>= 13).
        precision: ``'fp32'``, or ``'fp16'`` for the mixed-precision graph of :func:`mixed_precision_copy`
            (float32 inputs and outputs; fp16 inside the ResNet trunk and the KPE fusion).

    Returns the path. Raises ``ValueError`` on bad arguments, ``onnx.checker.ValidationError`` if the
    produced model is invalid.
    """
    import onnx

    if not isinstance(model, WildHandsNet):
        raise ValueError(f"model type={type(model).__name__} must be WildHandsNet")
    check_export_args(batch_size, opset, precision)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    cfg = model.config
    net = copy.deepcopy(model).float().cpu().eval()
    if precision == "fp16":
        net = mixed_precision_copy(net)
    wrapper = _TensorsWrapper(net).eval()
    s = cfg.image_size
    images = torch.zeros(batch_size, 3, s, s)
    kpe = torch.zeros(batch_size, cfg.kpe.num_points, 2)
    names = input_names(cfg)
    example = (images, kpe, torch.zeros_like(images)) if cfg.global_backbone else (images, kpe)
    trace_to_onnx(wrapper, example, path, names, OUTPUT_NAMES, dynamic_batch, opset)
    onnx.checker.check_model(str(path))
    logger.info(
        "exported %s (%s, kpe=%s, %s, opset %d) to %s",
        type(model).__name__,
        cfg.backbone,
        cfg.kpe.variant.value,
        precision,
        opset,
        path,
    )
    return path
