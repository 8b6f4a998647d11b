"""Training configuration: frozen dataclasses read from YAML (``config/train/*.yaml``), unknown keys rejected.

    cfg = TrainConfig.from_yaml("config/train/synthetic_resnet18.yaml")

Per-dataset loss weights follow the paper: lab data with 3D labels λθ=10, λkp3d=5, λkp2d=5, λcam=1;
wild data with 2D labels λmask=10, λgrasp=0.1. A source's ``loss_weights`` lists the terms it uses;
terms it omits weigh 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wildhands.model.config import ModelConfig, reject_unknown_keys
from wildhands.train.items import AugmentConfig
from wildhands.train.losses import LOSS_TERMS

SOURCE_KINDS = ("synthetic_stream", "synthetic_dir", "reader")
LAB_WEIGHTS = {"theta": 10.0, "kp3d": 5.0, "kp2d": 5.0, "cam": 1.0}
WILD_WEIGHTS = {"mask": 10.0, "grasp": 0.1}
AMP_DTYPES = ("auto", "float16", "bfloat16")


@dataclass(frozen=True)
class DataSourceConfig:
    """One training data source.

    name: dataset name (selects nothing by itself; shows in logs and metrics).
    kind: ``synthetic_stream`` (rendered on the fly, deterministic by index), ``synthetic_dir`` (written by
        ``wildhands synth``), ``reader`` (a real dataset through ``wildhands.data.readers``, named by
        ``reader``).
    root: folder for ``synthetic_dir`` / ``reader``.
    reader: reader name for ``kind='reader'`` (``arctic``, ``assemblyhands``, ``h2o``, ``visor``, ...).
    length: number of hands to draw indices from for ``synthetic_stream``.
    seed: data seed of ``synthetic_stream`` (keep it apart from the evaluation set's seed).
    sample_weight: relative frequency of this source in a batch.
    loss_weights: weight per loss term (missing terms weigh 0).
    synthetic: overrides of ``SyntheticConfig`` for ``synthetic_stream``.
    min_visible_fraction: ``synthetic_stream`` / ``synthetic_dir`` hands less visible than this are passed
        over (see ``SyntheticHandStream`` / ``SyntheticDataset``).
    optional: a ``synthetic_dir`` / ``reader`` source whose ``root`` does not exist is left out of the run
        (with a warning naming it) instead of stopping it, so one recipe serves whichever datasets a user
        has; the other sources' ``sample_weight`` then share the batch. At least one source must remain.
    """

    name: str
    kind: str
    root: str | None = None
    reader: str | None = None
    length: int = 100_000
    seed: int = 1
    sample_weight: float = 1.0
    loss_weights: dict[str, float] = field(default_factory=lambda: {**LAB_WEIGHTS, **WILD_WEIGHTS})
    synthetic: dict[str, Any] = field(default_factory=dict)
    min_visible_fraction: float = 0.0
    optional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"data.kind={self.kind!r} not in {SOURCE_KINDS}")
        if self.kind in ("synthetic_dir", "reader") and not self.root:
            raise ValueError(f"data source {self.name!r} of kind {self.kind!r} needs a root folder")
        if self.kind == "reader" and not self.reader:
            raise ValueError(f"data source {self.name!r} of kind 'reader' needs `reader:` (a dataset name)")
        if not (isinstance(self.sample_weight, (int, float)) and self.sample_weight > 0):
            raise ValueError(f"data.sample_weight={self.sample_weight!r} must be > 0")
        if not (isinstance(self.length, int) and self.length > 0):
            raise ValueError(f"data.length={self.length!r} must be an int > 0")
        if not (isinstance(self.min_visible_fraction, (int, float)) and 0 <= self.min_visible_fraction <= 1):
            raise ValueError(f"data.min_visible_fraction={self.min_visible_fraction!r} must be in [0, 1]")
        if not isinstance(self.optional, bool):
            raise ValueError(f"data.optional={self.optional!r} must be true or false")
        unknown = sorted(set(self.loss_weights) - set(LOSS_TERMS))
        if unknown:
            raise ValueError(f"data.loss_weights has unknown terms {unknown}; allowed: {list(LOSS_TERMS)}")
        for term, w in self.loss_weights.items():
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise ValueError(f"data.loss_weights.{term}={w!r} must be a finite number >= 0")

    def missing(self) -> bool:
        """Whether this source reads a folder that does not exist."""
        return self.kind in ("synthetic_dir", "reader") and not Path(str(self.root)).exists()

    def weight_row(self) -> list[float]:
        return [float(self.loss_weights.get(term, 0.0)) for term in LOSS_TERMS]


@dataclass(frozen=True)
class OptimConfig:
    """Adam (paper: lr 1e-5 with a pretrained backbone; higher from scratch), steps and batch.

    ``batch_size`` is the GLOBAL batch of one optimiser step, whatever the number of processes: it is split
    into ``processes x accumulate`` micro-batches (``wildhands.train.distributed``), each process running
    ``accumulate`` forward/backward passes before the step. The loss is the mean over the global batch
    either way, so e.g. the paper's 144 = 2 GPUs x 72, or 1 GPU x accumulate 4 x 36.
    """

    steps: int = 2000
    batch_size: int = 16
    #: micro-batches per process and optimiser step (gradient accumulation); 1 = none
    accumulate: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    warmup_steps: int = 100
    uncertainty_weighting: bool = False
    #: ``'constant'`` (after warm-up) or ``'cosine'`` (decays to ``min_lr_ratio * lr`` at ``steps``).
    schedule: str = "constant"
    min_lr_ratio: float = 0.05
    #: learning rate of everything after the backbone (KPE fusion, regressor, grasp head) / ``lr``. Below 1
    #: when the backbone trains from scratch at a high rate that the heads do not survive: at 1e-3 every
    #: unit of the regressor's first layer died within 400 steps (HMR-style heads use 1e-5 to 1e-4).
    head_lr_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"optim.schedule={self.schedule!r} not in {{'constant', 'cosine'}}")
        if not (isinstance(self.min_lr_ratio, (int, float)) and 0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"optim.min_lr_ratio={self.min_lr_ratio!r} must be in [0, 1]")
        if not (isinstance(self.head_lr_ratio, (int, float)) and 0 < self.head_lr_ratio <= 10):
            raise ValueError(f"optim.head_lr_ratio={self.head_lr_ratio!r} must be in (0, 10]")
        for name in ("steps", "batch_size", "warmup_steps", "accumulate"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= (0 if name == "warmup_steps" else 1)):
                raise ValueError(f"optim.{name}={value!r} must be a positive int")
        for name in ("lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"optim.{name}={value!r} must be a finite number >= 0")
        if self.lr <= 0:
            raise ValueError(f"optim.lr={self.lr!r} must be > 0")
        if self.accumulate > self.batch_size:
            raise ValueError(
                f"optim.accumulate={self.accumulate} exceeds optim.batch_size={self.batch_size}: every "
                "micro-batch needs a sample"
            )


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run. ``out_dir`` holds checkpoints, logs, TensorBoard events and loss curves.

    Precision and memory layout (they change the numerics, so a resumed run must keep them):
        amp: mixed precision on CUDA: float16 autocast + gradient scaling (``GradScaler``) by default.
        amp_dtype: ``'auto'`` (float16 on CUDA, bfloat16 on the CPU), ``'float16'`` (CUDA only; with
            ``GradScaler``) or ``'bfloat16'`` (float32's exponent range: no scaler; Ampere or newer GPUs).
        amp_cpu: with ``amp``, also autocast on the CPU, in bfloat16 (float32's range: no scaling). Off by
            default, so CPU runs stay in float32.
        channels_last: NHWC memory layout of the network and its input: ``'auto'`` (on CUDA only), ``true``
            or ``false``.

    aux_keypoints: weight of the training-only 2D keypoint head (``wildhands.train.aux_keypoints``:
        soft-argmax heatmaps on the backbone map vs the crop's 2D labels, L1 in half-crops); 0 = off. The
        head is not saved in ``model.pt``: inference and export are unchanged.
    init_from: weights (a ``wildhands.model.checkpoint`` file, e.g. an earlier run's ``model.pt``) that a
        NEW run starts from instead of random weights; they must fit ``model`` exactly (missing or
        mismatching keys are refused). Ignored when ``out_dir`` already holds a run to resume.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: tuple[DataSourceConfig, ...] = ()
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    out_dir: str = "runs/default"
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    amp_dtype: str = "auto"
    amp_cpu: bool = False
    channels_last: bool | str = "auto"
    num_workers: int = 0
    mask_size: int = 56
    log_every: int = 10
    ckpt_every: int = 200
    eval_every: int = 500
    eval_hands: int = 64
    eval_seed: int = 12345
    init_from: str | None = None
    aux_keypoints: float = 0.0

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("train config needs at least one data source (`data:`)")
        for name in ("num_workers",):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 0):
                raise ValueError(f"{name}={getattr(self, name)!r} must be an int >= 0")
        for name in ("log_every", "ckpt_every", "eval_every", "eval_hands", "mask_size"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name}={getattr(self, name)!r} must be an int >= 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device={self.device!r} must be 'cpu' or 'cuda[:N]'")
        for name in ("amp", "amp_cpu"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be true or false")
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f"amp_dtype={self.amp_dtype!r} not in {AMP_DTYPES}")
        if self.amp_dtype == "float16" and self.device == "cpu":
            raise ValueError("amp_dtype='float16' needs device 'cuda' (CPU autocast is bfloat16)")
        aux = self.aux_keypoints
        if not (isinstance(aux, (int, float)) and math.isfinite(aux) and aux >= 0):
            raise ValueError(f"aux_keypoints={self.aux_keypoints!r} must be a finite number >= 0")
        if self.init_from is not None and not (isinstance(self.init_from, str) and self.init_from):
            raise ValueError(f"init_from={self.init_from!r} must be a path to a checkpoint (or null)")
        if self.channels_last not in (True, False, "auto"):
            raise ValueError(f"channels_last={self.channels_last!r} must be 'auto', true or false")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(reject_unknown_keys(cls, d))
        if "model" in d:
            d["model"] = ModelConfig.from_dict(d["model"])
        if "data" in d:
            if not isinstance(d["data"], list):
                raise ValueError("data must be a list of sources")
            d["data"] = tuple(DataSourceConfig(**reject_unknown_keys(DataSourceConfig, s)) for s in d["data"])
        if "optim" in d:
            d["optim"] = OptimConfig(**reject_unknown_keys(OptimConfig, d["optim"]))
        if "augment" in d:
            d["augment"] = AugmentConfig(**reject_unknown_keys(AugmentConfig, d["augment"]))
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"train config not found: {path}")
        try:
            return cls.from_dict(yaml.safe_load(path.read_text()) or {})
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "data": [dataclasses.asdict(s) for s in self.data],
            "optim": dataclasses.asdict(self.optim),
            "augment": dataclasses.asdict(self.augment),
            **{
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if f.name not in ("model", "data", "optim", "augment")
            },
        }
