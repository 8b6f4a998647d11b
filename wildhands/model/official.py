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
    model.head_{r,l}.hmr_layer.refine.0.{weight (1024, 2157), bias}   FC on cat(feat, pose_6d, cam, betas)
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
- The regression state is a dict in insertion order ``pose_6d (96), cam_t/wp (3), shape (10)``; the
  refine input is ``cat(feat, pose_6d, cam, shape)``. Initial pose = identity rotations, shape = 0, camera
  = ``cam_init(feat)`` (predicted per sample, not a constant), 3 iterations, dropout 0.5.
- 6D rotations: pytorch3d ``rotation_6d_to_matrix``: the 6 numbers are the first two ROWS of the matrix
  (Gram-Schmidt on rows). Ours (``geometry.rotations.rot6d_to_matrix``) uses the first two COLUMNS. The
  same 6 numbers therefore give ``R_official = R_ours^T``; no linear map of the decoder weights changes
  that (the Gram-Schmidt of rows is not a linear function of the columns), so exact outputs need the
  network to transpose its rotations (a config switch, see below).
- Weak-perspective camera ``(s, tx, ty)``: ``cam_t = (tx, ty, 2 f / (img_res * s))``, with ``f`` the crop's
  focal length in crop pixels, i.e. ``x_norm = s (X + t)`` in crop coordinates normalised to [-1, 1], X in
  metres: the same convention as ours (``WildHandsOutput.cam_wp``).
- Hands: separate right and left heads on UNmirrored crops (we mirror left hands onto one right head).

What maps onto :class:`~wildhands.model.network.WildHandsNet` (``OFFICIAL_KEY_MAP``, per side):

    model.hand_backbone.<k>                     -> backbone.<k>                (identity)
    model.head_<s>.hmr_layer.refine.0.weight    -> regressor.fc1.weight        (columns permuted: official
                                                   [feat, pose, cam, betas] -> ours [feat, pose, betas, cam])
    model.head_<s>.hmr_layer.refine.0.bias      -> regressor.fc1.bias
    model.head_<s>.hmr_layer.refine.3.*         -> regressor.fc2.*
    model.head_<s>.hmr_layer.decoders.pose_6d.* -> regressor.dec_pose.*        (identity; see 6D note)
    model.head_<s>.hmr_layer.decoders.shape.*   -> regressor.dec_betas.*
    model.head_<s>.hmr_layer.decoders.cam_t/wp.* -> regressor.dec_cam.*

What does NOT map (our architecture cannot hold it; the loader raises ``ValueError`` saying so unless
``allow_partial=True``, in which case these parts of the returned model keep their fresh initialisation):

- ``model.backbone.*``: the full-image ResNet-50 whose map is ADDED to the crop map (we have no full-image
  branch);
- ``model.feature_conv.*``: 1x1 / 3x3-valid / 3x3-valid convs without bias + Linear(2304, 2048) (ours: three
  same-size convs with bias + average pooling);
- ``model.head_<s>.cam_init.*``: per-sample initial camera (ours: constant ``mean_cam``);
- ``model.head_l.*`` (the left head; we mirror left hands onto the right head);
- ``model.grasp_classifier.*``: widths 1024/512/128, 9 outputs, input ``[betas, rotmats]`` (ours: one
  ``grasp_hidden`` width, 8 outputs, input ``[rotmats, betas]``);
