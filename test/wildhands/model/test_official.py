"""The official WildHands checkpoint importer, on synthetic state dicts in the documented official layout.

The reference forward below is written from the official code's description (``wildhands/models/model.py``,
``hand_heads/hand_hmr.py``, ``hmr_layer.py``, pytorch3d ``rotation_6d_to_matrix``) with plain functional
ops on the OFFICIAL tensors, independently of ``WildHandsNet``'s modules (only the ResNet-50 trunks, whose
weights map by identity, are run with our ``resnet_trunk``).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wildhands.model import ModelConfig, WildHandsNet
from wildhands.model.checkpoint import load_model
from wildhands.model.config import KPEConfig
from wildhands.model.official import (
    CONFIG_CHANGES_FOR_FULL_IMPORT,
    import_official_checkpoint,
    load_official_models,
    load_official_state_dict,
    official_compatible_config,
    official_config,
    official_key_map,
    official_state_dict_shapes,
)
from wildhands.model.resnet import resnet_trunk

HR = "model.head_r.hmr_layer."
HL = "model.head_l.hmr_layer."
HB = "model.hand_backbone."


@pytest.fixture(scope="module")
def official_sd() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = {
        k: torch.randn(s, generator=g) if s else torch.tensor(7)
        for k, s in official_state_dict_shapes().items()
    }
    # MANO buffers the checkpoint also holds: must be ignored
    sd["mano_r.faces_tensor"] = torch.zeros(1538, 3, dtype=torch.long)
    sd["model.mano_l.mano.shapedirs"] = torch.zeros(778, 3, 10)
    return sd


# ------------------------------------------------------------------------------------------ config options


def test_new_options_default_to_ours_and_stay_out_of_old_dicts():
    cfg = ModelConfig()
    d = cfg.to_dict()
    for name in ("fusion", "global_backbone", "cam_init", "cam_scale", "rot6d_layout", "grasp_input"):
        assert name not in d
    assert "layout" not in d["kpe"]
    assert (cfg.fusion, cfg.cam_init, cfg.cam_scale, cfg.rot6d_layout) == ("ours", "mean", "log", "columns")
    assert ModelConfig.from_dict(d) == cfg


def test_official_config_round_trip_and_validation():
    cfg = official_config()
    d = cfg.to_dict()
    assert d["grasp_hidden"] == [1024, 512, 128] and d["kpe"]["layout"] == "official"
    assert ModelConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({**d, "fuson": "official"})
    with pytest.raises(ValueError, match="unknown KPEConfig keys"):
        ModelConfig.from_dict({**d, "kpe": {**d["kpe"], "layot": "ours"}})
    with pytest.raises(ValueError, match="rot6d_layout='cols'"):
        ModelConfig(rot6d_layout="cols")
    with pytest.raises(ValueError, match="kpe.layout='official' needs"):
        KPEConfig(layout="official")  # include_raw=True
    with pytest.raises(ValueError, match="fusion='official' fixes"):
        ModelConfig(fusion="official", fusion_channels=64)
    with pytest.raises(ValueError, match="grasp_hidden\\[1\\]"):
        ModelConfig(grasp_hidden=(8, 0))


def test_default_construction_unchanged_by_new_options():
    torch.manual_seed(3)
    a = WildHandsNet(ModelConfig(backbone="resnet18", fusion_channels=64)).state_dict()
    torch.manual_seed(3)
    b = WildHandsNet(ModelConfig.from_dict({"backbone": "resnet18", "fusion_channels": 64})).state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith(("global_backbone.", "regressor.cam_init.")) for k in a)


# ------------------------------------------------------------------------------------------ full import


def test_full_import_maps_every_official_key(official_sd, caplog):
    with caplog.at_level(logging.WARNING, logger="wildhands.model.official"):
        models = load_official_models({"state_dict": official_sd, "epoch": 3})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    used = set()
    for side, model in models.items():
        assert model.config == official_config()
        ours = model.state_dict()
        key_map = official_key_map(side)
        for our_key, (off_key, transform) in key_map.items():
            assert transform == "identity"
            torch.testing.assert_close(ours[our_key], official_sd[off_key], rtol=0, atol=0)
            used.add(off_key)
        # every tensor of ours is filled from the checkpoint, except our constant mean buffers
        assert sorted(k for k in ours if k not in key_map) == [
            "regressor.mean_betas",
            "regressor.mean_cam",
            "regressor.mean_pose_6d",
        ]
    # both sides together use every official (non-MANO) key
    assert used == set(official_state_dict_shapes())
    r, left = models["r"], models["l"]
    # documented destinations
    torch.testing.assert_close(r.backbone.layer4[2].conv3.weight, official_sd[HB + "layer4.2.conv3.weight"])
    torch.testing.assert_close(r.global_backbone.conv1.weight, official_sd["model.backbone.conv1.weight"])
    torch.testing.assert_close(r.kpe_fusion.net[7].bias, official_sd["model.feature_conv.7.bias"])
    torch.testing.assert_close(r.regressor.fc1.weight, official_sd[HR + "refine.0.weight"])
    torch.testing.assert_close(r.regressor.dec_cam.weight, official_sd[HR + "decoders.cam_t/wp.weight"])
    torch.testing.assert_close(r.regressor.cam_init[4].bias, official_sd["model.head_r.cam_init.4.bias"])
    torch.testing.assert_close(left.regressor.fc2.weight, official_sd[HL + "refine.3.weight"])
    torch.testing.assert_close(
        left.regressor.cam_init[0].weight, official_sd["model.head_l.cam_init.0.weight"]
    )
    torch.testing.assert_close(r.grasp_head.mlp[6].weight, official_sd["model.grasp_classifier.6.weight"])
    assert r.kpe_fusion.net[0].bias is None and r.kpe_fusion.net[0].weight.shape == (1024, 2128, 1, 1)


def test_inference_checkpoint_without_grasp_classifier(official_sd):
    sd = {k: v for k, v in official_sd.items() if "grasp_classifier" not in k}
    model = load_official_state_dict(sd)
    assert model.config == official_config(grasp=False)
    assert model.config.num_grasp_classes == 8


def test_inexact_config_is_refused_with_reasons(official_sd):
    with pytest.raises(ValueError) as e:
        load_official_state_dict(official_sd, official_compatible_config())
    msg = str(e.value)
    for part in ("model.backbone.", "model.feature_conv.", "cam_init.", "grasp_classifier", "rot6d_layout"):
        assert part in msg
    assert CONFIG_CHANGES_FOR_FULL_IMPORT in msg


def test_partial_import_still_possible(official_sd):
    model = load_official_state_dict(official_sd, official_compatible_config(), allow_partial=True, side="l")
    key_map = official_key_map("l", official_compatible_config())
    assert not any(k.startswith(("global_backbone", "kpe_fusion", "grasp_head")) for k in key_map)
    ours = model.state_dict()
    for our_key, (off_key, _) in key_map.items():
        torch.testing.assert_close(ours[our_key], official_sd[off_key], rtol=0, atol=0)
    assert not torch.equal(ours["backbone.conv1.weight"], official_sd["model.backbone.conv1.weight"])


def test_missing_and_misshaped_keys_are_listed(official_sd):
    sd = dict(official_sd)
    del sd["model.head_r.hmr_layer.decoders.shape.bias"]
    sd["model.feature_conv.2.weight"] = torch.zeros(512, 1024, 1, 1)
    sd["model.extra_head.weight"] = torch.zeros(3)
    with pytest.raises(ValueError) as e:
        load_official_state_dict(sd)
    msg = str(e.value)
    assert "missing keys ['model.head_r.hmr_layer.decoders.shape.bias']" in msg
    assert "model.feature_conv.2.weight: got (512, 1024, 1, 1), expected (512, 1024, 3, 3)" in msg
    assert "model.extra_head.weight" in msg
    with pytest.raises(ValueError, match="side='x'"):
        load_official_state_dict(official_sd, side="x")


def test_import_official_checkpoint_roundtrip(official_sd, tmp_path):
    src = tmp_path / "wildhands.ckpt"
    torch.save({"state_dict": official_sd, "epoch": 1, "global_step": 10}, src)
    out = import_official_checkpoint(src, tmp_path / "out.pt")
    payload = torch.load(out, weights_only=True)
    assert payload["extra"]["partial"] is False and payload["extra"]["side"] == "r"
    model = load_model(out)
    assert model.config == official_config()
    torch.testing.assert_close(model.regressor.dec_pose.weight, official_sd[HR + "decoders.pose_6d.weight"])
    out2 = import_official_checkpoint(
        src, tmp_path / "p.pt", config=official_compatible_config(), allow_partial=True
    )
    assert torch.load(out2, weights_only=True)["extra"]["partial"] is True
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        import_official_checkpoint(tmp_path / "nope.ckpt", tmp_path / "x.pt")


# ------------------------------------------------------------------------------ reference official forward


def _p3d_rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """pytorch3d convention: the 6 numbers are the first two ROWS; Gram-Schmidt; rows stacked."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def _official_pos_enc(angle: torch.Tensor, n_freq: int) -> torch.Tensor:
    """compute_center_pos_enc / compute_corner_pos_enc: (B, c) -> (B, L*c*2), [k][angle][sin, cos]."""
    b, c = angle.shape
    freq = (2 ** torch.arange(n_freq)).reshape(1, n_freq, 1).to(angle)
    x = freq * angle.reshape(b, 1, c)
    return torch.stack([torch.sin(x), torch.cos(x)], dim=-1).reshape(b, -1)


