"""Training: items and their targets, config validation, exact resume, the CLI, and an overfit run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from detector_models import needs_detector_models

from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream
from wildhands.geometry.camera import weak_perspective_to_translation_np
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet
from wildhands.train.config import TrainConfig
from wildhands.train.items import AugmentConfig, collate, make_item
from wildhands.train.trainer import Trainer

TINY = {"backbone": "resnet18", "image_size": 64, "regressor_hidden": 64, "grasp_hidden": 32}


@pytest.fixture(scope="module")
def records():
    """Eight synthetic hands without lens distortion (so pinhole targets equal the labels)."""
    cfg = SyntheticConfig.from_dict({"distortion_mix": {"none": 1.0, "plumb_bob": 0.0, "equidistant": 0.0}})
    stream = SyntheticHandStream(cfg, seed=3, length=8)
    return [stream[i] for i in range(8)]


def _cfg(tmp_path, **over) -> TrainConfig:
    d = {
        "model": TINY,
        "data": [{"name": "synthetic", "kind": "synthetic_stream"}],
        "optim": {"steps": 4, "batch_size": 2, "lr": 1e-3, "warmup_steps": 1},
        "out_dir": str(tmp_path / "run"),
        "log_every": 1,
        "ckpt_every": 2,
        "eval_every": 2,
        "mask_size": 16,
        "eval_hands": 2,
    }
    d.update(over)
    return TrainConfig.from_dict(d)


def test_item_targets_are_consistent(records):
    model = ModelConfig(**TINY)
    for record in records:
        item = make_item(record, model)
        K = item["K"].double().numpy()
        kp = item["kp3d_rel"].double().numpy() + item["transl"].double().numpy()
        uv = (kp / kp[:, 2:3]) @ K.T
        assert np.abs(uv[:, :2] - item["kp2d"].double().numpy()).max() < 1e-3
        # the ideal weak-perspective camera gives back the true translation
        t = weak_perspective_to_translation_np(
            item["cam_wp"].double().numpy(),
            item["box_center"].double().numpy(),
            float(item["box_size"]),
            K[0, 0],
            K[1, 1],
            K[0, 2],
            K[1, 2],
        )
        assert np.abs(t - item["transl"].double().numpy()).max() < 1e-4
        assert item["images"].shape == (3, 64, 64) and item["kpe"].shape == (5, 2)
        if record.side == "left":  # the network sees the mirrored hand: keypoint x flips sign
            assert np.allclose(item["transl"][0].item(), -record.keypoints_cam_m[0, 0], atol=1e-5)


def test_item_of_a_left_hand_is_the_mirror_image(records):
    model = ModelConfig(**TINY)
    record = records[0]
    mirrored = type(record)(**{**record.__dict__, "side": "left" if record.side == "right" else "right"})
    a, b = make_item(record, model), make_item(mirrored, model)
    assert torch.allclose(a["images"], b["images"].flip(-1), atol=1e-5)


def test_batch_collates(records):
    batch = collate(
        [
            make_item(r, ModelConfig(**TINY), augment=AugmentConfig(), rng=np.random.default_rng(0))
            for r in records[:3]
        ]
    )
    assert batch["images"].shape == (3, 3, 64, 64) and batch["has_3d"].shape == (3,)


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"data": []}, "data"),
        ({"optim": {"lr": -1}}, "lr"),
        ({"optim": {"stepz": 3}}, "stepz"),
        ({"data": [{"name": "x", "kind": "ftp"}]}, "kind"),
        ({"data": [{"name": "x", "kind": "reader", "root": "/d"}]}, "reader"),
        ({"data": [{"name": "x", "kind": "synthetic_stream", "loss_weights": {"depth": 1}}]}, "depth"),
        ({"device": "tpu"}, "device"),
        ({"optim": {"schedule": "linear"}}, "schedule"),
        ({"optim": {"min_lr_ratio": 2}}, "min_lr_ratio"),
        ({"data": [{"name": "x", "kind": "synthetic_stream", "min_visible_fraction": 1.5}]}, "min_visible"),
    ],
)
def test_bad_config_is_refused(tmp_path, patch, field):
    with pytest.raises(ValueError, match=field):
        _cfg(tmp_path, **patch)


def test_cosine_schedule_warms_up_then_decays_to_the_floor(tmp_path):
    from types import SimpleNamespace

    cfg = _cfg(
        tmp_path,
        optim={"steps": 100, "lr": 1e-3, "warmup_steps": 10, "schedule": "cosine", "min_lr_ratio": 0.1},
    )
    lr = [Trainer._lr(SimpleNamespace(cfg=cfg), s) for s in range(101)]
    assert lr[0] == pytest.approx(1e-4) and lr[9] == pytest.approx(1e-3)
    assert lr[10] == pytest.approx(1e-3) and lr[100] == pytest.approx(1e-4)
    assert lr[55] == pytest.approx(0.55e-3, rel=1e-6)  # halfway through the decay
    assert all(a >= b for a, b in zip(lr[9:], lr[10:]))
    constant = _cfg(tmp_path, optim={"steps": 100, "lr": 1e-3, "warmup_steps": 10})
    assert Trainer._lr(SimpleNamespace(cfg=constant), 100) == pytest.approx(1e-3)


def _final_params(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def test_resume_is_exact(tmp_path, records):
    straight = Trainer(_cfg(tmp_path / "a"), resume=False, sources=[records], eval_records=records[:2])
    straight.train(progress=False)
    straight.close()

    first = Trainer(_cfg(tmp_path / "b"), resume=False, sources=[records], eval_records=records[:2])
    first.train(max_steps=2, progress=False)
    first.close()
    resumed = Trainer(_cfg(tmp_path / "b"), resume=True, sources=[records], eval_records=records[:2])
    assert resumed.step == 2
    resumed.train(progress=False)
    resumed.close()
    assert resumed.step == 4
    assert torch.equal(_final_params(straight), _final_params(resumed))
    assert [h["total"] for h in straight.history] == [h["total"] for h in resumed.history]
    out = tmp_path / "b" / "run"
    for name in ("last.pt", "model.pt", "train.log", "history.jsonl", "loss_curves.png"):
        assert (out / name).is_file(), name
    assert len((out / "history.jsonl").read_text().splitlines()) == 4


def test_resume_refuses_another_architecture(tmp_path, records):
    t = Trainer(_cfg(tmp_path), resume=False, sources=[records], eval_records=records[:2])
    t.train(max_steps=1, progress=False)
    t.close()
    with pytest.raises(ValueError, match="another model config"):
        Trainer(
            _cfg(tmp_path, model={**TINY, "backbone": "resnet34"}),
            sources=[records],
            eval_records=records[:2],
        )


def test_train_cli_writes_weights_that_load(tmp_path, capsys):
    import yaml

    from wildhands.cli import main
    from wildhands.model.checkpoint import load_model

    cfg = _cfg(tmp_path).to_dict()
    cfg["data"][0]["length"] = 4
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(path), "--max-steps", "2"]) == 0
    assert "weights" in capsys.readouterr().out
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.config.backbone == "resnet18" and model.config.image_size == 64
    lines = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 2 and "eval/mpjpe_mm" in lines[-1]


@pytest.mark.slow
def test_overfitting_a_small_set_lowers_loss_and_mpjpe(tmp_path):
    """16 synthetic hands, 80 steps of batch 8 on CPU: the training loss and the MPJPE on those hands
    must both fall by at least 1.5x (measured 2026-11-25: loss 36 -> 10.6, 3.4x; MPJPE 146 -> 56 mm, 2.6x)."""
    stream = SyntheticHandStream(SyntheticConfig(), seed=7, length=16)
    hands = [stream[i] for i in range(16)]
    cfg = TrainConfig.from_dict(
        {
            "model": {"backbone": "resnet18", "regressor_dropout": 0.0, "image_size": 128},
            "data": [
                {
                    "name": "synthetic",
                    "kind": "synthetic_stream",
                    "loss_weights": {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0, "grasp": 0.1},
                }
            ],
            "optim": {"steps": 80, "batch_size": 8, "lr": 1e-3, "warmup_steps": 5},
            "augment": {"enabled": False},
            "out_dir": str(tmp_path / "overfit"),
            "log_every": 10,
            "ckpt_every": 1000,
            "eval_every": 1000,
            "mask_size": 32,
        }
    )
    trainer = Trainer(cfg, resume=False, sources=[hands], eval_records=hands)
    before = trainer.evaluate()["mpjpe_mm"]
    trainer.train(progress=False)
    after = trainer.evaluate()["mpjpe_mm"]
    trainer.close()
    losses = [h["total"] for h in trainer.history]
    assert np.mean(losses[:2]) / np.mean(losses[-2:]) > 1.5, losses
    assert before / after > 1.5, (before, after)


def test_precision_defaults_keep_cpu_runs_in_float32(tmp_path, records):
    """The default config (amp: true) autocasts on CUDA only: a CPU run is float32 and NCHW, as before the
    amp_cpu / channels_last options (test_resume_is_exact checks this default resumes exactly)."""
    t = Trainer(_cfg(tmp_path), resume=False, sources=[records], eval_records=records[:2])
    t.close()
    assert not t.use_amp and not t.channels_last and not t.scaler.is_enabled()
    assert t.model.backbone.conv1.weight.is_contiguous()
    for patch, field in (({"amp_cpu": "yes"}, "amp_cpu"), ({"channels_last": "cuda"}, "channels_last")):
        with pytest.raises(ValueError, match=field):
            _cfg(tmp_path, **patch)


def _dtypes_seen(trainer: Trainer) -> list[torch.dtype]:
    """Output dtypes of the backbone's first conv during the next training forward passes."""
    seen: list[torch.dtype] = []

    def hook(module, inputs, output) -> None:
        if module.training:
            seen.append(output.dtype)

    trainer.model.backbone.conv1.register_forward_hook(hook)
    return seen


