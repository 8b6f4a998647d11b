"""Multi-dataset trainer with exact resume.

A batch is a pure function of ``(seed, step)``: which source and which record fill each slot, and the
augmentation of each, come from ``np.random.default_rng([seed, step, slot])``. So a run stopped at any
point and resumed from its last checkpoint (model, optimiser, AMP scaler, torch RNG, step, history)
continues exactly as if it had never stopped — training can be spread over sessions.

Outputs in ``out_dir``: ``last.pt`` (resume state), ``model.pt`` (weights in the
``wildhands.model.checkpoint`` format), ``train.log``, ``history.jsonl``, TensorBoard events (where
``tensorboard`` is installed) and ``loss_curves.png``.

Several processes (``torchrun``, see ``wildhands.train.distributed``): DistributedDataParallel, each process
building only its micro-batches of the same global batch; rank 0 alone evaluates and writes the outputs
above, in the same format (a 2-process checkpoint resumes in 1 process and vice versa). Gradient
accumulation (``optim.accumulate``) splits each process's share into micro-batches; the loss is the mean
over the global batch either way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wildhands.data.record import HandRecord
from wildhands.handmodel import OpenHandModel
from wildhands.model.checkpoint import save_checkpoint
from wildhands.model.network import WildHandsNet
from wildhands.train import distributed
from wildhands.train.aux_keypoints import KeypointHeatmapHead, keypoint_loss
from wildhands.train.config import TrainConfig
from wildhands.train.items import AugmentConfig, collate, make_item
from wildhands.train.losses import LOSS_TERMS, compute_losses, predicted_keypoints, weighted_total
from wildhands.train.sources import build_source, synthetic_eval_records

logger = logging.getLogger(__name__)

RESUME_FORMAT = "wildhands-train-state"


class StepBatches(Dataset):
    """Item ``step`` = the collated batch of that step (deterministic, see the module docstring).

    With ``micro`` (``[(m, slots)]``, from ``distributed.micro_batches``): item ``step`` = ``[(m, batch of
    those slots of the global batch)]``, the share of one process (one entry per accumulation step)."""

    def __init__(
        self,
        cfg: TrainConfig,
        sources: Sequence[Sequence[HandRecord]],
        micro: Sequence[tuple[int, Sequence[int]]] | None = None,
    ):
        self.cfg = cfg
        self.sources = sources
        self.micro = micro
        weights = np.array([s.sample_weight for s in cfg.data], dtype=np.float64)
        self.probs = weights / weights.sum()

    def __len__(self) -> int:
        return self.cfg.optim.steps

    def __getitem__(self, step: int):
        if self.micro is None:
            return self.batch(step, range(self.cfg.optim.batch_size))
        return [(m, self.batch(step, slots)) for m, slots in self.micro]

    def batch(self, step: int, slots: Sequence[int]) -> dict[str, torch.Tensor]:
        """The collated items of ``slots`` of step ``step``'s global batch."""
        items = []
        for slot in slots:
            rng = np.random.default_rng([self.cfg.seed, step, slot])
            src = int(rng.choice(len(self.sources), p=self.probs))
            records = self.sources[src]
            for _attempt in range(8):  # a record whose crop cannot be made (e.g. degenerate box) is redrawn
                record = records[int(rng.integers(len(records)))]
                try:
                    items.append(
                        make_item(record, self.cfg.model, src, self.cfg.augment, rng, self.cfg.mask_size)
                    )
                    break
                except ValueError as exc:
                    logger.debug("skipping a record of %s: %s", self.cfg.data[src].name, exc)
            else:
                raise RuntimeError(f"8 unusable records in a row from source {self.cfg.data[src].name!r}")
        return collate(items)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _silhouette_fn():
    """The differentiable soft silhouette, if the renderer is available."""
    try:
        from wildhands.render.soft_silhouette import soft_silhouette
    except ImportError:  # pragma: no cover - present in this repo
        return None

    def render(vertices_cam, faces, K_crop, size):
        return soft_silhouette(vertices_cam, faces, K_crop, (size, size))

    return render


