"""The shipped weights: where they live, their manifest, and the integrity check done before loading.

``models/manifest.json`` lists every shipped weights file with its sha256, size, architecture
(``ModelConfig.to_dict()``), hand model, training recipe (config, data seeds, steps) and evaluation table, and
names the ``default``. Files are :mod:`wildhands.model.checkpoint` files with float16 tensors (``precision``
in the manifest); :func:`~wildhands.model.checkpoint.load_model` casts them back to float32.

Weights are named in configs, the CLI and the node parameter ``weights`` by:

* ``"default"``: the manifest's default entry,
* a manifest entry name (``"wildhands_resnet18_128"``),
* a path to any checkpoint file (trained by ``wildhands train``: ``runs/<name>/model.pt``),
* ``""`` / ``"untrained"`` / ``None``: no weights (a randomly initialised network, for tests only).

Shipped files are checked before use: missing -> an error naming the path and how to get or train weights;
hash mismatch (corrupt or modified file) or architecture mismatch with the manifest -> refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_NAME",
    "SHIPPED_BACKBONE",
    "UNTRAINED",
    "WeightsError",
    "file_sha256",
    "load_manifest",
    "resolve_lifting_weights",
    "models_dir",
    "resolve_weights",
    "verify_entry",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "wildhands.models"
#: Backbone of the shipped default weights (``models/manifest.json``'s default entry): the default of every
#: "backbone of an untrained network" choice (``wildhands --backbone``, the node parameter ``backbone``,
#: ``SequenceDemoOptions.backbone``), so that ``weights=untrained`` builds the architecture that ships.
#: ``ModelConfig.backbone`` keeps the paper's resnet50 on purpose: training configs and checkpoints that
#: omit the key rely on it. A test checks this constant against the manifest and the checkpoint.
SHIPPED_BACKBONE = "resnet18"
#: Spellings of "no weights" (an untrained network).
UNTRAINED = ("", "untrained", "none")
#: How to get the shipped weights back or make new ones; appended to every "missing" error.
HOW_TO_GET = (
    "restore the shipped file (`git checkout -- models/`), or train weights with "
    "`wildhands train --config config/train/default_resnet18_128.yaml` and package them with "
    "`python scripts/package_weights.py runs/default_resnet18_128/model.pt`, or pass a checkpoint path"
)


class WeightsError(ValueError):
    """Weights that cannot be used: missing, corrupt, modified, or not the architecture the manifest says."""


def models_dir() -> Path:
    """The folder with ``manifest.json``: ``$WILDHANDS_MODELS``, else the source tree's ``models/``, else
    ``share/wildhands_ros/models`` of an installed prefix (colcon / ament: ``$AMENT_PREFIX_PATH``, then the
    running Python's prefix). The first that holds a manifest wins; the source tree's folder otherwise."""
    env = os.environ.get("WILDHANDS_MODELS")
    if env:
        return Path(env)
    source = Path(__file__).resolve().parents[2] / "models"
    candidates = [source]
    for prefix in [*os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep), sys.prefix]:
        if prefix:
            candidates.append(Path(prefix) / "share" / "wildhands_ros" / "models")
    for folder in candidates:
        if (folder / MANIFEST_NAME).is_file():
            return folder
    return source


def load_manifest(folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed manifest of ``folder`` (default :func:`models_dir`); ``WeightsError`` if absent/invalid."""
    folder = Path(folder) if folder is not None else models_dir()
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise WeightsError(f"no weights manifest at {path}: {HOW_TO_GET}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"weights manifest {path} is not valid JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise WeightsError(f"{path} is not a {MANIFEST_FORMAT} manifest")
    if not isinstance(manifest.get("weights"), dict) or manifest.get("default") not in manifest["weights"]:
        raise WeightsError(f"weights manifest {path} has no `weights` table with its `default` entry")
    return manifest


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_entry(folder: Path, name: str, entry: dict[str, Any]) -> Path:
    """Check one manifest entry's file (present, sha256, stored architecture); return its path."""
    try:
        path = folder / entry["file"]
        expected_sha, expected_config = entry["sha256"], entry["model_config"]
    except (KeyError, TypeError) as e:
        raise WeightsError(f"weights manifest entry {name!r} lacks {e}") from e
    if not path.is_file():
        raise WeightsError(f"weights {name!r}: file {path} is missing: {HOW_TO_GET}")
    actual = file_sha256(path)
    if actual != expected_sha:
        raise WeightsError(
            f"weights {name!r}: {path} has sha256 {actual[:16]}..., "
            f"the manifest says {expected_sha[:16]}...: "
            f"the file is corrupt or was modified; {HOW_TO_GET}"
        )
    from wildhands.model.checkpoint import read_checkpoint

    stored = read_checkpoint(path)["config"]
    if stored != expected_config:
        diff = sorted(
            k for k in set(stored) | set(expected_config) if stored.get(k) != expected_config.get(k)
        )
        raise WeightsError(
            f"weights {name!r}: {path} holds another architecture than the manifest says (differs in {diff})"
        )
    return path


def resolve_weights(spec: str | os.PathLike | None, folder: str | os.PathLike | None = None) -> Path | None:
    """Turn a weights name or path into a checked file path; ``None`` for an untrained network.

    ``spec``: ``"default"``, a manifest entry name, a checkpoint path, or ``None``/``""``/``"untrained"``.
    Manifest entries are verified (:func:`verify_entry`); plain paths must exist (the checkpoint loader
    checks their content). Raises :class:`WeightsError` with the path and what to do.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in UNTRAINED):
        return None
    text = os.fspath(spec)
    looks_like_path = (
        isinstance(spec, os.PathLike) or os.sep in text or text.endswith((".pt", ".pth", ".ckpt"))
    )
    if not looks_like_path:
        root = Path(folder) if folder is not None else models_dir()
        manifest = load_manifest(root)
        name = manifest["default"] if text == "default" else text
        if name not in manifest["weights"]:
            raise WeightsError(
                f"weights {text!r} is neither a file nor a name in {root / MANIFEST_NAME} "
                f"(names: {sorted(manifest['weights'])})"
            )
        return verify_entry(root, name, manifest["weights"][name])
    path = Path(text).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist: {HOW_TO_GET}")
    return path


def resolve_lifting_weights(
    spec: str | os.PathLike | None, folder: str | os.PathLike | None = None
) -> Path | None:
    """The landmark-lifting model's weights: ``"default"`` = the manifest's ``lifting`` entry (sha256
    checked), a file path, or ``None``/``""``/``"none"`` for no lifting head (the landmark path then starts
    its fit from PnP of the world landmarks). :class:`WeightsError` naming the problem."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return None
    text = os.fspath(spec)
    if text != "default":
        path = Path(text).expanduser()
        if not path.is_file():
            raise WeightsError(f"lifting weights file {path} does not exist")
        return path
    root = Path(folder) if folder is not None else models_dir()
    entry = load_manifest(root).get("lifting")
    if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
        raise WeightsError(f"{root / MANIFEST_NAME} has no `lifting` entry (file, sha256): {HOW_TO_GET}")
    path = root / entry["file"]
    if not path.is_file():
        raise WeightsError(f"lifting weights {path} are missing: {HOW_TO_GET}")
    actual = file_sha256(path)
    if actual != entry["sha256"]:
        raise WeightsError(
            f"lifting weights {path} have sha256 {actual[:16]}..., the manifest says "
            f"{entry['sha256'][:16]}...: corrupt or modified; {HOW_TO_GET}"
        )
    return path