def _amp_run(tmp_path, records, device: str, steps: int, **over) -> tuple[Trainer, list[torch.dtype]]:
    lab = {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0}  # no mask term: no silhouette rendering
    cfg = _cfg(
        tmp_path,
        data=[{"name": "synthetic", "kind": "synthetic_stream", "loss_weights": lab}],
        device=device,
        amp=True,
        channels_last=True,
        optim={"steps": steps, "batch_size": 4, "lr": 1e-3, "warmup_steps": 1},
        augment={"enabled": False},
        log_every=1,
        ckpt_every=100,
        eval_every=100,
        **over,
    )
    trainer = Trainer(cfg, resume=False, sources=[records[:4]], eval_records=records[:2])
    seen = _dtypes_seen(trainer)
    trainer.train(progress=False)
    trainer.close()
    return trainer, seen


def test_cpu_bfloat16_amp_with_channels_last_trains(tmp_path, records):
    """amp_cpu: bfloat16 autocast (no GradScaler) + channels_last on the CPU: 6 steps on 4 hands, the loss is
    finite and falls."""
    trainer, seen = _amp_run(tmp_path, records, "cpu", 6, amp_cpu=True)
    assert trainer.use_amp and trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
    assert trainer.channels_last
    assert trainer.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert seen and all(d == torch.bfloat16 for d in seen)
    losses = [h["total"] for h in trainer.history]
    assert len(losses) == 6 and all(np.isfinite(losses)), losses
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.gpu
def test_cuda_float16_amp_with_channels_last_trains(tmp_path, records):
    """3 CUDA steps with float16 autocast + GradScaler + channels_last (the configuration never run on this
    project's CPU-only machine): finite losses, a scaler that scaled, float16 convolutions."""
    trainer, seen = _amp_run(tmp_path, records, "cuda", 3)
    assert trainer.use_amp and trainer.amp_dtype == torch.float16 and trainer.scaler.is_enabled()
    assert trainer.scaler.get_scale() > 0
    assert trainer.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert seen and all(d == torch.float16 for d in seen)
    losses = [h["total"] for h in trainer.history]
    assert len(losses) == 3 and all(np.isfinite(losses)), losses
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_kp2d_term_caps_exploding_keypoints(records):
    """A label far outside the crop (a wide fisheye's undistorted projection) adds at most the cap and no
    gradient, so it cannot swamp the batch; normal errors keep their gradient."""
    from wildhands.handmodel import OpenHandModel
    from wildhands.train.losses import KP2D_ERROR_CAP, compute_losses

    torch.manual_seed(0)
    net = WildHandsNet(ModelConfig(**TINY))
    batch = collate([make_item(r, ModelConfig(**TINY)) for r in records[:2]])
    far = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in batch.items()}
    far["kp2d"][0, 5] += 50.0 * far["box_size"][0]  # 100 half-crops away
    out = net(batch["images"], batch["kpe"])
    hand = OpenHandModel(side="right")
    near = compute_losses(out, batch, hand)["kp2d"][0].detach()
    moved = compute_losses(out, far, hand)["kp2d"][0].detach()
    assert 0 < (moved[0] - near[0]).item() <= KP2D_ERROR_CAP / 21 + 1e-5  # one keypoint of 21, capped
    assert moved[1].item() == pytest.approx(near[1].item())  # the other sample is untouched
    net.zero_grad()
    compute_losses(out, far, hand)["kp2d"][0].sum().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_head_lr_ratio_gives_the_heads_their_own_rate_and_resumes(tmp_path, records):
    cfg = _cfg(
        tmp_path, optim={"steps": 4, "batch_size": 2, "lr": 1e-3, "warmup_steps": 0, "head_lr_ratio": 0.1}
    )
    t = Trainer(cfg, resume=False, sources=[records], eval_records=records[:2])
    t.train(max_steps=2, progress=False)
    groups = t.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    backbone_ids = {id(p) for p in t.model.backbone.parameters()}
    assert {id(p) for p in groups[0]["params"]} == backbone_ids
    assert id(t.model.regressor.fc1.weight) in {id(p) for p in groups[1]["params"]}
    logs = t.history[-1]
    assert "grad_norm" in logs and logs["grad_norm"] > 0
    t.close()
    resumed = Trainer(cfg, resume=True, sources=[records], eval_records=records[:2])
    assert resumed.step == 2 and len(resumed.optimizer.param_groups) == 2
    resumed.close()
    with pytest.raises(ValueError, match="head_lr_ratio"):
        _cfg(tmp_path, optim={"head_lr_ratio": 0})


