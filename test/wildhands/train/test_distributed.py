"""DistributedDataParallel training on the CPU (gloo, 2 processes on 127.0.0.1) and gradient accumulation.

The reference for a 2-process run is a 1-process run with ``accumulate: 2``: both split the same global batch
into the same 2 micro-batches (slots 0::2 and 1::2), so even BatchNorm's batch statistics agree and the
parameters must match up to floating-point rounding (dropout is on: each micro-batch seeds its own). A
1-process run with ``accumulate: 1`` sees the same global batch, but BatchNorm normalises it as one batch of
4 instead of two of 2: it differs, which the test also checks, so the parity is not vacuous.

Every process computes with ONE thread (the reference runs too): Adam's first steps move each parameter by
about ``lr * sign(gradient)``, so rounding noise in a near-zero gradient element (a convolution summed in
another order by another thread count) becomes a step of ``lr``. With one thread everywhere the 2-process
and the 1-process runs are equal to the bit on this machine; the tolerance (1e-6) leaves room for rounding
only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
from wildhands.train import distributed
from wildhands.train.config import TrainConfig
from wildhands.train.trainer import StepBatches, Trainer

TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}
STEPS = 4
REPO = Path(__file__).resolve().parents[3]


def _records():
    cfg = SyntheticConfig.from_dict({"distortion_mix": {"none": 1.0, "plumb_bob": 0.0, "equidistant": 0.0}})
    stream = SyntheticHandStream(cfg, seed=3, length=8)
    return [stream[i] for i in range(8)]


def _cfg(out_dir: Path, accumulate: int = 1, **over) -> TrainConfig:
    d = {
        "model": TINY,  # BatchNorm in the backbone, dropout 0.5 in the regressor
        "data": [{"name": "synthetic", "kind": "synthetic_stream"}],
        "optim": {"steps": STEPS, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "accumulate": accumulate},
        "out_dir": str(out_dir),
        "log_every": 1,
        "ckpt_every": 2,
        "eval_every": 2,
        "mask_size": 16,
        "eval_hands": 2,
        "aux_keypoints": 1.0,  # a second module and its own parameters in the DDP wrapper
    }
    d.update(over)
    return TrainConfig.from_dict(d)


def _worker(rank: int, world: int, port: int, root: str, records) -> None:
    """One process of the gloo run: a whole 4-step run, then a 2-step run to resume elsewhere."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "GLOO_SOCKET_IFNAME": "lo",
        }
    )
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    try:
        for name, max_steps in (("ddp", None), ("ddp_half", 2)):
            t = Trainer(_cfg(Path(root) / name), resume=False, sources=[records], eval_records=records[:2])
            assert t.dist.world_size == world and t.ddp is not None
            t.train(max_steps=max_steps, progress=False)
            t.close()
            # each replica's parameters, written OUTSIDE the run folder (which only rank 0 writes)
            torch.save(_params(t), Path(root) / f"{name}_rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def _params(trainer: Trainer) -> torch.Tensor:
    params = list(trainer.model.parameters()) + list(trainer.aux_head.parameters())
    return torch.cat([p.detach().flatten() for p in params])


def _history(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]


def _state_params(run: Path) -> torch.Tensor:
    """The parameters in ``run/last.pt`` (network + keypoint head), in the order of ``_params``."""
    from wildhands.model.network import WildHandsNet
    from wildhands.train.aux_keypoints import KeypointHeatmapHead

    state = torch.load(run / "last.pt", weights_only=False)
    net = WildHandsNet(TrainConfig.from_dict(state["config"]).model)
    net.load_state_dict(state["model"])
    head = KeypointHeatmapHead(net.config.backbone_channels)
    head.load_state_dict(state["aux_head"])
    return torch.cat([p.detach().flatten() for p in [*net.parameters(), *head.parameters()]])


@pytest.fixture(scope="module")
def records():
    return _records()


@pytest.fixture(scope="module")
def gloo_runs(tmp_path_factory, records):
    """The 2-process runs (one spawn for both) and the records they trained on."""
    root = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, distributed.free_loopback_port(), str(root), records), nprocs=2, join=True)
    return root, records


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _close(a, b, what: str, rtol=1e-4, atol=1e-5) -> None:
    assert np.allclose(a, b, rtol=rtol, atol=atol), f"{what}: {a} vs {b}"


