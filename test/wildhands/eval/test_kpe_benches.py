"""Smoke runs of the accuracy benchmarks at tiny budgets (bench/kpe_ablation.py, bench/kpe_distortion.py,
bench/intrinsics_estimated.py): they run end to end, write what they promise, and refuse what they must.
Everything goes to tmp folders (never bench/results, runs/ or docs/img)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bench_scripts import load_bench

from wildhands.model.checkpoint import save_checkpoint
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet

REPO = Path(__file__).resolve().parents[3]
TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


def _script(name: str):
    return load_bench(name)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Test sets are cached in a tmp folder shared by the tests of this module."""
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path_factory.getbasetemp() / "wildhands_cache"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    return save_checkpoint(path, WildHandsNet(ModelConfig.from_dict(TINY)), extra={"step": 7})


def test_kpe_ablation_trains_resumes_and_reports(tmp_path):
    bench = _script("kpe_ablation")
    common = ["--steps", "1", "--batch", "2", "--image-size", "64", "--variants", "sparse,none"]
    common += ["--eval-frames", "1", "--workers", "0", "--trainer-eval-hands", "1", "--worst-k", "0"]
    common += ["--threads", "1", "--no-progress", "--out-dir", str(tmp_path)]
    assert bench.main(common) == 0
    result = json.loads((tmp_path / "kpe_ablation.json").read_text())
    assert set(result["variants"]) == {"sparse", "none"} and result["complete"]
    assert result["recipe"]["steps"] == 1 and result["recipe"]["only_difference"] == "model.kpe.variant"
    assert result["recipe"]["base_config"] == "config/train/kpe_ablation_resnet18_128.yaml"
    assert result["recipe"]["data"][0]["seed"] == 1 and result["testset"]["name"] == "wide_fov"
    for v in result["variants"].values():
        assert v["training"]["steps_done"] == 1 and v["datasets"]["wide_fov"]["mpjpe_mm"] > 0
    rel = result["relative_to_none_pct"]["sparse"]["wide_fov"]
    sparse, none = (result["variants"][k]["datasets"]["wide_fov"]["mpjpe_mm"] for k in ("sparse", "none"))
    assert rel["mpjpe_mm"] == pytest.approx(100 * (sparse - none) / none)
    assert result["paper_sparse_vs_none_pct"]["mpjpe_mm"] == -20.5 and "| sparse |" in result["markdown"]
    assert result["command"].startswith("python bench/kpe_ablation.py --steps 1")
    assert (tmp_path / "kpe_ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert "sparse: training steps 0..1" in (tmp_path / "runs" / "kpe_ablation.log").read_text()
    for variant in ("sparse", "none"):
        recipe = json.loads((tmp_path / "runs" / variant / "ablation_recipe.json").read_text())
        assert recipe["model"]["kpe"]["variant"] == variant
        assert {k: v for k, v in recipe.items() if k != "model"} == {
            k: v
            for k, v in json.loads(
                (tmp_path / "runs" / "sparse" / "ablation_recipe.json").read_text()
            ).items()
            if k != "model"
        }  # same data, seeds, optimiser, batch, steps
    mtime = (tmp_path / "runs" / "none" / "last.pt").stat().st_mtime_ns
    # another budget in the same runs folder is refused, not silently mixed
    with pytest.raises(SystemExit, match="another recipe"):
        bench.main([*common[:1], "3", *common[2:]])
    assert (tmp_path / "runs" / "none" / "last.pt").stat().st_mtime_ns == mtime


def test_kpe_ablation_seed_sets_every_variants_training_seed(tmp_path):
    """--seed (a second training seed for the seed spread) reaches each variant's config and its recorded
    recipe, so continuing a runs folder with another seed is refused; without it the config's seed stays."""
    bench = _script("kpe_ablation")
    base = bench.yaml.safe_load(bench.DEFAULT_CONFIG.read_text())
    args = bench.parse_args(["--seed", "7", "--out-dir", str(tmp_path)])
    cfgs = [bench.variant_config(base, v, args) for v in bench.VARIANTS]
    assert {c.seed for c in cfgs} == {7} and base.get("seed", 0) != 7
    assert {c.data[0].seed for c in cfgs} == {1}  # the data stay the same frames
    assert bench.variant_config(
        base, "none", bench.parse_args(["--out-dir", str(tmp_path)])
    ).seed == base.get("seed", 0)
    bench.check_recipe(cfgs[0], restart=False)
    other = bench.variant_config(
        base, "sparse", bench.parse_args(["--seed", "8", "--out-dir", str(tmp_path)])
    )
    with pytest.raises(SystemExit, match=r"another recipe \(differs in \['seed'\]\)"):
        bench.check_recipe(other, restart=False)


def test_kpe_distortion_compares_the_two_kpe_modes(checkpoint, tmp_path):
    bench = _script("kpe_distortion")
    args = ["--weights", str(checkpoint), "--testsets", "fisheye", "--frames", "1", "--threads", "1"]
    assert bench.main([*args, "--no-progress", "--out-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "kpe_distortion.json").read_text())
    fisheye = result["testsets"]["fisheye"]
    assert set(fisheye) == {"distortion_aware", "pinhole"}
    assert (
        fisheye["pinhole"]["kpe_change_deg_mean"] > 0.1
        and fisheye["distortion_aware"]["kpe_change_deg_mean"] is None
    )
    assert set(fisheye["pinhole"]["relative_to_distortion_aware_pct"]) >= {"mpjpe_mm", "mrrpe_mm", "kp2d_px"}
    assert result["weights"]["training_step"] == 7 and result["model"]["kpe"] == "sparse"
    assert "| fisheye | pinhole |" in result["markdown"]
    assert (tmp_path / "fisheye-1-v1" / "pinhole" / "metrics.json").exists()
    with pytest.raises(SystemExit, match="does not exist"):
        bench.main(["--weights", str(tmp_path / "missing.pt"), "--out-dir", str(tmp_path)])


def test_intrinsics_estimated_sweeps_fov_priors(checkpoint, tmp_path):
    bench = _script("intrinsics_estimated")
    args = ["--weights", str(checkpoint), "--frames", "1", "--sweep", "60", "--threads", "1"]
    assert bench.main([*args, "--no-progress", "--out-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "intrinsics_estimated.json").read_text())
    assert result["node_default_hfov_deg"] == 90.0
    assert list(result["conditions"]) == ["true", "estimated 60 deg", "estimated 90 deg"]
    assert result["conditions"]["estimated 90 deg"]["node_default"]
    est, true = result["conditions"]["estimated 60 deg"], result["conditions"]["true"]
    assert "relative_to_true_pct" in est and "relative_to_true_pct" not in true
    # the same hands, another camera: the root-relative pose is the network's alone, the placement is not
    assert est["datasets"]["wide_fov"]["hands"] == true["datasets"]["wide_fov"]["hands"] >= 1
    assert est["datasets"]["wide_fov"]["root_error_mm"] != true["datasets"]["wide_fov"]["root_error_mm"]
    assert (
        sum(v["hands"] for v in result["testset_true_hfov_deg"].values())
        == true["datasets"]["wide_fov"]["hands"]
    )
    assert "| estimated 60 deg |" in result["markdown"]


def test_the_test_set_benches_share_their_arguments(tmp_path):
    """fisheye_crops, kpe_distortion and intrinsics_estimated take their common arguments from one place
    (``_eval_common.add_testset_arguments`` / ``finish_testset_arguments``): same defaults, same checks,
    results and reports in the bench's own places or under --out-dir."""
    for name, testsets in (
        ("kpe_distortion", ["fisheye", "plumb_bob"]),
        ("fisheye_crops", ["fisheye", "wide_fov"]),
    ):
        args = _script(name).parse_args([])
        assert args.testsets == testsets and args.frames == 300 and args.weights == "default"
        assert args.results == REPO / "bench" / "results" / f"{name}.json"
        assert args.reports == REPO / "out" / "bench" / name
        args = _script(name).parse_args(["--testsets", " fisheye , ", "--out-dir", str(tmp_path)])
        assert args.testsets == ["fisheye"] and args.results == tmp_path / f"{name}.json"
        assert args.reports == tmp_path
        for bad in (["--frames", "0"], ["--testsets", " , "]):
            with pytest.raises(SystemExit):
                _script(name).parse_args(bad)
    args = _script("intrinsics_estimated").parse_args(["--results", str(tmp_path / "r.json")])
    assert args.testset == "wide_fov" and args.results == tmp_path / "r.json"
    assert args.reports == REPO / "out" / "bench" / "intrinsics_estimated"
    with pytest.raises(SystemExit):
        _script("intrinsics_estimated").parse_args(["--frames", "0"])