def _official_head(sd, head: str, feat: torch.Tensor, n_iter: int) -> dict[str, torch.Tensor]:
    """HandHMR + HMRLayer in eval mode: state dict inserted as pose_6d, shape, cam_t/wp."""

    def lin(x, name):
        return F.linear(x, sd[name + ".weight"], sd[name + ".bias"])

    b = feat.shape[0]
    c = f"{head}.cam_init."
    cam = lin(F.relu(lin(F.relu(lin(feat, c + "0")), c + "2")), c + "4")
    state = {
        "pose_6d": torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(b, 16),
        "shape": torch.zeros(b, 10),
        "cam_t/wp": cam,
    }
    h = f"{head}.hmr_layer."
    for _ in range(n_iter):
        xc = torch.cat([feat] + list(state.values()), dim=1)
        xc = F.relu(lin(F.relu(lin(xc, h + "refine.0")), h + "refine.3"))
        for key in ("pose_6d", "cam_t/wp", "shape"):  # the decoders' order
            state[key] = lin(xc, h + "decoders." + key) + state[key]
    state["pose"] = _p3d_rotation_6d_to_matrix(state["pose_6d"].reshape(-1, 6)).view(b, 16, 3, 3)
    return state


def _official_forward(sd, head, crops, full, kpe_ours):
    """The official WildHands forward for one head, written from the official code's structure."""
    trunk_h, trunk_g = resnet_trunk("resnet50").eval(), resnet_trunk("resnet50").eval()
    trunk_h.load_state_dict({k[len(HB) :]: v for k, v in sd.items() if k.startswith(HB)})
    trunk_g.load_state_dict({k[15:]: v for k, v in sd.items() if k.startswith("model.backbone.")})
    # official inputs from our point order TL, TR, BL, BR, centre: centre (2), corners (x0,y0), (x0,y1),
    # (x1,y0), (x1,y1) = TL, BL, TR, BR (8)
    tl, tr, bl, br, ctr = kpe_ours.unbind(1)
    center_angle = ctr
    corner_angle = torch.cat([tl, bl, tr, br], dim=1)
    features = trunk_g(full)
    hand = trunk_h(crops)
    bz, _, w, h = hand.shape
    ce = _official_pos_enc(center_angle, 4).view(bz, -1, 1, 1).repeat(1, 1, w, h)
    co = _official_pos_enc(corner_angle, 4).view(bz, -1, 1, 1).repeat(1, 1, w, h)
    x = torch.cat([hand + features, ce, co], dim=1)
    x = F.relu(F.conv2d(x, sd["model.feature_conv.0.weight"]))
    x = F.relu(F.conv2d(x, sd["model.feature_conv.2.weight"]))
    x = F.relu(F.conv2d(x, sd["model.feature_conv.4.weight"]))
    x = F.relu(F.linear(x.flatten(1), sd["model.feature_conv.7.weight"], sd["model.feature_conv.7.bias"]))
    out = _official_head(sd, head, x, 3)
    gc = "model.grasp_classifier."
    z = torch.cat([out["shape"], out["pose"].view(bz, -1)], dim=1)
    for i in (0, 2, 4):
        z = F.relu(F.linear(z, sd[f"{gc}{i}.weight"], sd[f"{gc}{i}.bias"]))
    out["grasp"] = F.linear(z, sd[f"{gc}6.weight"], sd[f"{gc}6.bias"])
    return out, x


