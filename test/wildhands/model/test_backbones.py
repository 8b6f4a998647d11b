"""Backbones (wildhands.model.backbones): the frozen MediaPipe hand trunk -- the same feature map as the
landmark network computes inside, never trained, never saved, exported to ONNX --, the same trunk trained
(``trunk_trainable``: trained, saved, loaded back; started from a frozen-trunk checkpoint) and the config
checks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from detector_models import needs_detector_models

from wildhands.model import KPEConfig, ModelConfig, WildHandsNet

SAMPLE = Path(__file__).resolve().parents[3] / "wildhands" / "assets" / "sample" / "image.png"

pytestmark = [
    needs_detector_models,
    pytest.mark.skipif(
        importlib.util.find_spec("tflite") is None,
        reason="the tflite package is not installed (requirements/core.txt; run scripts/setup.sh)",
    ),
]


def _cfg(**kw) -> ModelConfig:
    return ModelConfig(backbone="mediapipe_hand", image_size=224, fusion="residual", **kw)


@pytest.fixture(scope="module")
def graph():
    from wildhands.runtime.detection.landmark_net import landmark_model_path
    from wildhands.runtime.detection.tflite_torch import parse_tflite

    return parse_tflite(landmark_model_path())


def test_truncate_graph_keeps_what_the_tensor_needs(graph):
    from wildhands.runtime.detection.tflite_torch import truncate_graph

    (mean,) = [op for op in graph.operators if op.kind == "MEAN"]
    cut = truncate_graph(graph, mean.inputs[0])
    kinds = {op.kind for op in cut.operators}
    assert cut.outputs == (mean.inputs[0],)
    assert "MEAN" not in kinds and "FULLY_CONNECTED" not in kinds and "LOGISTIC" not in kinds
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "DEQUANTIZE"} <= kinds
    # every kept operator's activation inputs are produced by a kept operator or are the graph input
    produced = {o for op in cut.operators for o in op.outputs} | set(cut.inputs)
    consts = {t.index for t in graph.tensors if t.data is not None}
    for op in cut.operators:
        assert all(i in produced or i in consts or i < 0 for i in op.inputs), op.index
    with pytest.raises(ValueError, match="not computed by an operator"):
        truncate_graph(graph, graph.inputs[0])
    with pytest.raises(ValueError, match="not in"):
        truncate_graph(graph, len(graph.tensors))


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    """Two 224 px uint8-valued RGB crops: a real hand photo (the sample image's centre) and noise."""
    import cv2

    sample = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)
    assert sample is not None
    h, w = sample.shape[:2]
    s = min(h, w)
    photo = cv2.resize(sample[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2], (224, 224))
    photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
    noise = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    return torch.from_numpy(np.stack([photo, noise]).astype(np.float32))  # (2, 224, 224, 3) 0..255


def _normalised(crops: torch.Tensor) -> torch.Tensor:
    from wildhands.model.preprocess import IMAGENET_MEAN, IMAGENET_STD

    x = crops.permute(0, 3, 1, 2) / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def test_trunk_is_the_landmark_networks_own_map(crops):
    """The backbone's map is the tensor the landmark network pools for its heads, on the same pixels."""
    from wildhands.model.backbones import build_backbone
    from wildhands.runtime.detection.landmark_net import load_landmark_net

    full = load_landmark_net()
    (mean,) = [name for name, layer in full.layers.items() if name.endswith("_mean")]
    inside = {}
    full.layers[mean].register_forward_hook(lambda m, args, out: inside.setdefault("map", args[0]))
    with torch.no_grad():
        full(crops / 255.0)
        got = build_backbone("mediapipe_hand")(_normalised(crops))
    assert got.shape == (2, 1152, 7, 7)
    assert torch.allclose(got, inside["map"], atol=1e-4), float((got - inside["map"]).abs().max())
    assert float(got.min()) >= 0.0 and float(got.max()) <= 6.0  # after ReLU6
    assert float((got[0] - got[1]).abs().mean()) > 0.01  # a photo and noise differ


