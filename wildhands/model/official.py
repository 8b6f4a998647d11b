"""Importer for the official WildHands checkpoint (github.com/ap229997/hands, ``wildhands.ckpt``).

Sources read (facts only): ``wildhands/models/model.py`` (class ``WildHands``),
``wildhands/models/wrapper.py`` (the Lightning module holding it as ``self.model``),
``wildhands/models/hand_heads/hand_hmr.py``, ``wildhands/models/hmr_layer.py``,
``wildhands/models/backbone/resnet.py``, ``wildhands/configs/model_config.py``
(``n_freq_pos_enc = 4``, ``pos_enc = 'center+corner_latent'``, ``img_res = 224``, ``backbone = 'resnet50'``),
``src/models/hands_light/model.py`` (training model; grasp classifier), ``demo.py`` (loads
``torch.load(ckpt)["state_dict"]`` and drops keys containing ``head_o``, ``arti_head``, ``grasp_classifier``).

Official state-dict layout (PyTorch Lightning ``.ckpt``: weights under ``"state_dict"``, prefix ``model.``)::

    model.backbone.{conv1,bn1,layer1..layer4}.*      ResNet-50 (torchvision names, NO fc/avgpool) on the
                                                     FULL image (resized to 224x224): global features
    model.hand_backbone.{conv1,bn1,layer1..4}.*      ResNet-50 on the hand crop (shared by both hands)
    model.feature_conv.0.weight   (1024, 2048+80, 1, 1)  no bias   input = cat(hand_feat + global_feat, KPE)
    model.feature_conv.2.weight   (512, 1024, 3, 3)      no bias   padding 0 (7x7 -> 5x5)
    model.feature_conv.4.weight   (256, 512, 3, 3)       no bias   padding 0 (5x5 -> 3x3)
    model.feature_conv.7.{weight (2048, 2304), bias}     Linear after Flatten -> 2048-d vector (+ ReLU)
    model.head_{r,l}.hmr_layer.refine.0.{weight (1024, 2157), bias}   FC on cat(feat, pose_6d, shape, cam)
    model.head_{r,l}.hmr_layer.refine.3.{weight (1024, 1024), bias}
    model.head_{r,l}.hmr_layer.decoders.pose_6d.{weight (96, 1024), bias}
    model.head_{r,l}.hmr_layer.decoders.cam_t/wp.{weight (3, 1024), bias}    ("/" is in the key)
    model.head_{r,l}.hmr_layer.decoders.shape.{weight (10, 1024), bias}
    model.head_{r,l}.cam_init.{0: (512, 2048), 2: (512, 512), 4: (3, 512)}.{weight, bias}  camera init MLP
    model.grasp_classifier.{0: (1024, 154), 2: (512, 1024), 4: (128, 512), 6: (9, 128)}.{weight, bias}
                                              (training checkpoints; input cat(betas(10), rotmats(144)),
                                               9 logits = 8 grasp classes + "no grasp")
    mano_r.*, mano_l.*, model.mano_r.mano.*, model.mano_l.mano.*   smplx MANO buffers (licensed model data)

Conventions of the official model:
- KPE ('center+corner_latent', L = n_freq_pos_enc = 4, no raw angle): angles ``atan2(u - cx, fx)``,
  ``atan2(v - cy, fy)`` of the crop centre (2 numbers) and of the 4 corners ``(x0,y0), (x0,y1), (x1,y0),
  (x1,y1)`` (8 numbers); each block is encoded as ``stack([sin(2^k a), cos(2^k a)], -1)`` laid out
  ``[k][angle][sin, cos]``: 16 centre channels then 64 corner channels, broadcast over the 7x7 grid.
  Reproduced by ``KPEConfig(layout='official', num_freqs=4, include_raw=False)`` from our sparse
  ``kpe (B, 5, 2)`` input (points TL, TR, BL, BR, centre, re-ordered inside the encoder).
- The crop map and the full-image map are SUMMED (``hand_backbone(crop) + backbone(full image)``), then
  concatenated with the KPE and fed to ``feature_conv`` (a 2048-d vector, no pooling).
- The regression state (``HandHMR.init_vector_dict``) is a dict inserted as ``pose_6d (96), shape (10),
  cam_t/wp (3)``; the refine input is ``cat(feat, pose_6d, shape, cam)``: the SAME column order as our
  ``fc1`` (``[feat, pose, betas, cam]``), so ``refine.0`` maps unchanged. (The decoders' insertion order
  pose_6d, cam_t/wp, shape only orders the updates.) Initial pose = identity rotations (pytorch3d 6D
  ``[1,0,0, 0,1,0]``, equal to ours), shape = 0, camera = ``cam_init(feat)`` per sample, 3 iterations,
  dropout 0.5; the camera's scale ``s`` is iterated directly (``cam_scale='linear'``).
- 6D rotations: pytorch3d ``rotation_6d_to_matrix``: the 6 numbers are the first two ROWS of the matrix
  (Gram-Schmidt on rows) where ours (``geometry.rotations.rot6d_to_matrix``) uses COLUMNS; the same 6
  numbers give ``R_official = R_ours^T`` (``rot6d_layout='rows'`` transposes after Gram-Schmidt).
- Weak-perspective camera ``(s, tx, ty)``: ``cam_t = (tx, ty, 2 f / (img_res * s))``, with ``f`` the crop's
  focal length in crop pixels, i.e. ``x_norm = s (X + t)`` in crop coordinates normalised to [-1, 1], X in
  metres: the same convention as ours (``WildHandsOutput.cam_wp``).
- Grasp classifier: ``grasp_classifier(cat(shape, rotmats.view(B, 144)))`` with rotmats the pytorch3d
  (row-convention) matrices; Linear/ReLU widths 1024, 512, 128, 9 logits.
- Hands: separate right and left heads on UNmirrored crops (we mirror left hands onto one right head).

Full import (:func:`official_config` + :func:`load_official_state_dict`): every official key lands in a
:class:`~wildhands.model.network.WildHandsNet` built with the official options (per side ``s``)::

    model.hand_backbone.<k>                      -> backbone.<k>
    model.backbone.<k>                           -> global_backbone.<k>       (global_backbone=True)
    model.feature_conv.{0,2,4,7}.*               -> kpe_fusion.net.{0,2,4,7}.* (fusion='official')
    model.head_<s>.hmr_layer.refine.0.*          -> regressor.fc1.*
    model.head_<s>.hmr_layer.refine.3.*          -> regressor.fc2.*
    model.head_<s>.hmr_layer.decoders.pose_6d.*  -> regressor.dec_pose.*      (rot6d_layout='rows')
    model.head_<s>.hmr_layer.decoders.shape.*    -> regressor.dec_betas.*
    model.head_<s>.hmr_layer.decoders.cam_t/wp.* -> regressor.dec_cam.*       (cam_scale='linear')
    model.head_<s>.cam_init.{0,2,4}.*            -> regressor.cam_init.{0,2,4}.* (cam_init='mlp')
    model.grasp_classifier.{0,2,4,6}.*           -> grasp_head.mlp.{0,2,4,6}.* (grasp_hidden=(1024,512,128),
                                                    num_grasp_classes=9, grasp_input='betas_rotmats')

All transforms are the identity. Every tensor maps unchanged, and our network's forward is the official
forward of one head. Only our constant buffers (``regressor.mean_*``) are not filled from the checkpoint;
with ``cam_init='mlp'`` the network does not use ``mean_cam``.

Left hand: the official network has two heads and our network has one. :func:`load_official_state_dict`
with ``side='l'`` builds the left model, and :func:`load_official_models` builds both, so between them
every key is used. The official left head is trained on UNMIRRORED left crops and predicts left-hand MANO
parameters. Our pipeline mirrors left hands onto a right-hand model, so the pipeline should run the right
model. The left model is for direct use on unmirrored crops.

The network input ``full_images`` (``global_backbone=True``) is the whole frame resized to 224x224 and
ImageNet-normalised, one per crop. The runtime pipeline and ONNX engine do not produce it yet (see
``wildhands.model.network``), so a fully imported model runs through ``WildHandsNet.forward`` or its own
3-input ONNX export.

MANO buffers are ignored; the hand model is loaded separately, from the user's MANO files.

Partial import (``config=official_compatible_config()``, ``allow_partial=True``): our default
architecture with 4 frequencies; only the crop backbone and one regressor are loaded (a fine-tuning start).
The groups that such a config cannot hold are listed in :data:`UNMAPPABLE_GROUPS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from wildhands.model.checkpoint import save_checkpoint
from wildhands.model.config import KPEConfig, KPEVariant, ModelConfig
from wildhands.model.network import WildHandsNet

logger = logging.getLogger(__name__)

#: Official defaults (``wildhands/configs/model_config.py``, ``model.py``).
OFFICIAL_N_FREQ = 4
OFFICIAL_FEAT_DIM = 2048
OFFICIAL_KPE_CHANNELS = 5 * 4 * OFFICIAL_N_FREQ  # 80
OFFICIAL_HIDDEN = 1024
OFFICIAL_NPOSE = 96
OFFICIAL_NBETAS = 10

#: Prefixes of smplx MANO buffers stored in the checkpoint: ignored (not network weights).
IGNORED_PREFIXES: tuple[str, ...] = ("mano_r.", "mano_l.", "model.mano_r.", "model.mano_l.")

#: Official ResNet-50 grasp-classifier widths and logits (8 grasp classes + "no grasp").
OFFICIAL_GRASP_HIDDEN: tuple[int, ...] = (1024, 512, 128)
OFFICIAL_GRASP_CLASSES = 9

#: Groups of official keys and the config options a WildHandsNet needs to hold them (error messages).
UNMAPPABLE_GROUPS: dict[str, str] = {
    "model.backbone.": "full-image ResNet-50 branch added to the crop features: needs global_backbone=True",
    "model.feature_conv.": "fusion 1x1/3x3-valid/3x3-valid convs without bias + Linear(2304, 2048): needs "
    "fusion='official'",
    "cam_init.": "per-sample initial camera MLP: needs cam_init='mlp'",
    "model.grasp_classifier.": "grasp MLP 1024/512/128 -> 9 logits on [betas, rotmats]: needs "
    "grasp_hidden=(1024, 512, 128), num_grasp_classes=9, grasp_input='betas_rotmats'",
}

#: What a full import needs beyond :func:`official_config` (nothing left that a config cannot express;
#: what remains is outside the network: the runtime pipeline feeding ``full_images``, see the docstring).
CONFIG_CHANGES_FOR_FULL_IMPORT = (
    "use config=official_config() (fusion='official', global_backbone=True, cam_init='mlp', "
    "cam_scale='linear', rot6d_layout='rows', kpe layout 'official' with 4 frequencies and no raw angle, "
    "grasp_hidden=(1024, 512, 128), num_grasp_classes=9, grasp_input='betas_rotmats'); one model per "
    "official head (side='r' / 'l'); the network then takes a third input full_images"
)


def _resnet50_keys() -> dict[str, tuple[int, ...]]:
    from wildhands.model.resnet import resnet_trunk

    return {k: tuple(v.shape) for k, v in resnet_trunk("resnet50").state_dict().items()}


def official_state_dict_shapes(grasp: bool = True) -> dict[str, tuple[int, ...]]:
    """Every key of the official ``WildHands`` module (as saved by Lightning, prefix ``model.``) and its
    shape, MANO buffers excluded. ``grasp`` adds the training model's ``grasp_classifier``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k, s in _resnet50_keys().items():
        shapes[f"model.backbone.{k}"] = s
        shapes[f"model.hand_backbone.{k}"] = s
    c_in = OFFICIAL_FEAT_DIM + OFFICIAL_KPE_CHANNELS
    shapes["model.feature_conv.0.weight"] = (1024, c_in, 1, 1)
    shapes["model.feature_conv.2.weight"] = (512, 1024, 3, 3)
    shapes["model.feature_conv.4.weight"] = (256, 512, 3, 3)
    shapes["model.feature_conv.7.weight"] = (OFFICIAL_FEAT_DIM, 256 * 3 * 3)
    shapes["model.feature_conv.7.bias"] = (OFFICIAL_FEAT_DIM,)
    hmr_in = OFFICIAL_FEAT_DIM + OFFICIAL_NPOSE + 3 + OFFICIAL_NBETAS
    for s in ("r", "l"):
        p = f"model.head_{s}."
        for name, (o, i) in {
            "hmr_layer.refine.0": (OFFICIAL_HIDDEN, hmr_in),
            "hmr_layer.refine.3": (OFFICIAL_HIDDEN, OFFICIAL_HIDDEN),
            "hmr_layer.decoders.pose_6d": (OFFICIAL_NPOSE, OFFICIAL_HIDDEN),
            "hmr_layer.decoders.cam_t/wp": (3, OFFICIAL_HIDDEN),
            "hmr_layer.decoders.shape": (OFFICIAL_NBETAS, OFFICIAL_HIDDEN),
            "cam_init.0": (512, OFFICIAL_FEAT_DIM),
            "cam_init.2": (512, 512),
            "cam_init.4": (3, 512),
        }.items():
            shapes[f"{p}{name}.weight"] = (o, i)
            shapes[f"{p}{name}.bias"] = (o,)
    if grasp:
        for idx, (o, i) in {0: (1024, 154), 2: (512, 1024), 4: (128, 512), 6: (9, 128)}.items():
            shapes[f"model.grasp_classifier.{idx}.weight"] = (o, i)
            shapes[f"model.grasp_classifier.{idx}.bias"] = (o,)
    return shapes


