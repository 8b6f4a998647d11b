"""ResNet-18/34/50 with torchvision's module and parameter names (written here; torchvision is not needed).

Names match ``torchvision.models.resnet`` exactly (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0`` ...), so an ImageNet checkpoint saved by torchvision loads by key with
``strict=True``. Architecture: ResNet v1.5 (stride 2 in the 3x3 conv of a Bottleneck, as torchvision).

``resnet_trunk(name)`` drops the classifier: it maps ``images (B, 3, H, W)`` to the last feature map
``(B, C, H/32, W/32)`` — (B, 512, 7, 7) for resnet18/34 and (B, 2048, 7, 7) for resnet50 at 224 px.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from wildhands.model._state_dict import load_state_dict_checked


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs + identity (resnet18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand by 4, + identity (resnet50)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


#: name -> (block type, blocks per stage)
RESNET_SPECS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """torchvision-layout ResNet.

    Args:
        name: ``'resnet18' | 'resnet34' | 'resnet50'``.
        num_classes: size of ``fc``; ``None`` builds a trunk without ``avgpool``/``fc`` whose forward returns
            the last feature map (B, C, H/32, W/32) instead of logits.
    """

    def __init__(self, name: str, num_classes: int | None = 1000):
        super().__init__()
        if name not in RESNET_SPECS:
            raise ValueError(f"backbone={name!r} not in {set(RESNET_SPECS)}")
        block, layers = RESNET_SPECS[name]
        self.name = name
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.out_channels = 512 * block.expansion
        self.avgpool: nn.Module | None = None
        self.fc: nn.Linear | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(self.out_channels, num_classes)
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        expansion = block.expansion  # type: ignore[attr-defined]
        downsample = None
        if stride != 1 or self.inplanes != planes * expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * expansion, stride), nn.BatchNorm2d(planes * expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 3, H, W)`` normalised image -> ``(B, out_channels, H/32, W/32)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        if self.fc is None:
            return x
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_trunk(name: str) -> ResNet:
    """ResNet without ``avgpool``/``fc``: ``images (B,3,224,224) -> (B,C,7,7)``, C = 512 (18/34) or 2048."""
    return ResNet(name, num_classes=None)


def load_torchvision_state_dict(model: ResNet, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a torchvision ``resnetXX().state_dict()`` into ``model`` strictly (by key, every shape checked).

    For a trunk (``fc is None``) the classifier entries ``fc.weight``/``fc.bias`` are dropped first; every
    other key must match exactly. Raises ``ValueError`` listing missing/unexpected/mismatched keys.
    """
    sd = dict(state_dict)
    if model.fc is None:
        sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    load_state_dict_checked(model, sd, "torchvision state_dict")