def test_evaluate_reports_orientation_error_and_prediction_spread(tmp_path, records):
    t = Trainer(_cfg(tmp_path), resume=False, sources=[records], eval_records=records)
    metrics = t.evaluate()
    assert 0 <= metrics["orient_err_deg"] <= 180
    assert metrics["spread_ratio"] > 0
    # a network that answers the same hand for every crop has no spread
    with torch.no_grad():
        t.model.regressor.fc1.weight.zero_()
        t.model.regressor.fc1.bias.fill_(-1.0)  # every unit dead: the mean-parameter output for all
    assert t.evaluate()["spread_ratio"] < 1e-4
    t.close()


def test_init_from_starts_a_new_run_from_earlier_weights(tmp_path, records):
    first = Trainer(_cfg(tmp_path / "a"), resume=False, sources=[records], eval_records=records[:2])
    first.train(max_steps=2, progress=False)
    first.close()
    weights = tmp_path / "a" / "run" / "model.pt"
    # leaky ReLUs have no parameters: weights trained with ReLUs start a leaky run
    cfg = _cfg(tmp_path / "b", init_from=str(weights), model={**TINY, "regressor_activation": "leaky_relu"})
    second = Trainer(cfg, resume=True, sources=[records], eval_records=records[:2])
    assert second.step == 0
    assert torch.equal(_final_params(second), _final_params(first))
    fresh = Trainer(_cfg(tmp_path / "c"), resume=False, sources=[records], eval_records=records[:2])
    assert not torch.equal(_final_params(fresh), _final_params(first))
    # a run to resume wins over init_from
    second.train(max_steps=1, progress=False)
    second.close()
    resumed = Trainer(cfg, resume=True, sources=[records], eval_records=records[:2])
    assert resumed.step == 1 and torch.equal(_final_params(resumed), _final_params(second))
    # weights of another architecture are refused, naming the keys
    with pytest.raises(ValueError, match=r"init_from .*(layer|shape|missing|unexpected)"):
        Trainer(
            _cfg(tmp_path / "d", init_from=str(weights), model={**TINY, "regressor_hidden": 32}),
            sources=[records],
            eval_records=records[:2],
        )
    with pytest.raises(ValueError, match="does not exist"):
        Trainer(_cfg(tmp_path / "e", init_from=str(tmp_path / "nope.pt")), sources=[records])