def official_compatible_config() -> ModelConfig:
    """Our config closest to the official model: resnet50, sparse KPE with 4 frequencies and no raw angle
    (80 channels, like the official encoding), 3 iterations, 10 betas, 1024-wide regressor."""
    return ModelConfig(
        backbone="resnet50",
        kpe=KPEConfig(variant=KPEVariant.SPARSE, num_freqs=OFFICIAL_N_FREQ, include_raw=False),
        num_iterations=3,
        num_betas=OFFICIAL_NBETAS,
        regressor_hidden=OFFICIAL_HIDDEN,
        regressor_dropout=0.5,
    )


def official_config(grasp: bool = True) -> ModelConfig:
    """The config that reproduces the official WildHands network (one head): every official key maps
    unchanged (see the module docstring). ``grasp=False`` keeps our default grasp head (for checkpoints
    without ``grasp_classifier``)."""
    grasp_kw: dict = {}
    if grasp:
        grasp_kw = {
            "grasp_hidden": OFFICIAL_GRASP_HIDDEN,
            "num_grasp_classes": OFFICIAL_GRASP_CLASSES,
            "grasp_input": "betas_rotmats",
        }
    return ModelConfig(
        backbone="resnet50",
        kpe=KPEConfig(
            variant=KPEVariant.SPARSE, num_freqs=OFFICIAL_N_FREQ, include_raw=False, layout="official"
        ),
        num_iterations=3,
        num_betas=OFFICIAL_NBETAS,
        image_size=224,
        regressor_hidden=OFFICIAL_HIDDEN,
        regressor_dropout=0.5,
        fusion="official",
        global_backbone=True,
        cam_init="mlp",
        cam_scale="linear",
        rot6d_layout="rows",
        **grasp_kw,
    )


