"""Shipped weights: packaging to float16, the manifest, and the checks done before loading."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from wildhands.model.checkpoint import load_model, save_checkpoint
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet
from wildhands.model.weights import (
    SHIPPED_BACKBONE,
    WeightsError,
    load_manifest,
    models_dir,
    resolve_weights,
)

REPO = Path(__file__).resolve().parents[3]
TINY = ModelConfig.from_dict(
    {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}
)


def _package_module():
    spec = importlib.util.spec_from_file_location("package_weights", REPO / "scripts" / "package_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def packaged(tmp_path):
    """A trained-run-like checkpoint packaged into tmp/models as entry 'tiny' (the default)."""
    torch.manual_seed(0)
    model = WildHandsNet(TINY).eval()
    run = tmp_path / "run"
    save_checkpoint(
        run / "model.pt", model, extra={"step": 7, "train": {"seed": 3, "data": [{"name": "s", "seed": 1}]}}
    )
    (run / "history.jsonl").write_text(json.dumps({"step": 7, "eval/mpjpe_mm": 99.0}) + "\n")
    models = tmp_path / "models"
    _package_module().package(run / "model.pt", "tiny", models, None, make_default=True)
    return model, models


def test_packaged_weights_are_half_size_and_load_with_the_same_outputs(packaged, tmp_path):
    model, models = packaged
    full = save_checkpoint(tmp_path / "full.pt", model)
    path = resolve_weights("default", models)
    assert path == models / "tiny.pt" and resolve_weights("tiny", models) == path
    assert path.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    torch.manual_seed(1)
    images, kpe = torch.randn(2, 3, 64, 64), torch.randn(2, 5, 2) * 0.3
    with torch.no_grad():
        a, b = model(images, kpe), loaded(images, kpe)
    assert torch.allclose(a.cam_wp, b.cam_wp, atol=5e-3, rtol=5e-3)
    assert torch.allclose(a.global_orient, b.global_orient, atol=5e-3)
    entry = load_manifest(models)["weights"]["tiny"]
    assert (
        entry["training"]["steps_done"] == 7
        and entry["training"]["last_training_eval"]["eval/mpjpe_mm"] == 99.0
    )
    assert entry["model_config"] == TINY.to_dict() and entry["precision"] == "float16"


def test_corrupt_or_modified_weights_are_refused(packaged):
    _, models = packaged
    path = models / "tiny.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was modified"):
        resolve_weights("default", models)


def test_missing_weights_name_the_path_and_how_to_get_them(packaged):
    _, models = packaged
    (models / "tiny.pt").unlink()
    with pytest.raises(WeightsError, match=r"tiny\.pt is missing.*wildhands train"):
        resolve_weights("default", models)
    with pytest.raises(WeightsError, match=r"nowhere\.pt does not exist.*wildhands train"):
        resolve_weights("/nowhere.pt")


def test_architecture_other_than_the_manifest_is_refused(packaged):
    _, models = packaged
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["weights"]["tiny"]["model_config"]["backbone"] = "resnet50"
    (models / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match=r"another architecture.*backbone"):
        resolve_weights("tiny", models)


def test_unknown_names_and_untrained_spellings(packaged):
    _, models = packaged
    with pytest.raises(WeightsError, match=r"names: \['tiny'\]"):
        resolve_weights("wildhands_resnet99", models)
    for spec in (None, "", "untrained", "none"):
        assert resolve_weights(spec, models) is None
    with pytest.raises(WeightsError, match="no weights manifest"):
        resolve_weights("default", models / "empty")


def test_the_shipped_default_weights_verify_and_fit_the_size_limit():
    folder = models_dir()
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped weights in {folder} yet")
    from detector_models import detector_models_missing

    from wildhands.model.config import FROZEN_BACKBONES

    manifest = load_manifest(folder)
    for name, entry in manifest["weights"].items():
        path = resolve_weights(name, folder)
        assert path.stat().st_size <= 60 * 1024 * 1024, name
        assert entry["training"]["steps_done"] > 0
        # a frozen backbone (mediapipe_hand) is read from the detector-model cache when the network is built
        if entry["model_config"]["backbone"] in FROZEN_BACKBONES and detector_models_missing(litert=False):
            continue
        load_model(path)


def test_shipped_backbone_is_the_default_weights_architecture():
    """SHIPPED_BACKBONE (default of the CLI, the node parameter and the demo) = the shipped default's."""
    from wildhands.model.checkpoint import read_checkpoint

    manifest = load_manifest()
    entry = manifest["weights"][manifest["default"]]
    assert entry["model_config"]["backbone"] == SHIPPED_BACKBONE
    assert read_checkpoint(resolve_weights("default"))["config"]["backbone"] == SHIPPED_BACKBONE


def test_averaged_runs_package_with_their_sources(tmp_path):
    spec = importlib.util.spec_from_file_location("average_weights", REPO / "scripts" / "average_weights.py")
    average = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(average)
    runs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / f"run{seed}" / "model.pt"
        save_checkpoint(path, WildHandsNet(TINY), extra={"step": 7, "train": {"seed": seed, "data": []}})
        runs.append(path)
    soup = tmp_path / "soup" / "model.pt"
    assert average.main(["--out", str(soup), *map(str, runs)]) == 0
    a, b, s = (load_model(p).state_dict()["regressor.fc1.weight"] for p in (*runs, soup))
    assert torch.allclose(s, 0.5 * (a + b))
    entry = _package_module().package(soup, "soup", tmp_path / "models", None, make_default=False)
    assert entry["training"]["averaged_from"] == [str(p) for p in runs]
    assert entry["training"]["seeds"] == [0, 1] and entry["training"]["steps_done"] == 7
    with pytest.raises(SystemExit):  # a clear argparse error, not a traceback
        average.main(["--out", str(soup), str(runs[0]), "--weights", "1", "2"])