class _TrainNet(torch.nn.Module):
    """Everything that trains, as one module (what DistributedDataParallel wraps): the network, the
    training-only keypoint head on the backbone map, and the uncertainty weights (returned by ``forward`` so
    that DDP sees them used)."""

    def __init__(
        self,
        model: WildHandsNet,
        aux_head: KeypointHeatmapHead | None,
        log_vars: torch.nn.Parameter | None,
        autocast: dict[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.aux_head = aux_head
        self.log_vars = log_vars
        self.autocast = autocast
        self._backbone_map: torch.Tensor | None = None
        if aux_head is not None:
            model.backbone.register_forward_hook(self._keep_backbone_map)

    def _keep_backbone_map(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._backbone_map = output if torch.is_grad_enabled() else None  # not kept in evaluation

    def forward(self, images: torch.Tensor, kpe: torch.Tensor):
        with torch.autocast(**self.autocast):
            out = self.model(images, kpe)
        aux = None
        if self.aux_head is not None:
            aux, self._backbone_map = self.aux_head(self._backbone_map), None
        return out, aux, self.log_vars


class Trainer:
    """Runs (or resumes) the training described by a :class:`TrainConfig`; under torchrun, one process of a
    DistributedDataParallel run (joins the process group itself, see ``wildhands.train.distributed``)."""

    #: names of ``optional`` data sources left out because their root does not exist
    dropped_sources: tuple[str, ...] = ()

    def __init__(
        self,
        cfg: TrainConfig,
        resume: bool = True,
        sources: Sequence[Sequence[HandRecord]] | None = None,
        eval_records: Sequence[HandRecord] | None = None,
    ) -> None:
        """``sources`` / ``eval_records`` replace the configured data (one sequence per ``cfg.data`` entry),
        e.g. a fixed list of records for an overfitting test."""
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={cfg.device!r} but CUDA is not available")
        self.dist = distributed.setup(cfg.device)
        self.is_main = self.dist.is_main
        # every process drops the same missing optional sources (the same folders are expected everywhere)
        cfg = self._drop_missing_sources(cfg) if sources is None else cfg
        self.cfg = cfg
        self.micro = distributed.micro_batches(
            cfg.optim.batch_size, self.dist.world_size, self.dist.rank, cfg.optim.accumulate
        )
        self.out_dir = Path(cfg.out_dir)
        self._log_handler: logging.Handler | None = None
        if self.is_main:  # the other ranks write nothing
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._setup_logging()
        for name in self.dropped_sources:
            logger.warning("data source %r left out: its root does not exist (optional: true)", name)
        if self.dist.enabled and cfg.device.startswith("cuda"):
            self.device = torch.device("cuda", self.dist.local_rank)  # one GPU per process
        else:
            self.device = torch.device(cfg.device)
        cuda = self.device.type == "cuda"
        # AMP: float16 + GradScaler on CUDA (bfloat16 without scaler if asked); bfloat16 (no scaler) on the
        # CPU only when asked (amp_cpu)
        self.use_amp = cfg.amp and (cuda or cfg.amp_cpu)
        self.amp_dtype = torch.float16 if cuda and cfg.amp_dtype != "bfloat16" else torch.bfloat16
        self.channels_last = cuda if cfg.channels_last == "auto" else bool(cfg.channels_last)
        torch.manual_seed(cfg.seed)
        self.model = WildHandsNet(cfg.model).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.hand_model = OpenHandModel(side="right").to(self.device)
        # training-only 2D keypoint head on the backbone map (aux_keypoints > 0): not part of model.pt
        self.aux_head: KeypointHeatmapHead | None = None
        if cfg.aux_keypoints > 0:
            self.aux_head = KeypointHeatmapHead(cfg.model.backbone_channels).to(self.device)
        self.log_vars = (
            torch.nn.Parameter(torch.zeros(len(LOSS_TERMS), device=self.device))
            if cfg.optim.uncertainty_weighting
            else None
        )
        self.optimizer = torch.optim.Adam(
            self._param_groups(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.use_amp and cuda and self.amp_dtype == torch.float16
        )
        self.net = _TrainNet(
            self.model,
            self.aux_head,
            self.log_vars,
            {"device_type": self.device.type, "dtype": self.amp_dtype, "enabled": self.use_amp},
        )
        logger.info(
            "device %s, autocast %s, channels_last %s, %d process(es) x %d micro-batch(es) of ~%d = batch %d",
            self.device,
            str(self.amp_dtype).removeprefix("torch.") if self.use_amp else "off",
            self.channels_last,
            self.dist.world_size,
            cfg.optim.accumulate,
            len(self.micro[0][1]),
            cfg.optim.batch_size,
        )
        if cfg.optim.batch_size % (self.dist.world_size * cfg.optim.accumulate):
            logger.info(
                "batch %d is not a multiple of processes x accumulate: micro-batches differ by one",
                cfg.optim.batch_size,
            )
        self.weight_table = torch.tensor([s.weight_row() for s in cfg.data], dtype=torch.float32)
        # The soft silhouette is the costliest loss: render it only when some source weighs the mask term.
        mask_col = LOSS_TERMS.index("mask")
        needs_mask = cfg.optim.uncertainty_weighting or bool((self.weight_table[:, mask_col] > 0).any())
        self.silhouette = _silhouette_fn() if needs_mask else None
        self.step = 0
        self.history: list[dict[str, Any]] = []
        if sources is not None and len(sources) != len(cfg.data):
            raise ValueError(f"got {len(sources)} sources for {len(cfg.data)} configured data entries")
        self.sources = list(sources) if sources is not None else [build_source(s, cfg) for s in cfg.data]
        if not self.is_main:  # rank 0 evaluates
            self.eval_records = []
        else:
            self.eval_records = (
                list(eval_records) if eval_records is not None else synthetic_eval_records(cfg)
            )
        # rank 0 reads the checkpoint / init weights and sends them: other machines need not see out_dir
        state = distributed.from_rank0(self.dist, self._read_start, resume)
        if state is not None and state[0] == "resume":
            self._apply_state(state[1], state[2])
        elif state is not None:
            self._apply_init_weights(*state[1:])
        self.ddp: torch.nn.parallel.DistributedDataParallel | None = None
        if self.dist.enabled:
            # DDP broadcasts rank 0's parameters and buffers now and all-reduces (averages) the gradients
            # of every backward pass outside no_sync()
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device.index] if cuda else None
            )
        self.writer = self._tensorboard() if self.is_main else None

    def _drop_missing_sources(self, cfg: TrainConfig) -> TrainConfig:
        import dataclasses

        keep = tuple(s for s in cfg.data if not (s.optional and s.missing()))
        if len(keep) == len(cfg.data):
            return cfg
        if not keep:
            roots = ", ".join(f"{s.name}: {s.root}" for s in cfg.data)
            raise FileNotFoundError(
                f"no data source of the config exists ({roots}); set the roots to your copies of the "
                "datasets (docs/datasets.md)"
            )
        self.dropped_sources = tuple(s.name for s in cfg.data if s not in keep)
        return dataclasses.replace(cfg, data=keep)

    def _read_start(self, resume: bool):
        """(rank 0) what the run starts from: ``('resume', path, state)``, ``('init', path, weights)`` or
        None (random weights)."""
        path = self.out_dir / "last.pt"
        if resume and path.is_file():
            return ("resume", str(path), self._read_state(path))
        if self.cfg.init_from:
            from wildhands.model.checkpoint import read_checkpoint

            payload = read_checkpoint(Path(self.cfg.init_from))
            step = payload.get("extra", {}).get("step", "?")
            return ("init", self.cfg.init_from, payload["state_dict"], step)
        return None

    def _param_groups(self) -> list[dict[str, Any]]:
        """One group at ``lr``, or (``head_lr_ratio != 1``) the backbones at ``lr`` and the rest at
        ``lr * head_lr_ratio``; each group's ``lr_scale`` multiplies the scheduled rate."""
        extra = [self.log_vars] if self.log_vars is not None else []
        if self.aux_head is not None:
            extra += list(self.aux_head.parameters())
        ratio = float(self.cfg.optim.head_lr_ratio)
        if ratio == 1.0:
            return [{"params": list(self.model.parameters()) + extra, "lr_scale": 1.0}]
        backbone, heads = [], []
        for name, param in self.model.named_parameters():
            (backbone if name.startswith(("backbone.", "global_backbone.")) else heads).append(param)
        return [{"params": backbone, "lr_scale": 1.0}, {"params": heads + extra, "lr_scale": ratio}]

    # ------------------------------------------------------------------ bookkeeping
    def _setup_logging(self) -> None:
        handler = logging.FileHandler(self.out_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("wildhands").addHandler(handler)
        logging.getLogger("wildhands").setLevel(logging.INFO)
        self._log_handler = handler

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.info("tensorboard is not installed: no event files (history.jsonl and PNG curves only)")
            return None
        return SummaryWriter(str(self.out_dir / "tb"), purge_step=self.step)

    def _state(self) -> dict[str, Any]:
        """The resume state; ``model`` is the bare network (never DDP's wrapper), so its format does not
        depend on the number of processes."""
        return {
            "format": RESUME_FORMAT,
            "config": self.cfg.to_dict(),
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "log_vars": None if self.log_vars is None else self.log_vars.detach().cpu(),
            "aux_head": None if self.aux_head is None else self.aux_head.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": self.history,
        }

    def save(self) -> Path:
        """Write ``last.pt`` (resume state) and ``model.pt`` (weights) atomically (rank 0's job)."""
        path = self.out_dir / "last.pt"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(self._state(), tmp)
        tmp.replace(path)
        save_checkpoint(
            self.out_dir / "model.pt", self.model, extra={"step": self.step, "train": self.cfg.to_dict()}
        )
        return path

    def _apply_init_weights(self, path: str, weights: dict[str, torch.Tensor], step: Any) -> None:
        """Start a new run from the weights of ``path`` (a checkpoint file): checked, loaded strictly -- but
        for a trunk this run trains (``model.trunk_trainable``) that a checkpoint of the frozen trunk does not
        hold: it keeps the value its file gave it."""
        from wildhands.model._state_dict import load_state_dict_checked

        own = self.model.state_dict()
        trunk = [k for k in own if k.startswith(("backbone.trunk.", "global_backbone.trunk."))]
        if trunk and not any(k in weights for k in trunk):
            weights = {**weights, **{k: own[k] for k in trunk}}
            logger.info("init_from %s holds no trunk weights: the trunk starts from its file", path)
        load_state_dict_checked(self.model, weights, f"init_from {path}")
        logger.info("initialised from %s (its step: %s)", path, step)

    def _read_state(self, path: Path) -> dict[str, Any]:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ValueError(f"cannot resume from {path}: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
            raise ValueError(f"{path} is not a wildhands training state")
        return state

    def _apply_state(self, path: str, state: dict[str, Any]) -> None:
        if state["config"]["model"] != self.cfg.model.to_dict():
            raise ValueError(f"{path} was trained with another model config; use a new out_dir")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
        self.scaler.load_state_dict(state["scaler"])
        if self.aux_head is not None and state.get("aux_head") is not None:
            self.aux_head.load_state_dict(state["aux_head"])
        if self.log_vars is not None and state["log_vars"] is not None:
            with torch.no_grad():
                self.log_vars.copy_(state["log_vars"].to(self.device))
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and len(state["cuda_rng"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        logger.info("resumed %s at step %d", path, self.step)

    # ------------------------------------------------------------------ training
    def _lr(self, step: int) -> float:
        """Learning rate at ``step``: linear warm-up, then constant or cosine decay to ``min_lr_ratio*lr``."""
        optim = self.cfg.optim
        warm = optim.warmup_steps
        if warm and step < warm:
            return optim.lr * (step + 1) / warm
        if optim.schedule == "cosine":
            progress = min(1.0, (step - warm) / max(1, optim.steps - warm))
            ratio = optim.min_lr_ratio + (1.0 - optim.min_lr_ratio) * 0.5 * (
                1.0 + math.cos(math.pi * progress)
            )
            return optim.lr * ratio
        return optim.lr

    def train_step(
        self, batch: dict[str, torch.Tensor] | Sequence[tuple[int, dict[str, torch.Tensor]]]
    ) -> dict[str, float]:
        """One optimiser step on this process's share of the global batch: ``[(m, micro-batch)]`` (see
        :class:`StepBatches`), or one batch (the micro-batch of index ``rank * accumulate``)."""
        micro = [(self.micro[0][0], batch)] if isinstance(batch, dict) else list(batch)
        self.net.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(self.step) * group.get("lr_scale", 1.0)
        sizes = [int(b["images"].shape[0]) for _, b in micro]
        # each micro-batch's mean loss weighs (its size / the global batch); DDP averages the W processes'
        # gradients, hence the factor W: the gradient is that of the mean over the global batch
        global_batch = self.cfg.optim.batch_size if self.dist.enabled else sum(sizes)
        terms = len(LOSS_TERMS)
        # [total, per-term sum of losses (T), per-term count (T), aux sum, aux count], summed over processes
        stats = torch.zeros(1 + 2 * terms + 2, dtype=torch.float64, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        for i, ((m, mb), size) in enumerate(zip(micro, sizes)):
            # gradients are all-reduced in the last backward pass of the step only
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
            torch.manual_seed(distributed.micro_seed(self.cfg.seed, self.step, m))  # dropout
            with sync:
                total, part = self._micro_loss(_to(mb, self.device))
                weight = size / global_batch
                self.scaler.scale(total * (weight * self.dist.world_size)).backward()
            part[0] *= weight
            stats += part
        distributed.all_reduce_sum(stats, self.dist)
        self.scaler.unscale_(self.optimizer)
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        params = list(self.model.parameters())
        if self.aux_head is not None:
            params += list(self.aux_head.parameters())
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        values = stats.tolist()
        sums, counts = values[1 : 1 + terms], values[1 + terms : 1 + 2 * terms]
        logs = {t: (s / n if n > 0 else float("nan")) for t, s, n in zip(LOSS_TERMS, sums, counts)}
        if self.aux_head is not None:
            logs["aux_kp2d"] = values[-2] / values[-1] if values[-1] > 0 else float("nan")
        logs["total"] = values[0]
        logs["grad_norm"] = float(grad_norm)  # before clipping
        return logs

    def _micro_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean loss of one micro-batch, and its detached statistics (see ``train_step``)."""
        images = batch["images"]
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out, aux_pred, log_vars = (self.ddp or self.net)(images, batch["kpe"])
        out = type(out)(
            *(
                t.float()
                for t in (
                    out.global_orient,
                    out.hand_pose,
                    out.betas,
                    out.cam_wp,
                    out.grasp_logits,
                    out.pose_6d,
                )
            )
        )
        losses = compute_losses(out, batch, self.hand_model, self.silhouette)
        weights = self.weight_table.to(self.device)[batch["dataset"]]
        total, _ = weighted_total(losses, weights, log_vars)
        with torch.no_grad():
            avail = [available.double() for _, available in (losses[t] for t in LOSS_TERMS)]
            sums = [(a * losses[t][0].double()).sum() for t, a in zip(LOSS_TERMS, avail)]
            counts = [a.sum() for a in avail]
        aux_stats = [total.new_zeros((), dtype=torch.float64)] * 2
        if aux_pred is not None:
            aux, available = keypoint_loss(aux_pred, batch)
            total = total + self.cfg.aux_keypoints * (aux * available).sum() / aux.shape[0]
            aux_stats = [(aux * available).detach().double().sum(), available.double().sum()]
        part = torch.stack([total.detach().double(), *sums, *counts, *aux_stats])
        return total, part

    @torch.no_grad()
    def evaluate(self, records: Sequence[HandRecord] | None = None) -> dict[str, float]:
        """Accuracy of the current model on ``records`` (default: the fixed synthetic evaluation hands), using
        the true crop boxes: MPJPE (wrist-relative), root error (mm), 2D error (px), the wrist orientation
        error (degrees, geodesic) and ``spread_ratio``, the spread of the predicted wrist-relative keypoints
        over the hands divided by that of the true ones: about 1 for a model that reads the image, near 0
        for one that predicts the same hand whatever it sees (a collapsed model can still have a moderate
        MPJPE: the mean hand)."""
        records = self.eval_records if records is None else records
        if not records:
            return {}
        self.model.eval()
        no_aug = AugmentConfig(enabled=False, crop_mode=self.cfg.augment.crop_mode)
        mpjpe, root, px, orient_deg = [], [], [], []
        pred_kp, true_kp = [], []
        for i in range(0, len(records), 16):
            items = [
                make_item(r, self.cfg.model, 0, no_aug, None, self.cfg.mask_size) for r in records[i : i + 16]
            ]
            batch = _to(collate(items), self.device)
            out = self.model(batch["images"], batch["kpe"])
            kp_rel, _, _, transl = predicted_keypoints(out, self.hand_model, batch)
            ok = batch["has_3d"]
            err = (kp_rel - batch["kp3d_rel"]).norm(dim=-1).mean(-1)
            mpjpe += (1000 * err[ok]).tolist()
            pred_kp.append(kp_rel[ok].flatten(1))
            true_kp.append(batch["kp3d_rel"][ok].flatten(1))
            if bool(batch["has_params"].any()):
                rel = out.global_orient.transpose(1, 2) @ batch["global_orient"]
                cos = ((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
                orient_deg += torch.rad2deg(torch.arccos(cos))[batch["has_params"]].tolist()
            root += (1000 * (transl - batch["transl"]).norm(dim=-1)[ok]).tolist()
            K = batch["K"]
            pts = kp_rel + transl[:, None]
            uv = (
                pts[..., :2] / pts[..., 2:3].clamp(min=1e-3) @ K[:, :2, :2].transpose(1, 2)
                + K[:, None, :2, 2]
            )
            e2d = (uv - batch["kp2d"]).norm(dim=-1)
            valid = batch["kp2d_valid"]
            px += [float(e2d[b][valid[b]].mean()) for b in range(len(items)) if bool(valid[b].any())]
        spread = math.nan
        if len(mpjpe) > 1:
            pred_std = torch.cat(pred_kp).std(0).mean()
            true_std = torch.cat(true_kp).std(0).mean()
            spread = float(pred_std / true_std) if float(true_std) > 0 else math.nan
        return {
            "mpjpe_mm": float(np.mean(mpjpe)) if mpjpe else math.nan,
            "orient_err_deg": float(np.mean(orient_deg)) if orient_deg else math.nan,
            "spread_ratio": spread,
            "root_error_mm": float(np.mean(root)) if root else math.nan,
            "kp2d_px": float(np.mean(px)) if px else math.nan,
        }

    def train(self, max_steps: int | None = None, progress: bool = True) -> list[dict[str, Any]]:
        """Train until ``optim.steps`` (or ``max_steps`` more steps); checkpoint, log and plot on the way
        (rank 0; every process returns when the last checkpoint is written)."""
        from tqdm import tqdm

        end = self.cfg.optim.steps if max_steps is None else min(self.cfg.optim.steps, self.step + max_steps)
        if self.step >= end:
            return self.history
        dataset = StepBatches(self.cfg, self.sources, self.micro)
        loader = DataLoader(
            dataset,
            batch_size=None,
            sampler=range(self.step, end),
            num_workers=self.cfg.num_workers,
            persistent_workers=False,
            # its own generator: a new loader must not draw from the global RNG (dropout), or a resumed
            # run would diverge from an uninterrupted one
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )
        bar = tqdm(
            total=end - self.step,
            initial=0,
            desc="train" if not self.dist.enabled else f"train ({self.dist.world_size} processes)",
            disable=not (progress and self.is_main),
            dynamic_ncols=True,
        )
        t0 = time.perf_counter()
        for batch in loader:
            logs = self.train_step(batch)
            self.step += 1
            bar.update(1)
            if self.step % self.cfg.log_every == 0 or self.step == end:
                logs["lr"] = self._lr(self.step - 1)
                logs["step"] = self.step
                # the whole run's samples (the global batch), not this process's
                logs["samples_per_s"] = (
                    self.cfg.log_every * self.cfg.optim.batch_size / (time.perf_counter() - t0)
                )
                t0 = time.perf_counter()
                if self.is_main:
                    if self.step % self.cfg.eval_every == 0 or self.step == end:
                        logs.update({f"eval/{k}": v for k, v in self.evaluate().items()})
                    self._record(logs)
                bar.set_postfix(loss=f"{logs['total']:.3f}")
            if self.is_main and (self.step % self.cfg.ckpt_every == 0 or self.step == end):
                self.save()
                self.plot()
        bar.close()
        distributed.barrier(self.dist)  # the last checkpoint is on disk when train() returns, on every rank
        return self.history

    def _record(self, logs: dict[str, Any]) -> None:
        self.history.append(logs)
        with open(self.out_dir / "history.jsonl", "a") as f:
            f.write(json.dumps(logs) + "\n")
        logger.info(
            "step %d %s", logs["step"], " ".join(f"{k}={v:.4g}" for k, v in logs.items() if k != "step")
        )
        if self.writer is not None:
            for key, value in logs.items():
                if key != "step" and isinstance(value, float) and math.isfinite(value):
                    self.writer.add_scalar(key if "/" in key else f"loss/{key}", value, self.step)
            self.writer.flush()

    def plot(self) -> Path | None:
        """Render the loss and evaluation curves to ``loss_curves.png``."""
        if not self.history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [h["step"] for h in self.history]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for term in ("total", *LOSS_TERMS):
            values = [h.get(term, math.nan) for h in self.history]
            if any(math.isfinite(v) for v in values):
                axes[0].plot(steps, values, label=term)
        axes[0].set_yscale("log")
        axes[0].set_xlabel("step")
        axes[0].set_title("training losses")
        axes[0].legend(fontsize=8)
        evals = [h for h in self.history if "eval/mpjpe_mm" in h]
        if evals:
            for key in ("eval/mpjpe_mm", "eval/root_error_mm"):
                axes[1].plot([h["step"] for h in evals], [h[key] for h in evals], marker="o", label=key[5:])
            axes[1].set_xlabel("step")
            axes[1].set_title("synthetic eval (mm)")
            axes[1].legend(fontsize=8)
        fig.tight_layout()
        path = self.out_dir / "loss_curves.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._log_handler is not None:
            logging.getLogger("wildhands").removeHandler(self._log_handler)
            self._log_handler.close()
        distributed.cleanup(self.dist)