def _grasp_is_official(config: ModelConfig) -> bool:
    return (
        config.grasp_widths == OFFICIAL_GRASP_HIDDEN
        and config.num_grasp_classes == OFFICIAL_GRASP_CLASSES
        and config.grasp_input == "betas_rotmats"
    )


def _held_groups(config: ModelConfig) -> dict[str, bool]:
    """Which :data:`UNMAPPABLE_GROUPS` ``config`` can hold."""
    return {
        "model.backbone.": config.global_backbone,
        "model.feature_conv.": config.fusion == "official",
        "cam_init.": config.cam_init == "mlp",
        "model.grasp_classifier.": _grasp_is_official(config),
    }


def exactness_problems(config: ModelConfig, grasp: bool = True) -> list[str]:
    """Fields of ``config`` that keep a network holding the official weights from computing the official
    forward (empty for :func:`official_config`). ``grasp``: whether the grasp head must be official too."""
    ref = official_config(grasp=grasp)
    fields = [
        "backbone",
        "kpe",
        "num_iterations",
        "num_betas",
        "image_size",
        "regressor_hidden",
        "fusion",
        "global_backbone",
        "cam_init",
        "cam_scale",
        "rot6d_layout",
    ]
    if grasp:
        fields += ["num_grasp_classes", "grasp_input"]
    problems = [
        f"{f}={getattr(config, f)!r} (official: {getattr(ref, f)!r})"
        for f in fields
        if getattr(config, f) != getattr(ref, f)
    ]
    if grasp and config.grasp_widths != OFFICIAL_GRASP_HIDDEN:
        problems.append(f"grasp_hidden={config.grasp_hidden!r} (official: {OFFICIAL_GRASP_HIDDEN!r})")
    return problems


