"""Every YAML recipe the repo ships parses and passes its checks: training runs (config/train) and looks of
the data generator (config/synth). A config that a later change of the options breaks fails here, not
in the middle of someone's hour-long run."""

from __future__ import annotations

from pathlib import Path

import pytest

from wildhands.data.synthetic import SyntheticConfig
from wildhands.train.config import TrainConfig

CONFIG = Path(__file__).resolve().parents[2] / "config"
TRAIN = sorted((CONFIG / "train").glob("*.yaml"))
SYNTH = sorted((CONFIG / "synth").glob("*.yaml"))


def test_the_shipped_configs_are_found():
    assert len(TRAIN) >= 20 and len(SYNTH) >= 3


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_train_config_parses(path):
    cfg = TrainConfig.from_yaml(path)
    assert cfg.data and cfg.optim.steps > 0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # what a run writes next to its weights reads back


@pytest.mark.parametrize("path", SYNTH, ids=lambda p: p.name)
def test_synthetic_look_parses_and_changes_the_defaults(path):
    cfg = SyntheticConfig.from_yaml(path)
    assert cfg != SyntheticConfig()