@needs_detector_models
def test_init_from_a_frozen_trunk_run_starts_a_trained_trunk_from_its_file(tmp_path, records):
    """A ``trunk_trainable`` run started from a frozen-trunk checkpoint (which holds no trunk weights) takes
    the checkpoint's layers and the trunk's file; its steps then move the trunk, and its own checkpoint
    holds it."""
    mp = {"backbone": "mediapipe_hand", "image_size": 224, "fusion": "residual", "regressor_hidden": 64}
    first = Trainer(_cfg(tmp_path / "a", model=mp), resume=False, sources=[records], eval_records=records[:2])
    first.train(max_steps=1, progress=False)
    first.close()
    weights = tmp_path / "a" / "run" / "model.pt"
    cfg = _cfg(
        tmp_path / "b",
        model={**mp, "trunk_trainable": True},
        init_from=str(weights),
        optim={"steps": 2, "batch_size": 2, "lr": 1e-4, "warmup_steps": 1, "head_lr_ratio": 10.0},
    )
    second = Trainer(cfg, resume=False, sources=[records], eval_records=records[:2])
    own = second.model.state_dict()
    for key, value in first.model.state_dict().items():
        assert torch.equal(own[key], value), key
    trunk = {k: v.clone() for k, v in own.items() if k.startswith("backbone.trunk.")}
    assert trunk
    groups = second.optimizer.param_groups
    assert [g["lr_scale"] for g in groups] == [1.0, 10.0] and len(groups[0]["params"]) == len(
        [k for k, _ in second.model.named_parameters() if k.startswith("backbone.")]
    )
    second.train(max_steps=1, progress=False)
    second.close()
    saved = torch.load(tmp_path / "b" / "run" / "model.pt", map_location="cpu", weights_only=False)
    moved = [k for k, v in trunk.items() if not torch.equal(saved["state_dict"][k], v)]
    assert moved  # trained and saved