def official_key_map(
    side: str = "r", config: ModelConfig | None = None, grasp: bool = True
) -> dict[str, tuple[str, str]]:
    """ours -> (official key, transform) for the groups ``config`` holds (default :func:`official_config`,
    which holds all). The transform is always ``'identity'`` (kept for callers that read it)."""
    if side not in ("r", "l"):
        raise ValueError(f"side={side!r} must be 'r' or 'l'")
    config = official_config(grasp=grasp) if config is None else config
    held = _held_groups(config)
    m: dict[str, tuple[str, str]] = {}
    for k in _resnet50_keys():
        m[f"backbone.{k}"] = (f"model.hand_backbone.{k}", "identity")
        if held["model.backbone."]:
            m[f"global_backbone.{k}"] = (f"model.backbone.{k}", "identity")
    if held["model.feature_conv."]:
        m["kpe_fusion.net.0.weight"] = ("model.feature_conv.0.weight", "identity")
        m["kpe_fusion.net.2.weight"] = ("model.feature_conv.2.weight", "identity")
        m["kpe_fusion.net.4.weight"] = ("model.feature_conv.4.weight", "identity")
        m["kpe_fusion.net.7.weight"] = ("model.feature_conv.7.weight", "identity")
        m["kpe_fusion.net.7.bias"] = ("model.feature_conv.7.bias", "identity")
    head = f"model.head_{side}."
    pairs = [
        ("fc1", "hmr_layer.refine.0"),
        ("fc2", "hmr_layer.refine.3"),
        ("dec_pose", "hmr_layer.decoders.pose_6d"),
        ("dec_betas", "hmr_layer.decoders.shape"),
        ("dec_cam", "hmr_layer.decoders.cam_t/wp"),
    ]
    if held["cam_init."]:
        pairs += [(f"cam_init.{i}", f"cam_init.{i}") for i in (0, 2, 4)]
    for ours, off in pairs:
        for t in ("weight", "bias"):
            m[f"regressor.{ours}.{t}"] = (f"{head}{off}.{t}", "identity")
    if grasp and held["model.grasp_classifier."]:
        for i in (0, 2, 4, 6):
            for t in ("weight", "bias"):
                m[f"grasp_head.mlp.{i}.{t}"] = (f"model.grasp_classifier.{i}.{t}", "identity")
    return m