def test_frozen_not_trained_not_saved(tmp_path, crops):
    from wildhands.model.checkpoint import load_model, save_checkpoint

    torch.manual_seed(0)
    net = WildHandsNet(_cfg(kpe=KPEConfig(variant="sparse")))
    assert not [n for n, _ in net.named_parameters() if n.startswith("backbone.")]
    assert not [k for k in net.state_dict() if k.startswith("backbone.")]
    net.train()
    assert net.backbone.training is False  # frozen: always evaluation mode
    x, k = _normalised(crops), torch.rand(2, 5, 2) - 0.5
    before = net.backbone(x).detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    out = net(x, k)
    (out.betas.square().sum() + out.cam_wp.square().sum()).backward()
    opt.step()
    assert torch.equal(net.backbone(x), before)  # an optimiser step over every parameter left it alone
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.regressor.parameters())
    # a checkpoint holds the layers after the trunk only, and loads into a network that reads the trunk again
    path = save_checkpoint(tmp_path / "mp.pt", net)
    loaded = load_model(path).eval()
    net.eval()
    with torch.no_grad():
        for a, b in zip(net.forward_tensors(x, k), loaded.forward_tensors(x, k)):
            assert torch.allclose(a, b, atol=1e-6)
    # .to(dtype) reaches the trunk held outside the module tree
    net.to(torch.float64)
    assert net.backbone(x.double()).dtype == torch.float64


def test_trainable_trunk_is_trained_saved_and_loaded(tmp_path, crops):
    """``trunk_trainable``: the file is the initial value; an optimiser step moves the trunk; a checkpoint
    carries the trained trunk (``backbone.trunk.*``) and loads it back over the file's values."""
    from wildhands.model.checkpoint import load_model, save_checkpoint

    torch.manual_seed(0)
    x, k = _normalised(crops), torch.rand(2, 5, 2) - 0.5
    frozen = WildHandsNet(_cfg()).eval()
    torch.manual_seed(0)
    net = WildHandsNet(_cfg(trunk_trainable=True))
    trunk_keys = [key for key in net.state_dict() if key.startswith("backbone.trunk.")]
    assert len(trunk_keys) > 50
    n_trunk = sum(p.numel() for n, p in net.named_parameters() if n.startswith("backbone.trunk."))
    assert 2_000_000 < n_trunk < 3_000_000  # MediaPipe's full landmark trunk: ~2.6 M weights
    with torch.no_grad():
        assert torch.equal(net.eval().backbone(x), frozen.backbone(x))  # same start as the frozen trunk
    net.train()
    assert net.backbone.training
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    out = net(x, k)
    (out.betas.square().sum() + out.cam_wp.square().sum()).backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        moved = net.backbone(x)
        assert float((moved - frozen.backbone(x)).abs().max()) > 1e-4
    path = save_checkpoint(tmp_path / "mp_trained.pt", net)
    loaded = load_model(path).eval()
    assert loaded.config.trunk_trainable
    with torch.no_grad():
        assert torch.allclose(loaded.backbone(x), moved, atol=1e-6)
        for a, b in zip(net.forward_tensors(x, k), loaded.forward_tensors(x, k)):
            assert torch.allclose(a, b, atol=1e-6)
    assert ModelConfig.from_dict(net.config.to_dict()) == net.config
    assert "trunk_trainable" not in _cfg().to_dict()  # the dicts of existing configs are unchanged


def test_trunk_trainable_config_checks():
    with pytest.raises(ValueError, match="always trained"):
        ModelConfig(backbone="resnet18", trunk_trainable=True)
    with pytest.raises(ValueError, match="must be a bool"):
        _cfg(trunk_trainable="yes")


@pytest.mark.onnxruntime
def test_onnx_export_matches_torch(tmp_path, crops):
    import onnxruntime as ort

    from wildhands.model.export import export_onnx

    torch.manual_seed(0)
    net = WildHandsNet(_cfg()).eval()
    path = export_onnx(net, tmp_path / "mp.onnx", batch_size=1, dynamic_batch=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x, k = _normalised(crops), torch.rand(2, 5, 2) - 0.5
    with torch.no_grad():
        ref = net.forward_tensors(x, k)
    got = sess.run(None, {"images": x.numpy(), "kpe": k.numpy()})
    for g, r in zip(got, ref):
        assert np.abs(g - r.numpy()).max() < 1e-3
