"""The official WildHands checkpoint importer, on a synthetic state dict in the documented official layout."""

from __future__ import annotations

import pytest
import torch

from wildhands.model.checkpoint import load_model
from wildhands.model.official import (
    import_official_checkpoint,
    load_official_state_dict,
    official_key_map,
    official_state_dict_shapes,
)

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


def test_exact_import_is_refused_with_reasons(official_sd):
    with pytest.raises(ValueError) as e:
        load_official_state_dict(official_sd)
    msg = str(e.value)
    for part in (
        "model.backbone.",
        "model.feature_conv.",
        "cam_init.",
        "model.head_l.",
        "grasp_classifier",
        "6D",
    ):
        assert part in msg


def test_partial_import_puts_every_tensor_in_place(official_sd):
    model = load_official_state_dict({"state_dict": official_sd, "epoch": 3}, allow_partial=True, side="r")
    ours = model.state_dict()
    key_map = official_key_map("r")
    for our_key, (off_key, transform) in key_map.items():
        if transform == "identity":
            torch.testing.assert_close(
                ours[our_key], official_sd[off_key].to(ours[our_key].dtype), rtol=0, atol=0
            )
    # the crop backbone is the official hand_backbone (not the full-image backbone)
    torch.testing.assert_close(
        ours["backbone.layer4.2.conv3.weight"], official_sd[HB + "layer4.2.conv3.weight"]
    )
    assert not torch.equal(ours["backbone.conv1.weight"], official_sd["model.backbone.conv1.weight"])
    # fc1: same function of (feat, pose, betas, cam) as refine.0 of (feat, pose, cam, betas)
    feat, pose, cam, betas = torch.randn(2, 2048), torch.randn(2, 96), torch.randn(2, 3), torch.randn(2, 10)
    w, b = (
        official_sd[HR + "refine.0.weight"],
        official_sd[HR + "refine.0.bias"],
    )
    ref = torch.cat((feat, pose, cam, betas), 1) @ w.T + b
    got = model.regressor.fc1(torch.cat((feat, pose, betas, cam), 1))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(model.regressor.dec_cam.weight, official_sd[HR + "decoders.cam_t/wp.weight"])
    torch.testing.assert_close(model.regressor.dec_betas.bias, official_sd[HR + "decoders.shape.bias"])
    left = load_official_state_dict(official_sd, allow_partial=True, side="l")
    torch.testing.assert_close(left.regressor.fc2.weight, official_sd[HL + "refine.3.weight"])


def test_missing_and_misshaped_keys_are_listed(official_sd):
    sd = dict(official_sd)
    del sd["model.head_r.hmr_layer.decoders.shape.bias"]
    sd["model.feature_conv.2.weight"] = torch.zeros(512, 1024, 1, 1)
    sd["model.extra_head.weight"] = torch.zeros(3)
    with pytest.raises(ValueError) as e:
        load_official_state_dict(sd, allow_partial=True)
    msg = str(e.value)
    assert "missing keys ['model.head_r.hmr_layer.decoders.shape.bias']" in msg
    assert "model.feature_conv.2.weight: got (512, 1024, 1, 1), expected (512, 1024, 3, 3)" in msg
    assert "model.extra_head.weight" in msg


def test_import_official_checkpoint_roundtrip(official_sd, tmp_path):
    src = tmp_path / "wildhands.ckpt"
    torch.save({"state_dict": official_sd, "epoch": 1, "global_step": 10}, src)
    with pytest.raises(ValueError, match="cannot be imported exactly"):
        import_official_checkpoint(src, tmp_path / "out.pt")
    out = import_official_checkpoint(src, tmp_path / "out.pt", allow_partial=True)
    model = load_model(out)
    torch.testing.assert_close(model.regressor.dec_pose.weight, official_sd[HR + "decoders.pose_6d.weight"])
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        import_official_checkpoint(tmp_path / "nope.ckpt", tmp_path / "x.pt")