def test_two_processes_match_one_process_at_the_same_global_batch(gloo_runs, tmp_path, one_thread):
    root, records = gloo_runs
    ddp = root / "ddp"
    one = Trainer(
        _cfg(tmp_path / "one", accumulate=2), resume=False, sources=[records], eval_records=records[:2]
    )
    start = _params(one).clone()
    one.train(progress=False)
    one.close()
    p_one = _params(one)
    replicas = [torch.load(root / f"ddp_rank{r}.pt") for r in (0, 1)]
    assert torch.equal(replicas[0], replicas[1])  # DDP keeps the replicas identical
    assert torch.equal(_state_params(ddp), replicas[0])  # the checkpoint is the bare (unwrapped) model
    moved = (p_one - start).abs().max().item()
    diff = (replicas[0] - p_one).abs().max().item()
    assert moved > 1e-3 and diff < 1e-6, (moved, diff)
    h_ddp, h_one = _history(ddp), one.history
    assert [h["step"] for h in h_ddp] == [1, 2, 3, 4]
    for key in ("total", "theta", "kp3d", "kp2d", "aux_kp2d", "grad_norm"):  # logs are global, not per rank
        _close([h[key] for h in h_ddp], [h[key] for h in h_one], key)
    # the same global batch split into ONE micro-batch: BatchNorm sees 4 samples at once, another result
    whole = Trainer(_cfg(tmp_path / "whole"), resume=False, sources=[records], eval_records=records[:2])
    whole.train(progress=False)
    whole.close()
    assert (_params(whole) - p_one).abs().max().item() > 100 * max(diff, 1e-7)


def test_rank0_alone_writes_one_history_and_one_checkpoint(gloo_runs):
    root, _ = gloo_runs
    ddp = root / "ddp"
    names = {p.name for p in ddp.iterdir()}
    assert {"last.pt", "model.pt", "train.log", "history.jsonl", "loss_curves.png"} <= names
    assert not any(".tmp" in n for n in names), names
    assert names - {"last.pt", "model.pt", "train.log", "history.jsonl", "loss_curves.png", "tb"} == set()
    assert len(_history(ddp)) == STEPS  # one line per step: rank 1 appended nothing
    log = (ddp / "train.log").read_text()
    assert log.count("step 4 ") == 1 and "2 process(es) x 1 micro-batch(es) of ~2 = batch 4" in log
    state = torch.load(ddp / "last.pt", weights_only=False)
    assert state["step"] == STEPS and len(state["history"]) == STEPS
    assert not any(k.startswith("module.") for k in state["model"])  # no DDP prefix
    # every eval step ran on rank 0 (eval metrics in its history)
    assert [h["step"] for h in _history(ddp) if "eval/mpjpe_mm" in h] == [2, 4]
    # nothing else in the spawn folder: rank 1 made no run folder of its own
    assert {p.name for p in root.iterdir()} == {
        "ddp",
        "ddp_half",
        "ddp_rank0.pt",
        "ddp_rank1.pt",
        "ddp_half_rank0.pt",
        "ddp_half_rank1.pt",
    }


def test_a_two_process_checkpoint_resumes_in_one_process(gloo_runs, tmp_path, one_thread):
    """Stopped after 2 of 4 steps in 2 processes, finished in 1 process (accumulate 2): the loss curve and the
    parameters continue as those of the uninterrupted 2-process run."""
    root, records = gloo_runs
    half = root / "ddp_half"
    assert len(_history(half)) == 2
    resumed = Trainer(_cfg(half, accumulate=2), resume=True, sources=[records], eval_records=records[:2])
    assert resumed.step == 2 and len(resumed.history) == 2 and not resumed.dist.enabled
    resumed.train(progress=False)
    resumed.close()
    full = _history(root / "ddp")
    curve = _history(half)
    assert [h["step"] for h in curve] == [1, 2, 3, 4]
    _close([h["total"] for h in curve], [h["total"] for h in full], "loss curve")
    assert (_params(resumed) - torch.load(root / "ddp_rank0.pt")).abs().max().item() < 1e-6


