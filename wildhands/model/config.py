"""Configuration of the WildHands network: frozen dataclasses, validated on construction.

Shape follows nanoGPT's ``GPTConfig`` (a dataclass next to the model), with two additions: every field is
checked in ``__post_init__`` (``ValueError`` naming the field and the value) and ``from_dict`` rejects
unknown keys, so a typo in a YAML file fails loudly instead of silently falling back to a default.

    cfg = ModelConfig.from_dict({"backbone": "resnet18", "kpe": {"variant": "dense"}})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: Backbones this module can build, with the channel count of their last feature map.
#: (``mediapipe_hand``: MediaPipe's hand-landmark trunk, frozen; see ``wildhands.model.backbones``.)
BACKBONE_CHANNELS: dict[str, int] = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "mediapipe_hand": 1152,
}

#: Backbones whose weights are read from their own file when built: fixed and never saved, unless the
#: network's ``ModelConfig.trunk_trainable`` (then that file is only their initial value).
FROZEN_BACKBONES: tuple[str, ...] = ("mediapipe_hand",)

#: Crop side (pixels) a backbone requires, where it accepts only one.
BACKBONE_IMAGE_SIZE: dict[str, int] = {"mediapipe_hand": 224}

#: Downsampling factor of every supported backbone (224 px crop -> 7x7 feature grid).
BACKBONE_STRIDE = 32

#: Points of the sparse KPE: the 4 crop corners + the crop centre (order set by ``geometry.crop``).
SPARSE_NUM_POINTS = 5


#: ``KPEConfig.layout`` values: ``'ours'`` (point-major ``[raw?, sin_k, cos_k]`` per scalar) or
#: ``'official'``.
KPE_LAYOUTS: tuple[str, ...] = ("ours", "official")

#: Our sparse point order is TL, TR, BL, BR, centre (``geometry.crop.kpe_inputs``); the official code encodes
#: the centre first, then the corners (x0,y0), (x0,y1), (x1,y0), (x1,y1) = our points 0, 2, 1, 3.
OFFICIAL_KPE_CENTRE_INDEX = 4
OFFICIAL_KPE_CORNER_ORDER: tuple[int, ...] = (0, 2, 1, 3)


class KPEVariant(str, Enum):
    """Which camera information is given to the network (paper section 3, "KPE").

    - ``SPARSE``: angles (radians) of the rays through the 4 crop corners and the crop centre (paper's best).
    - ``DENSE``: angles of the rays through the centre of every cell of the feature grid (7x7 = 49 points).
    - ``FREE``: intrinsics-free ablation: the same 5 points as ``SPARSE`` but as normalised pixel
      coordinates of the full image (no focal length / principal point).
    - ``NONE``: no positional encoding (the kpe input is accepted and ignored).
    """

    SPARSE = "sparse"
    DENSE = "dense"
    FREE = "free"
    NONE = "none"


def _enum_value(enum_cls: type[Enum], name: str, value: Any) -> Enum:
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum_cls)  # type: ignore[attr-defined]
        raise ValueError(f"{name}={value!r} not in {{{allowed}}}") from None


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be an int")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name}={value!r} must be {bound}")


def reject_unknown_keys(cls: type, d: Any) -> dict[str, Any]:
    """``d`` itself if it is a dict whose keys are all fields of the dataclass ``cls``; ValueError naming the
    unknown keys otherwise (every config ``from_dict`` uses it, so a typo in a YAML file fails loudly)."""
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__} expects a dict, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; allowed: {sorted(known)}")
    return d


@dataclass(frozen=True)
class KPEConfig:
    """Intrinsics-aware positional encoding (KPE).

    Every input scalar x (an angle in radians, or a normalised coordinate for ``FREE``) is encoded as
    ``[x (if include_raw), sin(2^0 x) .. sin(2^(L-1) x), cos(2^0 x) .. cos(2^(L-1) x)]`` with
    ``L = num_freqs``, i.e. ``features_per_scalar = 2 L + include_raw`` numbers.

    Defaults: ``num_freqs=8`` (frequencies 1..128 rad^-1: the highest resolves ~0.05 rad, well below the
    angular size of a hand crop in wide-FoV egocentric cameras) and ``include_raw=True`` (the raw angle
    keeps the encoding injective over the whole field of view, which the sinusoids alone are not).
    ``dense_grid=7`` is the feature grid of a 224 px crop with a stride-32 backbone.

    ``layout='official'`` (sparse only, ``include_raw=False``) lays the same numbers out like the official
    WildHands code (``compute_center_pos_enc`` / ``compute_corner_pos_enc``): 4 * num_freqs centre channels
    ``[k][axis][sin, cos]`` then 16 * num_freqs corner channels ``[k][corner * 2 + axis][sin, cos]``, corners
    in the official order (see :data:`OFFICIAL_KPE_CORNER_ORDER`). Omitted from ``to_dict`` at its default.
    """

    variant: KPEVariant = KPEVariant.SPARSE
    num_freqs: int = 8
    include_raw: bool = True
    dense_grid: int = 7
    layout: str = "ours"

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", _enum_value(KPEVariant, "kpe.variant", self.variant))
        _check_int("kpe.num_freqs", self.num_freqs, 1, 16)
        if not isinstance(self.include_raw, bool):
            raise ValueError(f"kpe.include_raw={self.include_raw!r} must be a bool")
        _check_int("kpe.dense_grid", self.dense_grid, 1, 64)
        if self.layout not in KPE_LAYOUTS:
            raise ValueError(f"kpe.layout={self.layout!r} not in {KPE_LAYOUTS}")
        if self.layout == "official" and (self.variant is not KPEVariant.SPARSE or self.include_raw):
            raise ValueError(
                f"kpe.layout='official' needs variant='sparse' and include_raw=False, got "
                f"variant={self.variant.value!r}, include_raw={self.include_raw!r}"
            )

    @property
    def num_points(self) -> int:
        """Points P of the ``kpe (B, P, 2)`` input: 5 (sparse/free/none) or dense_grid**2 (dense)."""
        if self.variant is KPEVariant.DENSE:
            return self.dense_grid * self.dense_grid
        return SPARSE_NUM_POINTS

    @property
    def features_per_scalar(self) -> int:
        """Numbers produced per encoded scalar: ``2 * num_freqs + include_raw``."""
        return 2 * self.num_freqs + int(self.include_raw)

    @property
    def out_channels(self) -> int:
        """Channels the encoding adds to the feature map.

        sparse/free: ``5 * 2 * features_per_scalar`` (170 with the defaults), dense:
        ``2 * features_per_scalar`` (34 with the defaults, per grid cell), none: 0.
        """
        if self.variant is KPEVariant.NONE:
            return 0
        if self.variant is KPEVariant.DENSE:
            return 2 * self.features_per_scalar
        return SPARSE_NUM_POINTS * 2 * self.features_per_scalar

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "variant": self.variant.value,
            "num_freqs": self.num_freqs,
            "include_raw": self.include_raw,
            "dense_grid": self.dense_grid,
        }
        if self.layout != "ours":  # absent at the default: dicts of existing configs are unchanged
            d["layout"] = self.layout
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KPEConfig:
        reject_unknown_keys(cls, d)
        return cls(**d)


#: Allowed values of the string options of :class:`ModelConfig` (first = default).
_CHOICES: dict[str, tuple[str, ...]] = {
    "fusion": ("ours", "official", "residual"),
    "cam_init": ("mean", "mlp"),
    "cam_scale": ("log", "linear"),
    "rot6d_layout": ("columns", "rows"),
    "grasp_input": ("rotmats_betas", "betas_rotmats"),
    "regressor_activation": ("relu", "leaky_relu"),
    "crop_roll": ("none", "upright"),
}

#: Fields added for the official architecture: left out of ``ModelConfig.to_dict`` at these defaults.
_OMITTED_AT_DEFAULT: dict[str, Any] = {
    **{k: v[0] for k, v in _CHOICES.items()},
    "global_backbone": False,
    "trunk_trainable": False,
}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`wildhands.model.network.WildHandsNet`.

    Fields:
        backbone: ``'resnet18' | 'resnet34' | 'resnet50'`` (paper: resnet50, 7x7x2048 map) or
            ``'mediapipe_hand'`` (MediaPipe's hand-landmark trunk, trained on real hands, frozen, 7x7x1152;
            ``image_size`` 224 only; ``wildhands.model.backbones``).
        kpe: :class:`KPEConfig`.
        fusion_channels: output channels of the three KPE fusion convs; ``None`` = the backbone's channels.
        fusion_kernel_size: kernel of the fusion convs, 1 or 3 (1 by default: the sparse encoding is constant
            over the grid, so 1x1 convs already mix it with every cell, at 1/9 of the cost of 3x3).
        num_iterations: HMR iterative-error-feedback steps (paper: 3).
        num_betas: shape coefficients (MANO: 10).
        num_grasp_classes: logits of the grasp head (WildHands: 8, see ``grasp.GRASP_CLASSES``).
        image_size: side of the square input crop in px (multiple of 32; 224 in the paper).
        regressor_hidden: width of the two FC layers of the regressor.
        regressor_dropout: dropout after each regressor FC layer (HMR/SPIN use 0.5).
        grasp_hidden: width of the hidden layers of the 4-layer grasp MLP.
        mean_cam_scale: weak-perspective scale s of the mean camera; with crop coordinates normalised to
            [-1, 1] and ``x_norm = s * (X + t)`` (X in metres), s = 8 maps a 0.2 m hand to 1.6 of the crop's
            width of 2, i.e. the hand fills ~80% of the crop as the crop policy intends.
        grasp_hidden may also be a tuple of widths, one per hidden layer (official: ``(1024, 512, 128)``).

    Options expressing the official WildHands architecture (``wildhands.model.official``); each defaults to
    our behaviour and is left out of ``to_dict`` at its default, so configs and checkpoints written before
    these options existed load and serialise unchanged:

        fusion: ``'ours'`` (three same-size convs with bias, then average pooling), ``'residual'`` (the same
            three convs as a zero-initialised correction added to the backbone map, which keeps a network
            trained from scratch from collapsing to one output; ``fusion_channels`` must be None) or
            ``'official'`` (bias-free 1x1 -> 1024, 3x3 valid -> 512, 3x3 valid -> 256, flatten,
            Linear -> backbone_channels, ReLU after each; needs a grid of at least 5x5; ``fusion_channels``
            must be None).
        global_backbone: a second ResNet on the FULL image (resized to image_size x image_size) whose map is
            added to the crop's map before the KPE; the network then takes a third input ``full_images``.
        cam_init: ``'mean'`` (constant initial camera) or ``'mlp'`` (per-sample initial camera
            ``Linear(C, 512) -> ReLU -> Linear(512, 512) -> ReLU -> Linear(512, 3)`` of the fused feature).
        cam_scale: ``'log'`` (the regressor iterates ``log s``) or ``'linear'`` (iterates ``s``, official).
        rot6d_layout: ``'columns'`` (the 6 numbers are the first two columns, ours) or ``'rows'`` (first two
            rows, pytorch3d / official: the Gram-Schmidt matrix is transposed).
        grasp_input: ``'rotmats_betas'`` (ours) or ``'betas_rotmats'`` (official): input order of the
            grasp MLP.
        regressor_activation: ``'relu'`` (HMR, official) or ``'leaky_relu'`` (negative slope 0.1) after the
            regressor's two FC layers. Trained from scratch at Adam 1e-3, a third of the ReLU units of the
            regressor died within 200 steps (never active again); leaky units cannot die. No parameters:
            the state dict is the same either way.
        crop_roll: how the crops this network reads are turned (a preprocessing contract, like
            ``image_size``; no parameters): ``'none'`` (never: box or rectified crops as ``crop_mode``
            says) or ``'upright'`` (rectified crops turned so that the wrist -> middle-MCP direction points
            up, as MediaPipe cuts its crops: ``perspective_crop.upright_roll``; the pipeline finds the
            direction with a first pass of the same network on the unturned crop, training from the
            labels, ``AugmentConfig.upright_prob``).
        trunk_trainable: for a backbone of ``FROZEN_BACKBONES`` (``mediapipe_hand``): ``False`` (default)
            keeps its weights as its file has them, outside ``parameters()`` and checkpoints; ``True`` makes
            the file only the initial value: the trunk is trained with the rest (``optim.head_lr_ratio`` sets
            the heads' rate against it) and its weights are saved in the checkpoint (keys
            ``backbone.trunk.*``). The ResNets are always trained, so it must stay ``False`` for them.
    """

    # The paper's architecture; the shipped weights are resnet18 (``weights.SHIPPED_BACKBONE``, the default of
    # the CLI / node / demo). Not changed here: training configs and checkpoints without the key rely on it.
    backbone: str = "resnet50"
    kpe: KPEConfig = field(default_factory=KPEConfig)
    fusion_channels: int | None = None
    fusion_kernel_size: int = 1
    num_iterations: int = 3
    num_betas: int = 10
    num_grasp_classes: int = 8
    image_size: int = 224
    regressor_hidden: int = 1024
    regressor_dropout: float = 0.5
    grasp_hidden: int | tuple[int, ...] = 256
    mean_cam_scale: float = 8.0
    fusion: str = "ours"
    global_backbone: bool = False
    cam_init: str = "mean"
    cam_scale: str = "log"
    rot6d_layout: str = "columns"
    grasp_input: str = "rotmats_betas"
    regressor_activation: str = "relu"
    crop_roll: str = "none"
    trunk_trainable: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONE_CHANNELS:
            raise ValueError(f"backbone={self.backbone!r} not in {set(BACKBONE_CHANNELS)}")
        kpe = self.kpe
        if isinstance(kpe, dict):
            kpe = KPEConfig.from_dict(kpe)
            object.__setattr__(self, "kpe", kpe)
        if not isinstance(kpe, KPEConfig):
            raise ValueError(f"kpe={kpe!r} must be a KPEConfig or a dict")
        if self.fusion_channels is not None:
            _check_int("fusion_channels", self.fusion_channels, 1)
        if self.fusion_kernel_size not in (1, 3):
            raise ValueError(f"fusion_kernel_size={self.fusion_kernel_size!r} must be 1 or 3")
        _check_int("num_iterations", self.num_iterations, 1, 10)
        _check_int("num_betas", self.num_betas, 1, 300)
        _check_int("num_grasp_classes", self.num_grasp_classes, 1)
        _check_int("image_size", self.image_size, BACKBONE_STRIDE)
        if self.image_size % BACKBONE_STRIDE:
            raise ValueError(f"image_size={self.image_size!r} must be a multiple of {BACKBONE_STRIDE}")
        fixed_size = BACKBONE_IMAGE_SIZE.get(self.backbone)
        if fixed_size is not None and self.image_size != fixed_size:
            raise ValueError(
                f"backbone={self.backbone!r} needs image_size={fixed_size}, got {self.image_size!r}"
            )
        if kpe.variant is KPEVariant.DENSE and self.grid_size != kpe.dense_grid:
            raise ValueError(
                f"kpe.dense_grid={kpe.dense_grid!r} must equal image_size/{BACKBONE_STRIDE}={self.grid_size} "
                f"for image_size={self.image_size}"
            )
        _check_int("regressor_hidden", self.regressor_hidden, 1)
        if isinstance(self.grasp_hidden, list):
            object.__setattr__(self, "grasp_hidden", tuple(self.grasp_hidden))
        if isinstance(self.grasp_hidden, tuple):
            if not self.grasp_hidden:
                raise ValueError("grasp_hidden=() must hold at least one width")
            for i, width in enumerate(self.grasp_hidden):
                _check_int(f"grasp_hidden[{i}]", width, 1)
        else:
            _check_int("grasp_hidden", self.grasp_hidden, 1)
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} not in {allowed}")
        if not isinstance(self.global_backbone, bool):
            raise ValueError(f"global_backbone={self.global_backbone!r} must be a bool")
        if not isinstance(self.trunk_trainable, bool):
            raise ValueError(f"trunk_trainable={self.trunk_trainable!r} must be a bool")
        if self.trunk_trainable and self.backbone not in FROZEN_BACKBONES:
            raise ValueError(
                f"trunk_trainable=True is for the backbones read from a file {FROZEN_BACKBONES}; "
                f"backbone={self.backbone!r} is always trained"
            )
        if self.fusion == "residual" and self.fusion_channels not in (None, self.backbone_channels):
            raise ValueError(
                f"fusion='residual' adds the convs' output to the backbone map: fusion_channels must be None "
                f"(or {self.backbone_channels}), got {self.fusion_channels!r}"
            )
        if self.fusion == "official":
            if self.fusion_channels is not None or self.fusion_kernel_size != 1:
                raise ValueError(
                    "fusion='official' fixes its widths and kernels: fusion_channels must be None and "
                    f"fusion_kernel_size 1, got {self.fusion_channels!r}, {self.fusion_kernel_size!r}"
                )
            if self.grid_size < 5:
                raise ValueError(
                    f"fusion='official' needs a grid of >= 5 cells (image_size >= 160), got "
                    f"image_size={self.image_size}"
                )
        if not isinstance(self.regressor_dropout, (int, float)) or not 0.0 <= self.regressor_dropout < 1.0:
            raise ValueError(f"regressor_dropout={self.regressor_dropout!r} must be in [0, 1)")
        if (
            not isinstance(self.mean_cam_scale, (int, float))
            or not math.isfinite(self.mean_cam_scale)
            or self.mean_cam_scale <= 0
        ):
            raise ValueError(f"mean_cam_scale={self.mean_cam_scale!r} must be a finite number > 0")

    @property
    def backbone_channels(self) -> int:
        """Channels C of the backbone map (512 for resnet18/34, 2048 for resnet50)."""
        return BACKBONE_CHANNELS[self.backbone]

    @property
    def fused_channels(self) -> int:
        """Channels of the fused map = ``fusion_channels`` or, if None, ``backbone_channels``."""
        return self.backbone_channels if self.fusion_channels is None else self.fusion_channels

    @property
    def grasp_widths(self) -> tuple[int, ...]:
        """Hidden widths of the grasp MLP: ``grasp_hidden`` as a tuple (an int means three equal layers)."""
        if isinstance(self.grasp_hidden, tuple):
            return self.grasp_hidden
        return (self.grasp_hidden,) * 3

    @property
    def grid_size(self) -> int:
        """Side of the backbone feature grid: ``image_size / 32`` (7 for 224 px)."""
        return self.image_size // BACKBONE_STRIDE

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of builtins (YAML/JSON friendly); ``from_dict(to_dict())`` returns an equal config."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["kpe"] = self.kpe.to_dict()
        if isinstance(self.grasp_hidden, tuple):
            d["grasp_hidden"] = list(self.grasp_hidden)
        for name, default in _OMITTED_AT_DEFAULT.items():
            if d[name] == default:  # keeps the dicts of pre-existing configs (checkpoints, caches) unchanged
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict (e.g. parsed YAML). Unknown keys (also inside ``kpe``) raise ``ValueError``."""
        reject_unknown_keys(cls, d)
        d = dict(d)
        if "kpe" in d and isinstance(d["kpe"], dict):
            d["kpe"] = KPEConfig.from_dict(d["kpe"])
        return cls(**d)
