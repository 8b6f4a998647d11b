"""The ResNet trunk has torchvision's exact state_dict layout (keys and shapes, derived by hand)."""

from __future__ import annotations

import pytest
import torch

from wildhands.model.resnet import ResNet, load_torchvision_state_dict, resnet_trunk

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{n}": (() if n == "num_batches_tracked" else (c,)) for n in _BN}


def torchvision_layout(name: str, with_fc: bool = True) -> dict[str, tuple[int, ...]]:
    """Expected torchvision ``resnetXX().state_dict()`` key -> shape, from the published architecture."""
    bottleneck = name == "resnet50"
    blocks = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3)}[name]
    exp = 4 if bottleneck else 1
    d: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    inplanes = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for i in range(n):
            p = f"layer{stage}.{i}"
            if bottleneck:
                d[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
                d.update(_bn(f"{p}.bn1", planes))
                d[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                d.update(_bn(f"{p}.bn2", planes))
                d[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                d.update(_bn(f"{p}.bn3", planes * 4))
            else:
                d[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
                d.update(_bn(f"{p}.bn1", planes))
                d[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                d.update(_bn(f"{p}.bn2", planes))
            if i == 0 and (stage > 1 or inplanes != planes * exp):
                d[f"{p}.downsample.0.weight"] = (planes * exp, inplanes, 1, 1)
                d.update(_bn(f"{p}.downsample.1", planes * exp))
            inplanes = planes * exp
    if with_fc:
        d["fc.weight"] = (1000, 512 * exp)
        d["fc.bias"] = (1000,)
    return d


# Well-known sizes of torchvision's state_dicts (BN num_batches_tracked included).
KNOWN_COUNTS = {"resnet18": 122, "resnet34": 218, "resnet50": 320}


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_layout_matches_torchvision(name):
    expected = torchvision_layout(name)
    assert len(expected) == KNOWN_COUNTS[name]
    model = ResNet(name)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected
    # a few representative keys spelled out by hand
    if name == "resnet50":
        assert got["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
        assert got["layer4.2.conv3.weight"] == (2048, 512, 1, 1)
        assert got["layer3.5.bn2.running_var"] == (256,)
        assert got["fc.weight"] == (1000, 2048)
    else:
        assert "layer1.0.downsample.0.weight" not in got
        assert got["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_torchvision_state_dict_loads_strict_into_trunk(name):
    layout = torchvision_layout(name)
    g = torch.Generator().manual_seed(1)
    sd = {
        k: (torch.tensor(7) if not shape else torch.randn(shape, generator=g)) for k, shape in layout.items()
    }
    trunk = resnet_trunk(name)
    load_torchvision_state_dict(trunk, sd)  # fc.* dropped, everything else strict
    for k, v in trunk.state_dict().items():
        assert torch.equal(v, sd[k]), k
    full = ResNet(name)
    full.load_state_dict(sd, strict=True)


def test_trunk_output_shape_and_classifier():
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert resnet_trunk("resnet18").eval()(x).shape == (1, 512, 7, 7)
        assert ResNet("resnet18", num_classes=10).eval()(x).shape == (1, 10)


def test_wrong_state_dict_lists_keys():
    sd = {k: torch.zeros(s) for k, s in torchvision_layout("resnet18").items()}
    with pytest.raises(ValueError, match=r"missing keys \[.*layer1\.2\.conv1\.weight"):
        load_torchvision_state_dict(resnet_trunk("resnet34"), sd)
    sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(ValueError, match=r"mismatched shapes \[conv1\.weight"):
        load_torchvision_state_dict(resnet_trunk("resnet18"), sd)


def test_bad_name():
    with pytest.raises(ValueError, match="resnet101"):
        resnet_trunk("resnet101")
