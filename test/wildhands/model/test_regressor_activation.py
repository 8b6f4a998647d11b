"""``ModelConfig.regressor_activation``: leaky ReLUs in the regressor, same parameters as ReLUs."""

import pytest
import torch

from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet

TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


def test_leaky_regressor_has_the_relu_state_dict_and_passes_negative_gradients():
    relu = WildHandsNet(ModelConfig(**TINY))
    leaky = WildHandsNet(ModelConfig(**TINY, regressor_activation="leaky_relu"))
    assert relu.state_dict().keys() == leaky.state_dict().keys()
    leaky.load_state_dict(relu.state_dict())
    x = torch.randn(5, ModelConfig(**TINY).fused_channels)
    with torch.no_grad():
        relu.regressor.fc1.bias.fill_(-100.0)  # every unit off for a ReLU
        leaky.regressor.fc1.bias.fill_(-100.0)
    x.requires_grad_(True)
    relu.regressor(x).pose_6d.sum().backward()
    assert x.grad is None or float(x.grad.abs().max()) == 0.0  # dead ReLUs: no gradient at all
    y = x.detach().clone().requires_grad_(True)
    leaky.regressor(y).pose_6d.sum().backward()
    assert float(y.grad.abs().max()) > 0.0


def test_activation_is_serialised_only_when_not_the_default():
    assert "regressor_activation" not in ModelConfig(**TINY).to_dict()
    cfg = ModelConfig(**TINY, regressor_activation="leaky_relu")
    assert cfg.to_dict()["regressor_activation"] == "leaky_relu"
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="regressor_activation"):
        ModelConfig(**TINY, regressor_activation="gelu")