def normalize_official_state_dict(sd: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Unwrap a Lightning payload (``{"state_dict": ...}``), drop MANO buffers, keep tensors only; keys keep
    the ``model.`` prefix (added where a bare ``WildHands`` module state dict was given)."""
    if "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]  # type: ignore[assignment]
    out: dict[str, torch.Tensor] = {}
    bare = not any(str(k).startswith("model.") for k in sd)
    for k, v in sd.items():
        k = str(k)
        if bare:
            k = "model." + k
        if k.startswith(IGNORED_PREFIXES):
            continue
        out[k] = v  # type: ignore[assignment]
    return out


def check_official_state_dict(sd: Mapping[str, torch.Tensor]) -> None:
    """``ValueError`` listing missing, mis-shaped and unexpected keys against the official layout
    (``grasp_classifier`` optional: it is absent from inference checkpoints)."""
    expected = official_state_dict_shapes(grasp=any(k.startswith("model.grasp_classifier.") for k in sd))
    missing = sorted(k for k in expected if k not in sd)
    mismatched = sorted(
        f"{k}: got {tuple(sd[k].shape) if isinstance(sd[k], torch.Tensor) else type(sd[k]).__name__}, "
        f"expected {expected[k]}"
        for k in expected
        if k in sd and (not isinstance(sd[k], torch.Tensor) or tuple(sd[k].shape) != expected[k])
    )
    unexpected = sorted(k for k in sd if k not in expected and not k.endswith("num_batches_tracked"))
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if mismatched:
        problems.append(f"mismatched shapes {mismatched}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if problems:
        raise ValueError("state dict is not in the official WildHands layout: " + "; ".join(problems))


def _other_head(side: str) -> str:
    return f"model.head_{'l' if side == 'r' else 'r'}."


def _load(
    sd: Mapping[str, object], config: ModelConfig | None, allow_partial: bool, side: str
) -> tuple[WildHandsNet, list[str]]:
    """Model + the official keys it could not hold (the other side's head excluded)."""
    if side not in ("r", "l"):
        raise ValueError(f"side={side!r} must be 'r' or 'l'")
    official = normalize_official_state_dict(sd)
    check_official_state_dict(official)
    has_grasp = any(k.startswith("model.grasp_classifier.") for k in official)
    config = official_config(grasp=has_grasp) if config is None else config
    held = _held_groups(config)
    unheld = [g for g, ok in held.items() if not ok and (has_grasp or g != "model.grasp_classifier.")]
    problems = exactness_problems(config, grasp=has_grasp)
    if not allow_partial and (unheld or problems):
        groups = "; ".join(f"{g}* ({UNMAPPABLE_GROUPS[g]})" for g in unheld)
        raise ValueError(
            "the official WildHands checkpoint cannot be imported exactly into WildHandsNet with config "
            f"{config.to_dict()}: official parts it cannot hold: [{groups}]; fields that change the "
            f"forward (6D rows/columns, camera, KPE layout ...): {problems}. Use config=official_config(), "
            "or allow_partial=True to import what fits (a fine-tuning start). "
            + CONFIG_CHANGES_FOR_FULL_IMPORT
        )
    model = WildHandsNet(config)
    ours = model.state_dict()
    key_map = official_key_map(side, config, grasp=has_grasp)
    new_sd: dict[str, torch.Tensor] = {}
    mismatched = []
    for our_key, (off_key, _) in key_map.items():
        if our_key not in ours:
            mismatched.append(f"{our_key}: not in WildHandsNet({config.backbone})")
            continue
        value = official[off_key]
        if tuple(value.shape) != tuple(ours[our_key].shape):
            mismatched.append(
                f"{our_key} <- {off_key}: {tuple(value.shape)} vs model {tuple(ours[our_key].shape)}"
            )
            continue
        new_sd[our_key] = value.to(ours[our_key].dtype)
    if mismatched:
        raise ValueError(
            f"official checkpoint does not fit config {config.to_dict()}: mismatched {mismatched}"
        )
    used = {off for off, _ in key_map.values()}
    other = _other_head(side)
    skipped = sorted(k for k in official if k not in used and not k.startswith(other))
    unfilled = sorted(k for k in ours if k not in new_sd and not k.startswith("regressor.mean_"))
    if skipped or unfilled or problems:
        logger.warning(
            "partial import of the official WildHands checkpoint (side %s): %d tensors loaded; %d of our "
            "tensors keep their initialisation (%s ...); %d official tensors not imported (%s ...); forward "
            "differs from the official one by %s",
            side,
            len(new_sd),
            len(unfilled),
            ", ".join(unfilled[:4]),
            len(skipped),
            ", ".join(skipped[:4]),
            problems,
        )
    else:
        logger.info("full import of the official WildHands head %s: %d tensors", side, len(new_sd))
    # strict: our buffers not in the checkpoint (regressor.mean_*) keep the model's own values
    model.load_state_dict({**ours, **new_sd}, strict=True)
    return model, skipped + ([f"config: {p}" for p in problems] if problems else [])


def load_official_state_dict(
    sd: Mapping[str, object],
    config: ModelConfig | None = None,
    *,
    allow_partial: bool = False,
    side: str = "r",
) -> WildHandsNet:
    """Build a :class:`WildHandsNet` holding one head (``side``) of an official WildHands state dict.

    Args:
        sd: the official state dict (or the whole Lightning payload with ``"state_dict"``).
        config: architecture to build; default :func:`official_config` (``grasp=False`` variant when the
            checkpoint has no ``grasp_classifier``), which maps every official key of the shared parts and
            of the ``side`` head unchanged and computes the official forward of that head.
        allow_partial: ``False`` (default): raise ``ValueError`` when ``config`` cannot hold some official
            group or differs from the official forward (naming the groups and fields). ``True``: load
            what fits (e.g. ``official_compatible_config()``: crop backbone + regressor) and leave the rest
            at its initialisation, logging what was skipped.
        side: which official head to import: ``'r'`` (right; use with our pipeline, which mirrors left
            hands) or ``'l'`` (left head, for unmirrored left crops). The other head's keys belong to the
            other side's model (:func:`load_official_models`).

    Raises ``ValueError`` listing missing / mis-shaped / unexpected keys when ``sd`` is not in the official
    layout, and listing mapped keys whose shapes do not fit ``config``.
    """
    return _load(sd, config, allow_partial, side)[0]


def load_official_models(
    sd: Mapping[str, object], config: ModelConfig | None = None
) -> dict[str, WildHandsNet]:
    """Both official heads as two full models ``{'r': ..., 'l': ...}`` (shared backbones / fusion / grasp
    weights copied into each): together they use every key of the checkpoint."""
    return {side: load_official_state_dict(sd, config, side=side) for side in ("r", "l")}


def import_official_checkpoint(
    path_in: str | os.PathLike,
    path_out: str | os.PathLike,
    *,
    allow_partial: bool = False,
    side: str = "r",
    config: ModelConfig | None = None,
) -> Path:
    """Read an official ``.ckpt`` (Lightning: weights under ``"state_dict"``), map it with
    :func:`load_official_state_dict` and write our checkpoint format (:func:`save_checkpoint`; the config
    with the official options is stored in it, so ``load_model`` rebuilds the official architecture).

    ``extra`` of the written file records the source path, the side and whether the import was partial.
    """
    path_in = Path(path_in)
    if not path_in.is_file():
        raise FileNotFoundError(f"official checkpoint {path_in} does not exist")
    # weights_only=False: Lightning checkpoints pickle hyper-parameters (argparse namespaces); only load
    # files you trust.
    payload = torch.load(path_in, map_location="cpu", weights_only=False)
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path_in} does not hold a dict (got {type(payload).__name__})")
    model, skipped = _load(payload, config, allow_partial, side)
    return save_checkpoint(
        path_out,
        model,
        extra={
            "source": "official_wildhands",
            "source_path": str(path_in),
            "side": side,
            "partial": bool(skipped),
        },
    )