def test_accumulation_keeps_the_mean_over_the_global_batch(records, tmp_path):
    """accumulate 4 with batch 4 (micro-batches of one hand) on a network whose result does not depend on how
    a batch is split (BatchNorm frozen in eval mode, no dropout): the gradient of the step (unclipped) and the
    logged losses are those of accumulate 1."""
    model = {**TINY, "regressor_dropout": 0.0}
    lab = {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0, "grasp": 0.1}  # no mask: no rendering
    runs = []
    for acc in (1, 4):
        cfg = _cfg(
            tmp_path / str(acc),
            accumulate=acc,
            model=model,
            aux_keypoints=0.0,
            optim={
                "steps": 1,
                "batch_size": 4,
                "lr": 1e-3,
                "warmup_steps": 1,
                "accumulate": acc,
                "grad_clip": 0,
            },
            data=[{"name": "synthetic", "kind": "synthetic_stream", "loss_weights": lab}],
        )
        t = Trainer(cfg, resume=False, sources=[records], eval_records=[])
        t.model.backbone.train = lambda mode=True, m=t.model.backbone: torch.nn.Module.train(m, False)
        micro = StepBatches(t.cfg, t.sources, t.micro)[0]
        assert [len(slots) for _, slots in t.micro] == [4 // acc] * acc and len(micro) == acc
        logs = t.train_step(micro)
        runs.append((torch.cat([p.grad.flatten() for p in t.model.parameters()]), logs))
        t.close()
    (g1, logs1), (g4, logs4) = runs
    assert g1.abs().max() > 0
    assert torch.allclose(g1, g4, rtol=1e-3, atol=1e-5 * g1.abs().max().item()), (g1 - g4).abs().max()
    for key in ("total", "grad_norm", "theta", "kp3d", "kp2d", "cam", "grasp"):
        _close(logs1[key], logs4[key], key)
    # a wrong weighting of the micro-batches (e.g. summing their means) would give 4x the gradient
    assert not torch.allclose(g1, 4 * g4, rtol=1e-3)


def test_micro_batches_share_out_the_global_batch():
    for world, acc in ((1, 1), (2, 1), (1, 2), (2, 3), (3, 2)):
        shares = [distributed.micro_batches(13, world, r, acc) for r in range(world)]
        ids = [m for share in shares for m, _ in share]
        slots = sorted(s for share in shares for _, sl in share for s in sl)
        assert ids == list(range(world * acc)) and slots == list(range(13))
    # same processes x accumulate: the same micro-batches, whoever runs them
    two_procs = [mb for r in (0, 1) for mb in distributed.micro_batches(8, 2, r, 1)]
    assert two_procs == distributed.micro_batches(8, 1, 0, 2) == [(0, [0, 2, 4, 6]), (1, [1, 3, 5, 7])]
    with pytest.raises(ValueError, match="batch_size=3"):
        distributed.micro_batches(3, 2, 0, 2)
    assert (
        distributed.micro_seed(0, 5, 1) == distributed.micro_seed(0, 5, 1) != distributed.micro_seed(0, 5, 0)
    )


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"optim": {"accumulate": 0}}, "accumulate"),
        ({"optim": {"batch_size": 2, "accumulate": 3}}, "accumulate"),
        ({"amp_dtype": "float8"}, "amp_dtype"),
        ({"amp_dtype": "float16", "device": "cpu"}, "amp_dtype"),
        ({"data": [{"name": "s", "kind": "synthetic_stream", "optional": "yes"}]}, "optional"),
    ],
)
def test_bad_distributed_settings_are_refused(tmp_path, patch, field):
    with pytest.raises(ValueError, match=field):
        _cfg(tmp_path, **patch)


