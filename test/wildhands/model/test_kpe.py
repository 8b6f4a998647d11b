"""KPE encoding values, layouts and channel counts; fusion shapes."""

from __future__ import annotations

import pytest
import torch

from wildhands.model.config import KPEConfig, KPEVariant, ModelConfig
from wildhands.model.kpe import KPEEncoder, KPEFusion

L = 8
GRID = (7, 7)


def _split(enc: torch.Tensor, cfg: KPEConfig):
    """(..., F) -> raw (..., 1|0), sin (..., L), cos (..., L)."""
    r = int(cfg.include_raw)
    return enc[..., :r], enc[..., r : r + cfg.num_freqs], enc[..., r + cfg.num_freqs :]


def test_centre_of_centred_crop_encodes_to_sin0_cos1():
    cfg = KPEConfig(variant=KPEVariant.SPARSE, num_freqs=L)
    enc = KPEEncoder(cfg)
    kpe = torch.tensor([[[-0.3, -0.2], [0.3, -0.2], [-0.3, 0.2], [0.3, 0.2], [0.0, 0.0]]])  # centre = ray 0
    pts = enc.encode_points(kpe)  # (1, 5, 2, F)
    assert pts.shape == (1, 5, 2, 2 * L + 1)
    raw, s, c = _split(pts[0, 4], cfg)
    assert torch.all(raw == 0)
    assert torch.allclose(s, torch.zeros_like(s), atol=1e-7)
    assert torch.allclose(c, torch.ones_like(c), atol=1e-7)
    # corners are not at the optical axis: some sin terms non-zero
    assert s.abs().sum() == 0 and _split(pts[0, 0], cfg)[1].abs().sum() > 0.1


def test_opposite_angles_give_opposite_sin_and_equal_cos():
    cfg = KPEConfig(num_freqs=L)
    enc = KPEEncoder(cfg)
    theta = torch.tensor([[[0.37, -0.11]] * 5])
    a = enc.encode_points(theta)
    b = enc.encode_points(-theta)
    ra, sa, ca = _split(a, cfg)
    rb, sb, cb = _split(b, cfg)
    assert torch.allclose(sa, -sb) and torch.allclose(ca, cb) and torch.allclose(ra, -rb)
    assert sa.abs().max() > 0.1
    # frequencies double: sin(2x) = 2 sin x cos x
    assert torch.allclose(sa[..., 1], 2 * sa[..., 0] * ca[..., 0], atol=1e-6)


@pytest.mark.parametrize(
    "variant, include_raw, channels, points",
    [
        ("sparse", True, 5 * 2 * (2 * L + 1), 5),  # 170
        ("free", True, 5 * 2 * (2 * L + 1), 5),
        ("dense", True, 2 * (2 * L + 1), 49),  # 34
        ("sparse", False, 5 * 2 * 2 * L, 5),  # 160
        ("dense", False, 2 * 2 * L, 49),  # 32
        ("none", True, 0, 5),
    ],
)
def test_channel_counts(variant, include_raw, channels, points):
    cfg = KPEConfig(variant=variant, num_freqs=L, include_raw=include_raw)
    enc = KPEEncoder(cfg)
    assert cfg.num_points == points
    assert enc.out_channels == cfg.out_channels == channels
    out = enc(torch.randn(3, points, 2) * 0.5, GRID)
    assert out.shape == (3, channels, 7, 7)


def test_default_channel_counts_documented():
    assert KPEConfig().out_channels == 170
    assert KPEConfig(variant="dense").out_channels == 34
    assert KPEConfig(variant="none").out_channels == 0


def test_sparse_is_broadcast_over_grid():
    enc = KPEEncoder(KPEConfig())
    out = enc(torch.randn(2, 5, 2) * 0.5, GRID)
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))
    assert not torch.equal(out[0], out[1])


def test_dense_cell_matches_sparse_encoding_of_same_angles():
    dense = KPEEncoder(KPEConfig(variant="dense", num_freqs=L))
    sparse = KPEEncoder(KPEConfig(variant="sparse", num_freqs=L))
    g = torch.Generator().manual_seed(3)
    angles = (torch.rand(2, 49, 2, generator=g) - 0.5) * 2.0  # (B, 49, 2) radians, row-major cells
    dmap = dense(angles, GRID)  # (B, 34, 7, 7)
    for i, j in [(0, 0), (0, 6), (3, 3), (6, 2)]:
        p = i * 7 + j
        same = angles[:, p : p + 1].expand(-1, 5, -1)  # sparse input whose 5 points all equal cell (i, j)
        svec = sparse(same, GRID)[:, :, 0, 0]  # (B, 170): point-major, then (x, y), then features
        assert torch.allclose(dmap[:, :, i, j], svec[:, :34], atol=1e-6)
        assert torch.allclose(dmap[:, :, i, j], dense.encode_points(angles)[:, p].reshape(2, -1))