@pytest.fixture(scope="module")
def realistic_official_sd() -> dict[str, torch.Tensor]:
    """Official-layout weights with sane magnitudes (a freshly initialised official-config network, with
    larger decoders so that the three updates move far from the initial state)."""
    torch.manual_seed(0)
    net = WildHandsNet(official_config()).eval()
    with torch.no_grad():
        for dec in (net.regressor.dec_pose, net.regressor.dec_betas, net.regressor.dec_cam):
            dec.weight.normal_(0, 0.03)
            dec.bias.normal_(0, 0.1)
    ours = net.state_dict()
    sd = {}
    for side in ("r", "l"):
        for our_key, (off_key, _) in official_key_map(side).items():
            sd[off_key] = ours[our_key].clone() * (1.0 if side == "r" or "head_" not in off_key else 0.9)
    return sd


def _inputs(b: int = 2):
    g = torch.Generator().manual_seed(1)
    crops = torch.randn(b, 3, 224, 224, generator=g)
    full = torch.randn(b, 3, 224, 224, generator=g)
    kpe = (torch.rand(b, 5, 2, generator=g) - 0.5) * 1.5
    return crops, kpe, full


@pytest.mark.parametrize("side", ["r", pytest.param("l", marks=pytest.mark.slow)])
def test_forward_equals_reference_official_forward(realistic_official_sd, side):
    sd = realistic_official_sd
    model = load_official_state_dict(sd, side=side).eval()
    crops, kpe, full = _inputs()
    with torch.no_grad():
        out = model(crops, kpe, full)
        ref, _ = _official_forward(sd, f"model.head_{side}", crops, full, kpe)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    torch.testing.assert_close(out.pose_6d.reshape(2, -1), ref["pose_6d"], **tol)
    torch.testing.assert_close(out.global_orient, ref["pose"][:, 0], **tol)
    torch.testing.assert_close(out.hand_pose, ref["pose"][:, 1:], **tol)
    torch.testing.assert_close(out.betas, ref["shape"], **tol)
    torch.testing.assert_close(out.cam_wp, ref["cam_t/wp"], **tol)
    torch.testing.assert_close(out.grasp_logits, ref["grasp"], **tol)
    # the test is not vacuous: the pose moved away from identity and rows != columns
    assert (out.pose_6d - torch.tensor([1.0, 0, 0, 0, 1, 0])).abs().max() > 0.1
    assert (out.global_orient - out.global_orient.transpose(-1, -2)).abs().max() > 1e-3


