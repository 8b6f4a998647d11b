"""Checkpoint round trip and clear errors for wrong-architecture and damaged files."""

from __future__ import annotations

import io
import random
import re
import string
import zipfile

import pytest
import torch

from wildhands.model import (
    ModelConfig,
    WildHandsNet,
    average_checkpoints,
    load_model,
    read_checkpoint,
    save_checkpoint,
)


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


def _garbage(seed: int) -> bytes:
    """Seeded unreadable bytes of 5 kinds: random, random after a zip's magic, a (truncated) zip of random
    members, a zip laid out like torch.save's with random contents, and text."""
    rng = random.Random(seed)
    kind = seed % 5

    def noise(n: int) -> bytes:
        return bytes(rng.randrange(256) for _ in range(n))

    if kind == 0:
        return noise(rng.choice([0, 1, 2, 3, 4, 5, 8, 16, 64, 512, 4096]))
    if kind == 1:
        return b"PK\x03\x04" + noise(rng.choice([0, 1, 10, 26, 100, 1000]))
    if kind == 4:
        lines = (rng.choices(string.printable, k=rng.randint(0, 80)) for _ in range(rng.randint(1, 20)))
        return "\n".join("".join(line) for line in lines).encode()
    if kind == 3:
        names = ["archive/data.pkl", "archive/version", "archive/byteorder", "archive/data/0"]
    else:
        names = ["".join(rng.choices(string.ascii_lowercase, k=5)) for _ in range(rng.randint(1, 3))]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as z:
        for name in names:
            z.writestr(name, noise(rng.choice([0, 1, 10, 200])))
    data = buf.getvalue()
    return data if kind == 3 or rng.random() < 0.3 else data[: rng.randrange(4, len(data))]


@pytest.mark.parametrize("seed", range(300))
def test_random_bytes_are_refused_naming_the_path(tmp_path, seed):
    path = tmp_path / f"garbage_{seed}.pt"
    path.write_bytes(_garbage(seed))
    with pytest.raises(ValueError, match=f"checkpoint {re.escape(str(path))} is corrupt or truncated"):
        read_checkpoint(path)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("these are not weights\nbut a note about where to download them\n")
    with pytest.raises(ValueError, match=r"weights\.txt is corrupt or truncated, or not a torch file"):
        load_model(path)


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory) -> bytes:
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt", _net(), precision="float16")
    assert isinstance(load_model(path), WildHandsNet)  # the real file loads
    return path.read_bytes()


def _truncations(size: int) -> list[int]:
    small = [0, 1, 2, 3, 4, 5, 10, 22, 30, 64, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000]
    near_end = [size - n for n in (1, 2, 10, 21, 22, 50, 100, 1000, 10_000)]
    return sorted({n for n in small + near_end + [size * k // 8 for k in range(1, 8)] if 0 <= n < size})


def test_truncated_checkpoint_at_many_lengths(tmp_path, saved_checkpoint):
    lengths = _truncations(len(saved_checkpoint))
    assert len(lengths) > 30
    for n in lengths:
        path = tmp_path / f"truncated_{n}.pt"
        path.write_bytes(saved_checkpoint[:n])
        with pytest.raises(ValueError, match=f"truncated_{n}.pt is corrupt or truncated"):
            read_checkpoint(path)
        path.unlink()
    whole = tmp_path / "whole.pt"
    whole.write_bytes(saved_checkpoint)
    assert read_checkpoint(whole)["format"] == "wildhands.model"


def _perturbed(seed: int) -> WildHandsNet:
    torch.manual_seed(seed)
    return _net()


def test_average_checkpoints_is_the_weighted_mean(tmp_path):
    a, b = _perturbed(0), _perturbed(1)
    pa = save_checkpoint(tmp_path / "a.pt", a, extra={"step": 10})
    pb = save_checkpoint(tmp_path / "b.pt", b, extra={"step": 20})
    soup, extra = average_checkpoints([pa, pb], weights=[3.0, 1.0])
    assert not soup.training and soup.config == a.config
    assert extra == {"averaged_from": [str(pa), str(pb)], "average_weights": [0.75, 0.25], "steps": [10, 20]}
    sa, sb, ss = a.state_dict(), b.state_dict(), soup.state_dict()
    key = "kpe_fusion.conv1.weight"
    assert not torch.equal(sa[key], sb[key])  # two different nets, so the mean is not trivially either
    torch.testing.assert_close(ss[key], 0.75 * sa[key] + 0.25 * sb[key])
    for k, v in ss.items():
        if not v.is_floating_point():
            assert torch.equal(v, sa[k])
    uniform, _ = average_checkpoints([pa, pb])
    torch.testing.assert_close(uniform.state_dict()[key], 0.5 * (sa[key] + sb[key]))
    # one checkpoint averages to itself; a float16 file is averaged in float32
    single, _ = average_checkpoints([save_checkpoint(tmp_path / "h.pt", a, precision="float16")])
    torch.testing.assert_close(single.state_dict()[key], sa[key].half().float())


def test_average_checkpoints_rejects_mixed_architectures_and_bad_weights(tmp_path):
    pa = save_checkpoint(tmp_path / "a.pt", _net("resnet18"))
    narrow = WildHandsNet(ModelConfig(backbone="resnet18", fusion_channels=32))
    pw = save_checkpoint(tmp_path / "w.pt", narrow)
    with pytest.raises(ValueError, match=r"w\.pt has config .* one architecture"):
        average_checkpoints([pa, pw])
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([])
    for bad in ([1.0], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="weights"):
            average_checkpoints([pa, pa], weights=bad)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        average_checkpoints([pa, tmp_path / "junk.pt"])
