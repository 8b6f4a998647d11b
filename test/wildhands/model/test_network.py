"""WildHandsNet: shapes, gradients, rotations, determinism, mean initialisation, input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wildhands.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from wildhands.model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KPEConfig,
    ModelConfig,
    WildHandsNet,
    preprocess_crops,
)


def _cfg(variant: str = "sparse", **kw) -> ModelConfig:
    return ModelConfig(backbone="resnet18", kpe=KPEConfig(variant=variant), fusion_channels=128, **kw)


def _inputs(cfg: ModelConfig, b: int = 2):
    return torch.randn(b, 3, 224, 224), (torch.rand(b, cfg.kpe.num_points, 2) - 0.5)


@pytest.mark.parametrize("variant", ["sparse", "dense", "free", "none"])
def test_forward_shapes(variant):
    cfg = _cfg(variant)
    net = WildHandsNet(cfg).eval()
    with torch.no_grad():
        out = net(*_inputs(cfg))
    assert out.global_orient.shape == (2, 3, 3)
    assert out.hand_pose.shape == (2, 15, 3, 3)
    assert out.betas.shape == (2, 10)
    assert out.cam_wp.shape == (2, 3)
    assert out.grasp_logits.shape == (2, 8)
    assert out.pose_6d.shape == (2, 16, 6)
    assert len(net.forward_tensors(*_inputs(cfg))) == 5


def test_resnet50_default_forward():
    cfg = ModelConfig()  # resnet50, sparse KPE, fusion at 2048 channels
    net = WildHandsNet(cfg).eval()
    assert net.kpe_fusion.conv1.in_channels == 2048 + 170
    with torch.no_grad():
        out = net(*_inputs(cfg, b=1))
    assert out.hand_pose.shape == (1, 15, 3, 3) and torch.isfinite(out.grasp_logits).all()


def test_gradients_reach_backbone_fusion_regressor():
    cfg = _cfg()
    net = WildHandsNet(cfg).train()
    out = net(*_inputs(cfg))
    loss = sum(t.float().pow(2).mean() for t in out.as_tuple())
    loss.backward()
    for name in [
        "backbone.conv1.weight",
        "backbone.layer4.1.conv2.weight",
        "kpe_fusion.conv1.weight",
        "kpe_fusion.conv3.weight",
        "regressor.fc1.weight",
        "regressor.dec_pose.weight",
        "regressor.dec_cam.weight",
        "grasp_head.mlp.0.weight",
    ]:
        grad = dict(net.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    # the KPE part of the first fusion conv (input channels after the backbone's) is trained too
    assert net.kpe_fusion.conv1.weight.grad[:, 512:].abs().sum() > 0


def test_rotations_orthonormal_det_one():
    cfg = _cfg()
    net = WildHandsNet(cfg).eval()
    with torch.no_grad():
        out = net(*_inputs(cfg))
    r = torch.cat((out.global_orient[:, None], out.hand_pose), dim=1)  # (B, 16, 3, 3)
    eye = torch.eye(3).expand_as(r)
    assert torch.allclose(r.transpose(-1, -2) @ r, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2, 16), atol=1e-5)
    # 6D convention: the 6 numbers are the first two columns (column 0 = normalised first 3 numbers)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-6)
    assert torch.allclose(
        r[..., :, 0], torch.nn.functional.normalize(out.pose_6d[..., :3], dim=-1), atol=1e-6
    )


def test_deterministic_construction_and_output():
    cfg = _cfg()
    x, k = _inputs(cfg)
    torch.manual_seed(123)
    a = WildHandsNet(cfg).eval()
    torch.manual_seed(123)
    b = WildHandsNet(cfg).eval()
    with torch.no_grad():
        for ta, tb in zip(a(x, k).as_tuple(), b(x, k).as_tuple()):
            assert torch.equal(ta, tb)
    torch.manual_seed(124)
    c = WildHandsNet(cfg).eval()
    assert not torch.equal(a.regressor.fc1.weight, c.regressor.fc1.weight)


def test_fresh_model_outputs_mean_params():
    cfg = _cfg()
    net = WildHandsNet(cfg).eval()
    x = preprocess_crops(np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8))
    with torch.no_grad():
        out = net(x, _inputs(cfg)[1])
    eye = torch.eye(3)
    # decoders start at Xavier gain 0.01: three small residual updates away from the mean
    assert (out.global_orient - eye).abs().max() < 0.1
    assert (out.hand_pose - eye).abs().max() < 0.1
    assert out.betas.abs().max() < 0.1
    assert (out.cam_wp[:, 0] / 8.0).log().abs().max() < 0.02  # the scale is regressed in log space
    assert out.cam_wp[:, 1:].abs().max() < 0.1
    assert torch.allclose(net.regressor.mean_cam, torch.tensor([math.log(8.0), 0.0, 0.0]))


def test_sparse_output_depends_on_kpe_none_does_not():
    for variant, depends in [("sparse", True), ("none", False)]:
        cfg = _cfg(variant)
        net = WildHandsNet(cfg).eval()
        x, k = _inputs(cfg)
        with torch.no_grad():
            a, b = net(x, k).cam_wp, net(x, k + 0.3).cam_wp
        assert (not torch.equal(a, b)) == depends, variant


@pytest.mark.parametrize(
    "images_shape, kpe_fn, match",
    [
        ((1, 3, 256, 256), lambda: torch.zeros(1, 5, 2), "images shape"),
        ((1, 224, 224, 3), lambda: torch.zeros(1, 5, 2), "images shape"),
        ((1, 3, 224, 224), lambda: torch.tensor([[[0.0, float("nan")]] * 5]), "NaN"),
        ((1, 3, 224, 224), lambda: torch.zeros(1, 49, 2), r"kpe shape=\(1, 49, 2\)"),
        ((1, 3, 224, 224), lambda: torch.zeros(2, 5, 2), "batch"),
    ],
)
def test_bad_inputs_raise(images_shape, kpe_fn, match):
    net = WildHandsNet(_cfg()).eval()
    with pytest.raises(ValueError, match=match):
        net(torch.zeros(images_shape), kpe_fn())


def test_uint8_images_rejected():
    net = WildHandsNet(_cfg()).eval()
    with pytest.raises(ValueError, match="dtype"):
        net(torch.zeros(1, 3, 224, 224, dtype=torch.uint8), torch.zeros(1, 5, 2))


def test_channels_last_same_output():
    cfg = _cfg()
    net = WildHandsNet(cfg).eval()
    x, k = _inputs(cfg)
    with torch.no_grad():
        ref = net(x, k).cam_wp
        net_cl = net.to(memory_format=torch.channels_last)
        got = net_cl(x.to(memory_format=torch.channels_last), k).cam_wp
    assert torch.allclose(ref, got, atol=1e-4)


def test_preprocess_crops():
    crops = np.zeros((2, 224, 224, 3), dtype=np.uint8)
    crops[..., 0] = 255
    x = preprocess_crops(crops)
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    assert torch.allclose(x[0, 0, 0, 0], torch.tensor((1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]))
    assert torch.allclose(x[0, 1, 5, 5], torch.tensor(-IMAGENET_MEAN[1] / IMAGENET_STD[1]))
    assert preprocess_crops(crops[0]).shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="dtype"):
        preprocess_crops(crops.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        preprocess_crops(np.zeros((2, 3, 224, 224), dtype=np.uint8))