def test_optional_sources_that_are_missing_are_left_out(tmp_path):
    data = [
        {
            "name": "arctic",
            "kind": "reader",
            "reader": "arctic",
            "root": str(tmp_path / "no"),
            "optional": True,
        },
        {"name": "synthetic", "kind": "synthetic_stream", "length": 4, "sample_weight": 2.0},
    ]
    data[0]["optional"] = True
    t = Trainer(_cfg(tmp_path / "a", data=data), resume=False, eval_records=[])
    assert [s.name for s in t.cfg.data] == ["synthetic"] and t.dropped_sources == ("arctic",)
    assert t.weight_table.shape[0] == 1
    t.close()
    with pytest.raises(FileNotFoundError, match="no data source"):
        Trainer(_cfg(tmp_path / "b", data=data[:1]), resume=False, eval_records=[])


def test_cli_nproc_2_runs_torchrun_with_gloo(tmp_path):
    """``wildhands train --nproc 2``: torchrun, 2 gloo processes (the env:// rendezvous of
    ``distributed.setup``), one history, the weights load."""
    import yaml

    cfg = _cfg(tmp_path / "run", aux_keypoints=0.0, eval_every=1).to_dict()
    cfg["data"][0]["length"] = 4
    cfg["optim"]["steps"] = 1
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "wildhands.cli", "train", "--config", str(path), "--nproc", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--nproc_per_node 2" in proc.stdout and "on 2 processes" in proc.stdout
    assert proc.stdout.count("weights ") == 1  # rank 0 alone reports
    history = _history(tmp_path / "run")
    assert [h["step"] for h in history] == [1] and "eval/mpjpe_mm" in history[0]

    from wildhands.model.checkpoint import load_model

    assert load_model(tmp_path / "run" / "model.pt").config.image_size == 64


def test_gpu_recipe_is_the_papers_image_model_on_optional_real_datasets():
    cfg = TrainConfig.from_yaml(REPO / "config" / "train" / "paper_resnet50_gpu.yaml")
    assert (cfg.model.backbone, cfg.model.image_size, cfg.model.kpe.variant.value) == (
        "resnet50",
        224,
        "sparse",
    )
    assert cfg.optim.batch_size == 144 and cfg.device == "cuda" and cfg.amp
    assert all(s.kind == "reader" and s.optional for s in cfg.data)
    lab = {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0}
    weights = {s.reader: s.loss_weights for s in cfg.data}
    assert weights["arctic"] == weights["assemblyhands"] == weights["h2o"] == lab
    assert weights["visor"] == {"mask": 10.0, "grasp": 0.1}
    # 144 splits evenly over 1, 2, 4, 8 GPUs x accumulate 1, 2, 4, 8 (up to 16 micro-batches of 9)
    for gpus, acc in ((1, 1), (1, 2), (1, 4), (1, 8), (2, 1), (2, 4), (4, 1), (4, 4), (8, 1), (8, 2)):
        sizes = {len(s) for r in range(gpus) for _, s in distributed.micro_batches(144, gpus, r, acc)}
        assert sizes == {144 // (gpus * acc)}


@pytest.mark.gpu
def test_cuda_bfloat16_with_accumulation_trains(records, tmp_path):
    """CUDA, bfloat16 autocast (no GradScaler), channels_last, accumulate 2: finite, falling losses."""
    lab = {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0}
    cfg = _cfg(
        tmp_path,
        accumulate=2,
        device="cuda",
        amp_dtype="bfloat16",
        data=[{"name": "synthetic", "kind": "synthetic_stream", "loss_weights": lab}],
        optim={"steps": 6, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "accumulate": 2},
    )
    t = Trainer(cfg, resume=False, sources=[records[:4]], eval_records=records[:2])
    assert t.use_amp and t.amp_dtype == torch.bfloat16 and not t.scaler.is_enabled() and t.channels_last
    t.train(progress=False)
    t.close()
    losses = [h["total"] for h in t.history]
    assert len(losses) == 6 and all(np.isfinite(losses)) and np.mean(losses[-2:]) < np.mean(losses[:2])
