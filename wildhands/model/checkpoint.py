"""Save / load :class:`WildHandsNet` checkpoints (state_dict + architecture config + format version).

File layout (a ``torch.save`` zip of plain types only, readable with ``torch.load(weights_only=True)``)::

    {"format": "wildhands.model", "format_version": 1, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor}, "extra": {...} (plain types: str/int/float/bool/list/dict/tensor)}
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from wildhands.model._state_dict import load_state_dict_checked
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "wildhands.model"
CHECKPOINT_FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"  # a zip's first local file header: how every torch.save file starts


def save_checkpoint(
    path: str | os.PathLike,
    model: WildHandsNet,
    extra: dict[str, Any] | None = None,
    precision: str = "float32",
) -> Path:
    """Write ``model``'s weights and config to ``path`` (parent directories created). Returns the path.

    ``extra`` (epoch, metrics, ...) must hold plain types so that the file loads with ``weights_only=True``.
    ``precision='float16'`` stores floating tensors as float16 (half the size; the shipped weights);
    :func:`load_model` casts them back to the model's float32.
    """
    if precision not in ("float32", "float16"):
        raise ValueError(f"precision={precision!r} not in {{'float32', 'float16'}}")
    dtype = torch.float16 if precision == "float16" else torch.float32
    if not isinstance(model, WildHandsNet):
        raise ValueError(f"model type={type(model).__name__} must be WildHandsNet")
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"extra type={type(extra).__name__} must be a dict or None")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {
            k: (v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()
        },
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written checkpoint under ``path``
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check the raw payload (no model built). ``ValueError`` naming ``path`` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    damaged = f"checkpoint {path} is corrupt or truncated, or not a torch file"
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_ZIP_MAGIC))
    except OSError as e:
        raise ValueError(f"{damaged}: {e}") from e
    if magic != _ZIP_MAGIC:  # torch.save writes a zip; torch.load of other bytes fails in arbitrary ways
        raise ValueError(f"{damaged}: it does not start like a zip file (starts with {magic!r})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged zip / pickle raises anything (KeyError, IndexError, struct.error, ...)
        raise ValueError(f"{damaged}: {type(e).__name__}: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} is not a {CHECKPOINT_FORMAT} file")
    version = payload.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} format_version={version!r}; this code reads {CHECKPOINT_FORMAT_VERSION}"
        )
    for key, typ in (("config", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), typ):
            raise ValueError(f"checkpoint {path} has no valid {key!r} entry")
    return payload


def load_model(
    path: str | os.PathLike, config: ModelConfig | None = None, map_location: str | torch.device = "cpu"
) -> WildHandsNet:
    """Build a :class:`WildHandsNet` from ``path`` and load its weights strictly. Returned in eval mode.

    Args:
        path: file written by :func:`save_checkpoint`.
        config: architecture to build; ``None`` uses the config stored in the file. When given, the weights
            must fit it exactly.
        map_location: device of the returned model.

    Raises ``ValueError`` naming ``path`` for a missing/corrupt/truncated file or an invalid stored config,
    and listing missing / unexpected / shape-mismatched keys when the weights do not fit the architecture.
    """
    payload = read_checkpoint(path)
    if config is None:
        try:
            config = ModelConfig.from_dict(payload["config"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"checkpoint {path} has an invalid config: {e}") from e
    elif config.to_dict() != payload["config"]:
        logger.warning(
            "checkpoint %s was saved with config %s, loading into %s",
            path,
            payload["config"],
            config.to_dict(),
        )
    model = WildHandsNet(config)
    load_state_dict_checked(model, payload["state_dict"], f"checkpoint {path}")
    return model.to(map_location).eval()


def average_checkpoints(
    paths: list[str | os.PathLike], weights: list[float] | None = None
) -> tuple[WildHandsNet, dict[str, Any]]:
    """Average the weights of several checkpoints of one architecture (a "model soup").

    Runs fine-tuned from the same init with different training seeds (data order, augmentation) land near
    each other in weight space; their average is one network, no slower than each, that depends less on the
    seed (docs/weights.md). Floating tensors are averaged in float32 with ``weights`` (default: uniform;
    normalised to sum to 1); integer buffers (BatchNorm's ``num_batches_tracked``) are taken from the first
    file.

    Returns the model (eval mode, float32) and an ``extra`` dict for :func:`save_checkpoint` naming the
    sources. ``ValueError`` when a file is unreadable, when the files' configs or keys differ, or for
    invalid weights.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    if weights is None:
        weights = [1.0] * len(paths)
    weights = [float(w) for w in weights]
    if len(weights) != len(paths):
        raise ValueError(f"{len(weights)} weights for {len(paths)} checkpoints")
    if not all(math.isfinite(w) and w >= 0.0 for w in weights) or sum(weights) <= 0.0:
        raise ValueError(f"weights={weights} must be finite, >= 0, with a positive sum")
    total = sum(weights)
    weights = [w / total for w in weights]

    payloads = [read_checkpoint(p) for p in paths]
    first = payloads[0]
    for path, payload in zip(paths[1:], payloads[1:], strict=True):
        if payload["config"] != first["config"]:
            raise ValueError(
                f"checkpoint {path} has config {payload['config']}, {paths[0]} has {first['config']}: "
                "only checkpoints of one architecture can be averaged"
            )
        if set(payload["state_dict"]) != set(first["state_dict"]):
            raise ValueError(f"checkpoint {path} holds other tensors than {paths[0]}")
    averaged: dict[str, torch.Tensor] = {}
    for key, value in first["state_dict"].items():
        if value.is_floating_point():
            tensors = [p["state_dict"][key].float() for p in payloads]
            averaged[key] = sum(w * t for w, t in zip(weights, tensors, strict=True))
        else:
            averaged[key] = value
    try:
        config = ModelConfig.from_dict(first["config"])
    except (ValueError, TypeError) as e:
        raise ValueError(f"checkpoint {paths[0]} has an invalid config: {e}") from e
    model = WildHandsNet(config)
    load_state_dict_checked(model, averaged, f"the average of {', '.join(str(p) for p in paths)}")
    extra = {
        "averaged_from": [str(p) for p in paths],
        "average_weights": weights,
        "steps": [p.get("extra", {}).get("step") for p in payloads],
    }
    return model.eval(), extra