def test_kpe_encoding_and_first_iteration_match_reference(realistic_official_sd):
    sd = realistic_official_sd
    model = load_official_state_dict(sd).eval()
    _, kpe, _ = _inputs()
    tl, tr, bl, br, ctr = kpe.unbind(1)
    ref_enc = torch.cat(
        [_official_pos_enc(ctr, 4), _official_pos_enc(torch.cat([tl, bl, tr, br], 1), 4)], dim=1
    )
    enc = model.kpe_encoder(kpe, (7, 7))
    assert enc.shape == (2, 80, 7, 7)
    torch.testing.assert_close(enc[:, :, 3, 5], ref_enc, rtol=0, atol=0)
    # regressor, first iteration only, from the same fused features
    feat = torch.rand(2, 2048)
    model.regressor.num_iterations = 1
    with torch.no_grad():
        reg = model.regressor(feat)
        ref = _official_head(sd, "model.head_r", feat, 1)
    torch.testing.assert_close(reg.pose_6d.reshape(2, -1), ref["pose_6d"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reg.betas, ref["shape"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reg.cam_wp, ref["cam_t/wp"], rtol=1e-5, atol=1e-5)


def test_rows_layout_is_transpose_of_columns():
    d6 = torch.randn(4, 16, 6)
    from wildhands.geometry.rotations import rot6d_to_matrix

    torch.testing.assert_close(rot6d_to_matrix(d6).transpose(-1, -2), _p3d_rotation_6d_to_matrix(d6))


def test_global_backbone_input_is_checked():
    model = WildHandsNet(official_config(grasp=False)).eval()
    crops, kpe, full = _inputs(1)
    with pytest.raises(ValueError, match="full_images must be given"):
        model(crops, kpe)
    ours = WildHandsNet(ModelConfig(backbone="resnet18", fusion_channels=32)).eval()
    with pytest.raises(ValueError, match="full_images must be given"):
        ours(crops, kpe, full)


@pytest.mark.onnxruntime
@pytest.mark.slow
def test_official_config_exports_to_onnx(realistic_official_sd, tmp_path):
    import onnxruntime as ort

    from wildhands.model.export import export_onnx
    from wildhands.model.network import OUTPUT_NAMES, input_names

    model = load_official_state_dict(realistic_official_sd).eval()
    path = export_onnx(model, tmp_path / "official.onnx", batch_size=1, dynamic_batch=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(input_names(model.config))
    assert [i.name for i in sess.get_inputs()] == ["images", "kpe", "full_images"]
    crops, kpe, full = _inputs(2)
    with torch.no_grad():
        ref = model.forward_tensors(crops, kpe, full)
    got = sess.run(None, {"images": crops.numpy(), "kpe": kpe.numpy(), "full_images": full.numpy()})
    for name, g, r in zip(OUTPUT_NAMES, got, ref):
        assert g.shape == tuple(r.shape), name
        assert float(np.abs(g - r.numpy()).max()) < 1e-3, name