def test_none_ignores_kpe_sparse_depends_on_it():
    none = KPEEncoder(KPEConfig(variant="none"))
    a, b = torch.zeros(2, 5, 2), torch.full((2, 5, 2), 0.7)
    assert torch.equal(none(a, GRID), none(b, GRID))
    sparse = KPEEncoder(KPEConfig())
    assert not torch.allclose(sparse(a, GRID), sparse(b, GRID))


def test_dense_needs_matching_grid():
    with pytest.raises(ValueError, match="grid"):
        KPEEncoder(KPEConfig(variant="dense"))(torch.zeros(1, 49, 2), (8, 8))


def test_fusion_three_convs_no_batchnorm():
    fusion = KPEFusion(64, 170, 32, kernel_size=3)
    convs = [m for m in fusion.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fusion.modules())
    out = fusion(torch.rand(2, 64, 7, 7), torch.rand(2, 170, 7, 7))
    assert out.shape == (2, 32, 7, 7) and (out >= 0).all()
    assert KPEFusion(64, 0, 64)(torch.rand(1, 64, 7, 7), torch.zeros(1, 0, 7, 7)).shape == (1, 64, 7, 7)


def test_residual_fusion_starts_as_identity_and_cannot_shut_the_features_off():
    torch.manual_seed(0)
    fusion = KPEFusion(64, 170, 64, residual=True)
    feats, kpe_map = torch.rand(2, 64, 7, 7), torch.rand(2, 170, 7, 7)
    assert torch.equal(fusion(feats, kpe_map), feats)  # conv3 starts at zero
    with torch.no_grad():  # a dead stack: every unit after conv2 at 0, as the plain stack's ReLUs ended up
        fusion.conv2.bias.fill_(-100.0)
        fusion.conv3.bias.fill_(-100.0)
    feats.requires_grad_(True)
    fusion(feats, kpe_map).sum().backward()
    # the skip path's gradient is there whatever the convs learned (a dead ReLU stack gives exactly 0)
    assert (feats.grad == 1.0).all()
    plain = KPEFusion(64, 170, 64)
    with torch.no_grad():
        plain.conv2.bias.fill_(-100.0)
        plain.conv3.bias.fill_(-100.0)
    f2 = feats.detach().clone().requires_grad_(True)
    plain(f2, kpe_map).sum().backward()
    assert (f2.grad == 0).all()  # the failure mode the residual fusion avoids
    with pytest.raises(ValueError, match="in_channels"):
        KPEFusion(64, 170, 32, residual=True)


def test_residual_fusion_config():
    cfg = ModelConfig(backbone="resnet18", image_size=128, fusion="residual")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="fusion_channels"):
        ModelConfig(backbone="resnet18", fusion="residual", fusion_channels=128)


def test_config_validation_and_round_trip():
    cfg = ModelConfig(backbone="resnet18", kpe=KPEConfig(variant="dense", num_freqs=4), fusion_channels=128)
    d = cfg.to_dict()
    assert d["kpe"]["variant"] == "dense"
    assert ModelConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="kpe.variant='sparce'"):
        KPEConfig(variant="sparce")
    with pytest.raises(ValueError, match="backbone='resnet101'"):
        ModelConfig(backbone="resnet101")
    with pytest.raises(ValueError, match="num_iteration"):
        ModelConfig.from_dict({"num_iteration": 3})
    with pytest.raises(ValueError, match="num_freq"):
        ModelConfig.from_dict({"kpe": {"num_freq": 3}})
    with pytest.raises(ValueError, match="image_size=200"):
        ModelConfig(image_size=200)
    with pytest.raises(ValueError, match="backbone='mediapipe_hand' needs image_size=224, got 128"):
        ModelConfig(backbone="mediapipe_hand", image_size=128)
    mp = ModelConfig(backbone="mediapipe_hand", fusion="residual")
    assert mp.backbone_channels == 1152 and ModelConfig.from_dict(mp.to_dict()) == mp
    with pytest.raises(ValueError, match="dense_grid"):
        ModelConfig(image_size=256, kpe=KPEConfig(variant="dense"))
