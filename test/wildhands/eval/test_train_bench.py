"""bench/train.py: the scene looks it times are valid generator settings, the shipped looks among them."""

from __future__ import annotations

from bench_scripts import load_bench

from wildhands.data.synthetic import SyntheticConfig

tb = load_bench("train")


def test_scene_looks_are_generator_settings_and_include_the_shipped_looks():
    configs = {name: SyntheticConfig.from_dict(look) for name, look in tb.SCENE_LOOKS.items()}
    assert configs["tubes (default)"] == SyntheticConfig()
    realism = configs["config/synth/realism.yaml"]
    assert realism.hand_look == "skin" and realism.max_fov_deg == 120.0
    assert configs["config/synth/skin_v4.yaml (training look)"].backgrounds == "photo_mix"
    assert len(set(configs.values())) == len(configs)  # no look timed twice under two names
