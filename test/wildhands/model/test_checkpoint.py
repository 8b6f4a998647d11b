"""Checkpoint round trip and clear errors for wrong-architecture and damaged files."""

from __future__ import annotations

import pytest
import torch

from wildhands.model import ModelConfig, WildHandsNet, load_model, read_checkpoint, save_checkpoint


def _net(backbone: str = "resnet18") -> WildHandsNet:
    return WildHandsNet(ModelConfig(backbone=backbone, fusion_channels=64))


def test_round_trip_identical_outputs(tmp_path):
    net = _net()
    # make BN running stats non-trivial so buffers are checked too
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 3, 224, 224), torch.zeros(2, 5, 2))
    net.eval()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", net, extra={"epoch": 3, "mpjpe_mm": 31.5})
    loaded = load_model(path)
    assert loaded.config == net.config and not loaded.training
    assert read_checkpoint(path)["extra"] == {"epoch": 3, "mpjpe_mm": 31.5}
    x, k = torch.randn(1, 3, 224, 224), torch.rand(1, 5, 2) - 0.5
    with torch.no_grad():
        for a, b in zip(net(x, k).as_tuple(), loaded(x, k).as_tuple()):
            assert torch.equal(a, b)


def test_wrong_architecture_lists_keys(tmp_path):
    path = save_checkpoint(tmp_path / "r18.pt", _net("resnet18"))
    cfg34 = ModelConfig(backbone="resnet34", fusion_channels=64)
    with pytest.raises(ValueError, match=r"r18\.pt.*missing keys \[.*backbone\.layer1\.2\.bn1\.bias"):
        load_model(path, config=cfg34)
    # a file whose stored config says resnet34 but holds resnet18 weights
    payload = read_checkpoint(path)
    payload["config"]["backbone"] = "resnet34"
    torch.save(payload, tmp_path / "lying.pt")
    with pytest.raises(ValueError, match="missing keys"):
        load_model(tmp_path / "lying.pt")
    # shape mismatch is named with both shapes
    cfg_wide = ModelConfig(backbone="resnet18", fusion_channels=32)
    with pytest.raises(ValueError, match=r"mismatched shapes \[.*kpe_fusion\.conv1\.weight: file \(64,"):
        load_model(path, config=cfg_wide)


def test_truncated_and_garbage_files_name_path(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _net())
    data = path.read_bytes()
    trunc = tmp_path / "truncated.pt"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.pt"):
        load_model(trunc)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pt"):
        load_model(junk)
    with pytest.raises(ValueError, match="missing.pt does not exist"):
        load_model(tmp_path / "missing.pt")


def test_other_torch_file_and_bad_config(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a wildhands.model file"):
        load_model(other)
    path = save_checkpoint(tmp_path / "m.pt", _net())
    payload = read_checkpoint(path)
    payload["config"]["backbon"] = "resnet18"
    torch.save(payload, tmp_path / "typo.pt")
    with pytest.raises(ValueError, match="typo.pt has an invalid config.*backbon"):
        load_model(tmp_path / "typo.pt")