def test_missing_synthetic_dir_says_how_to_make_it(tmp_path):
    cfg = _cfg(tmp_path, data=[{"name": "s", "kind": "synthetic_dir", "root": str(tmp_path / "nothing")}])
    with pytest.raises(FileNotFoundError, match=r"wildhands synth --out .*nothing"):
        Trainer(cfg, resume=False, eval_records=[])


def test_training_curve_is_measured_on_the_look_it_trains_on(tmp_path):
    from wildhands.data.synthetic.io import write_dataset
    from wildhands.train.sources import eval_look, synthetic_eval_records

    skin = {"hand_look": "skin", "image_sizes": [[320, 240]]}
    folder = write_dataset(tmp_path / "skin", SyntheticConfig.from_dict(skin), n=1, seed=2, progress=False)
    on_dir = _cfg(tmp_path, data=[{"name": "s", "kind": "synthetic_dir", "root": str(folder)}])
    assert SyntheticConfig.from_dict(eval_look(on_dir)) == SyntheticConfig.from_dict(skin)
    on_stream = _cfg(tmp_path, data=[{"name": "s", "kind": "synthetic_stream", "synthetic": skin}])
    assert eval_look(on_stream) == skin
    assert eval_look(_cfg(tmp_path)) == {}  # the default look
    a = synthetic_eval_records(on_stream)
    b = SyntheticHandStream(SyntheticConfig.from_dict(skin), seed=on_stream.eval_seed, length=2)
    assert len(a) == 2 and np.array_equal(a[0].image, b[0].image)


def test_aux_keypoint_head_trains_resumes_and_stays_out_of_the_weights(tmp_path, records):
    cfg = _cfg(tmp_path / "a", aux_keypoints=2.0)
    straight = Trainer(cfg, resume=False, sources=[records], eval_records=records[:2])
    straight.train(progress=False)
    straight.close()
    assert all(math.isfinite(h["aux_kp2d"]) for h in straight.history)
    weights = torch.load(tmp_path / "a" / "run" / "model.pt", weights_only=True)["state_dict"]
    assert not any(k.startswith("aux") for k in weights) and set(weights) == set(straight.model.state_dict())
    cfg_b = _cfg(tmp_path / "b", aux_keypoints=2.0)
    first = Trainer(cfg_b, resume=False, sources=[records], eval_records=records[:2])
    first.train(max_steps=2, progress=False)
    first.close()
    resumed = Trainer(cfg_b, resume=True, sources=[records], eval_records=records[:2])
    resumed.train(progress=False)
    resumed.close()
    assert torch.equal(_final_params(straight), _final_params(resumed))
    assert all(
        torch.equal(a, b) for a, b in zip(straight.aux_head.parameters(), resumed.aux_head.parameters())
    )
    with pytest.raises(ValueError, match="aux_keypoints"):
        _cfg(tmp_path, aux_keypoints=-1.0)