- the 6D row/column convention (the imported regressor's rotations come out transposed);
- the camera's scale: ours iterates ``log s`` (``regressor.py``), the official regressor ``s`` itself, so
  the imported ``dec_cam`` row for s means a relative, not an absolute, update.
- MANO buffers are ignored (the hand model is loaded separately, from the user's MANO files).

A ``partial`` import (crop backbone + regressor of one side) is a starting point for fine-tuning, not a
faithful reproduction of the official network. The config change that would allow a full import is
described in :data:`CONFIG_CHANGES_FOR_FULL_IMPORT`.
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

#: Groups of official keys our network cannot hold, with the reason (used in error messages).
UNMAPPABLE_GROUPS: dict[str, str] = {
    "model.backbone.": "full-image ResNet-50 branch added to the crop features (WildHandsNet has none)",
    "model.feature_conv.": "fusion 1x1/3x3-valid/3x3-valid convs without bias + Linear(2304, 2048) "
    "(WildHandsNet: three same-size convs with bias + average pooling)",
    "cam_init.": "per-sample initial camera MLP (WildHandsNet: constant mean_cam)",
    "model.head_l.": "separate left-hand head (WildHandsNet mirrors left hands onto one right head)",
    "model.grasp_classifier.": "grasp MLP 1024/512/128 -> 9 logits on [betas, rotmats] "
    "(WildHandsNet: grasp_hidden x3 -> 8 logits on [rotmats, betas])",
}

CONFIG_CHANGES_FOR_FULL_IMPORT = (
    "ModelConfig would need: global_backbone: bool (a second ResNet on the full image, summed into the crop "
    "map); fusion: 'ours' | 'official' (1x1 no-bias 1024 -> 3x3 valid 512 -> 3x3 valid 256 -> Linear to "
    "backbone_channels, no pooling); cam_init: 'mean' | 'mlp' (3-layer 512-wide MLP); rot6d_layout: "
    "'columns' | 'rows' (transpose rotations after Gram-Schmidt); kpe.layout: 'ours' | 'official' "
    "(num_freqs=4, include_raw=False, channels [centre: k, axis, sin/cos][corners: k, corner*2+axis, "
    "sin/cos], i.e. a fixed permutation of the fusion conv's KPE input channels); grasp_hidden as a tuple "
    "(1024, 512, 128), num_grasp_classes=9 with input order [betas, rotmats]; and a per-side regressor "
    "(or import of head_r only, mirroring left hands as now)."
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


def _fc1_official_to_ours(w: torch.Tensor) -> torch.Tensor:
    """refine.0 weight columns [feat, pose(96), cam(3), betas(10)] -> fc1 columns [feat, pose, betas, cam]."""
    f = OFFICIAL_FEAT_DIM + OFFICIAL_NPOSE
    feat_pose, cam, betas = w[:, :f], w[:, f : f + 3], w[:, f + 3 : f + 3 + OFFICIAL_NBETAS]
    return torch.cat((feat_pose, betas, cam), dim=1)


def official_key_map(side: str = "r") -> dict[str, tuple[str, str]]:
    """ours -> (official key, transform name). Transforms: ``'identity'`` or ``'fc1_columns'``."""
    if side not in ("r", "l"):
        raise ValueError(f"side={side!r} must be 'r' or 'l'")
    m: dict[str, tuple[str, str]] = {
        f"backbone.{k}": (f"model.hand_backbone.{k}", "identity") for k in _resnet50_keys()
    }
    h = f"model.head_{side}.hmr_layer."
    m["regressor.fc1.weight"] = (f"{h}refine.0.weight", "fc1_columns")
    m["regressor.fc1.bias"] = (f"{h}refine.0.bias", "identity")
    for ours, off in (
        ("fc2", "refine.3"),
        ("dec_pose", "decoders.pose_6d"),
        ("dec_betas", "decoders.shape"),
        ("dec_cam", "decoders.cam_t/wp"),
    ):
        for t in ("weight", "bias"):
            m[f"regressor.{ours}.{t}"] = (f"{h}{off}.{t}", "identity")
    return m


_TRANSFORMS = {"identity": lambda t: t, "fc1_columns": _fc1_official_to_ours}


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


def load_official_state_dict(
    sd: Mapping[str, object],
    config: ModelConfig | None = None,
    *,
    allow_partial: bool = False,
    side: str = "r",
) -> WildHandsNet:
    """Build a :class:`WildHandsNet` from an official WildHands state dict (see the module docstring).

    Args:
        sd: the official state dict (or the whole Lightning payload with ``"state_dict"``).
        config: architecture to build; default :func:`official_compatible_config`. Its regressor must be
            resnet50 / 1024 hidden / 10 betas (else ``ValueError`` listing the mismatched shapes).
        allow_partial: the official network has parts ours cannot hold (full-image backbone, fusion layout,
            camera-init MLP, left head, grasp MLP, 6D row convention). ``False`` (default): raise
            ``ValueError`` naming them. ``True``: load what maps (crop backbone + the ``side`` regressor)
            and leave the rest at its initialisation, logging what was skipped.
        side: which official head to import into our single (right-hand) regressor, ``'r'`` by default.

    Raises ``ValueError`` listing missing / mis-shaped / unexpected keys when ``sd`` is not in the official
    layout, and listing mapped keys whose shapes do not fit ``config``.
    """
    official = normalize_official_state_dict(sd)
    check_official_state_dict(official)
    if not allow_partial:
        groups = "; ".join(f"{k}* ({why})" for k, why in UNMAPPABLE_GROUPS.items())
        raise ValueError(
            "the official WildHands checkpoint cannot be imported exactly into WildHandsNet: these parts "
            f"have no counterpart: {groups}; and its 6D rotations use rows where ours use columns. Pass "
            "allow_partial=True to import the crop backbone and one regressor only (a fine-tuning start). "
            + CONFIG_CHANGES_FOR_FULL_IMPORT
        )
    config = official_compatible_config() if config is None else config
    model = WildHandsNet(config)
    ours = model.state_dict()
    key_map = official_key_map(side)
    new_sd: dict[str, torch.Tensor] = {}
    mismatched = []
    for our_key, (off_key, transform) in key_map.items():
        if our_key not in ours:
            mismatched.append(f"{our_key}: not in WildHandsNet({config.backbone})")
            continue
        value = _TRANSFORMS[transform](official[off_key])
        if tuple(value.shape) != tuple(ours[our_key].shape):
            mismatched.append(
                f"{our_key} <- {off_key} ({transform}): {tuple(value.shape)} "
                f"vs model {tuple(ours[our_key].shape)}"
            )
            continue
        new_sd[our_key] = value.to(ours[our_key].dtype)
    if mismatched:
        raise ValueError(
            f"official checkpoint does not fit config {config.to_dict()}: mismatched {mismatched}"
        )
    unmapped = sorted(k for k in ours if k not in new_sd)
    used = {off for off, _ in key_map.values()}
    skipped = sorted(k for k in official if k not in used)
    logger.warning(
        "partial import of the official WildHands checkpoint: %d tensors loaded; %d of our tensors keep "
        "their initialisation (%s ...); %d official tensors not imported (%s ...); rotations come out "
        "transposed (6D rows vs columns)",
        len(new_sd),
        len(unmapped),
        ", ".join(unmapped[:4]),
        len(skipped),
        ", ".join(skipped[:4]),
    )
    model.load_state_dict(new_sd, strict=False)
    return model


def import_official_checkpoint(
    path_in: str | os.PathLike, path_out: str | os.PathLike, *, allow_partial: bool = False, side: str = "r"
) -> Path:
    """Read an official ``.ckpt`` (Lightning: weights under ``"state_dict"``), map it with
    :func:`load_official_state_dict` and write our checkpoint format (:func:`save_checkpoint`).

    ``extra`` of the written file records the source path, the side and that the import was partial.
    """
    path_in = Path(path_in)
    if not path_in.is_file():
        raise FileNotFoundError(f"official checkpoint {path_in} does not exist")
    # weights_only=False: Lightning checkpoints pickle hyper-parameters (argparse namespaces); only load
    # files you trust.
    payload = torch.load(path_in, map_location="cpu", weights_only=False)
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path_in} does not hold a dict (got {type(payload).__name__})")
    model = load_official_state_dict(payload, allow_partial=allow_partial, side=side)
    return save_checkpoint(
        path_out,
        model,
        extra={"source": "official_wildhands", "source_path": str(path_in), "side": side, "partial": True},
    )
