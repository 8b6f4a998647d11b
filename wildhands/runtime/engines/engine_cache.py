"""Built engines cached on disk, keyed by what they were built for; stale or corrupt ones are rebuilt.

A TensorRT engine only runs on the GPU model and TensorRT version that built it, for the network (config +
weights) and precision it was built from. Each cached engine file is named by the digest of its
:class:`EngineKey` and has a JSON sidecar holding the key's fields and the sha256 of the engine bytes::

    <dir>/<stem>.<precision>.<digest>.engine
    <dir>/<stem>.<precision>.<digest>.json

:func:`load_or_build` reuses the file of the current key when its bytes match the sidecar and load; it
rebuilds, with one log line saying why, when

* there is no engine for the current key but one of the same ``stem`` and precision exists for another key
  (**stale**: another GPU, another TensorRT version, new weights under the same file name): the log names
  the fields that changed, and the stale files are removed once the new engine is written;
* the engine file is **corrupt** (sha256 differs from the sidecar: truncated or overwritten) or the loader
  refuses it (:class:`EngineLoadError`), or its sidecar is missing, unreadable or for another key.

Pure Python (no TensorRT import): the build and load steps are callables, so the logic is tested without a
GPU. Files are written atomically (temporary file + rename), the engine before its sidecar.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

#: Bumped whenever the way engines are built changes (ONNX graph, precision policy, builder settings): every
#: cached engine then counts as stale.
BUILD_RECIPE = 1

T = TypeVar("T")


class EngineLoadError(RuntimeError):
    """The loader could not turn the cached bytes into an engine (corrupt or foreign file)."""


@dataclass(frozen=True)
class EngineKey:
    """Everything a built engine depends on.

    network: :func:`network_fingerprint` (config + weights).
    gpu: GPU name and compute capability, e.g. ``'NVIDIA H100 80GB HBM3 (sm_90)'``.
    tensorrt: TensorRT version, e.g. ``'10.13.3.9'``.
    precision: ``'fp16'`` or ``'fp32'``.
    batch: (min, opt, max) batch of the optimisation profile (hands per engine call).
    recipe: :data:`BUILD_RECIPE`.
    """

    network: str
    gpu: str
    tensorrt: str
    precision: str
    batch: tuple[int, int, int] = (1, 2, 4)
    recipe: int = BUILD_RECIPE

    def __post_init__(self) -> None:
        for name in ("network", "gpu", "tensorrt", "precision"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"EngineKey.{name}={value!r} must be a non-empty string")
        b = tuple(self.batch)
        if len(b) != 3 or not all(isinstance(v, int) for v in b) or not 1 <= b[0] <= b[1] <= b[2]:
            raise ValueError(
                f"EngineKey.batch={self.batch!r} must be (min, opt, max) with 1 <= min <= opt <= max"
            )
        object.__setattr__(self, "batch", b)

    def fields(self) -> dict:
        """The key as a JSON-ready dict (what the sidecar stores)."""
        d = asdict(self)
        d["batch"] = list(self.batch)
        return d

    @property
    def digest(self) -> str:
        """sha256 of the key's fields (16 hex digits): the engine file's name."""
        return hashlib.sha256(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()[:16]

    def differences(self, other: dict) -> list[str]:
        """``field 'old' -> 'new'`` for each field of ``other`` (a sidecar's key) that differs."""
        mine = self.fields()
        out = []
        for name in mine:
            if other.get(name) != mine[name]:
                out.append(f"{name} {other.get(name)!r} -> {mine[name]!r}")
        return out


@dataclass
class CachedEngine(Generic[T]):
    """What :func:`load_or_build` returns: the loaded engine, its file, and whether it was (re)built."""

    engine: T
    path: Path
    built: bool
    reason: str  # why it was built ('' when reused)


def engine_path(directory: str | os.PathLike, stem: str, key: EngineKey) -> Path:
    """The engine file of ``key``: ``<directory>/<stem>.<precision>.<digest>.engine``."""
    return Path(directory) / f"{stem}.{key.precision}.{key.digest}.engine"


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar of an engine file."""
    return path.with_suffix(".json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_sidecar(path: Path) -> dict | None:
    try:
        data = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("key"), dict) else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _stale_siblings(directory: Path, stem: str, key: EngineKey, current: Path) -> list[tuple[Path, dict]]:
    """Engines of the same stem and precision built for another key: (engine path, sidecar key)."""
    out = []
    for side in sorted(directory.glob(f"{glob.escape(stem)}.{key.precision}.*.json")):
        eng = side.with_suffix(".engine")
        if eng == current:
            continue
        meta = _read_sidecar(eng)
        out.append((eng, meta["key"] if meta else {}))
    return out


def _check_cached(path: Path, key: EngineKey) -> tuple[bytes | None, str]:
    """The cached bytes of ``key`` if the file and its sidecar are sound, else (None, why not)."""
    if not path.is_file():
        return None, "no cached engine"
    meta = _read_sidecar(path)
    if meta is None:
        return None, f"{path.name} has no readable sidecar {sidecar_path(path).name}"
    if meta["key"] != key.fields():
        diff = "; ".join(key.differences(meta["key"]))
        return None, f"the sidecar of {path.name} is for another key ({diff})"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read {path}: {exc}"
    if _sha256(data) != meta.get("sha256"):
        return None, (
            f"{path.name} is corrupt: {len(data)} bytes whose sha256 differs from its sidecar's "
            f"({meta.get('size')} bytes when written; truncated or overwritten)"
        )
    return data, ""


def load_or_build(
    key: EngineKey,
    directory: str | os.PathLike,
    stem: str,
    build: Callable[[], bytes],
    load: Callable[[bytes], T],
) -> CachedEngine[T]:
    """The engine for ``key`` from ``directory`` (reused when sound) or from ``build()`` (then cached).

    Args:
        key: what the engine must have been built for.
        directory: where engines are cached (created if needed).
        stem: file-name prefix shared by every engine of one weights file (e.g. its stem): an engine of
            the same stem and precision with another key is stale and replaced.
        build: makes the serialized engine (minutes for TensorRT).
        load: turns serialized bytes into a usable engine; raises :class:`EngineLoadError` for bytes it
            cannot use (a corrupt file), which triggers a rebuild.

    Raises whatever ``build`` raises, and :class:`EngineLoadError` when a freshly built engine does not load.
    A cache directory that cannot be written only costs a warning (the engine is then rebuilt next time).
    """
    if not isinstance(stem, str) or not stem or "/" in stem:
        raise ValueError(f"stem={stem!r} must be a non-empty file-name prefix")
    directory = Path(directory)
    path = engine_path(directory, stem, key)
    data, reason = _check_cached(path, key)
    if data is not None:
        try:
            engine = load(data)
        except EngineLoadError as exc:
            reason = f"{path.name} could not be loaded ({exc}): treated as corrupt"
        else:
            logger.info("TensorRT engine %s reused (key %s)", path, key.digest)
            return CachedEngine(engine, path, built=False, reason="")
    stale = _stale_siblings(directory, stem, key, path) if directory.is_dir() else []
    if reason == "no cached engine" and stale:
        reason = "; ".join(
            f"{eng.name} is stale ({', '.join(key.differences(old)) or 'unreadable sidecar'})"
            for eng, old in stale
        )
    logger.warning(
        "building the %s TensorRT engine for %s: %s (this takes minutes; the result is cached in %s)",
        key.precision,
        key.gpu,
        reason,
        path,
    )
    t0 = time.monotonic()
    data = build()
    build_s = time.monotonic() - t0
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise EngineLoadError(f"the engine build returned {type(data).__name__} of length {len(data or b'')}")
    data = bytes(data)
    engine = load(data)  # EngineLoadError here is a real failure: the bytes are fresh
    meta = {
        "key": key.fields(),
        "digest": key.digest,
        "sha256": _sha256(data),
        "size": len(data),
        "build_s": round(build_s, 3),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reason": reason,
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        _write_atomic(sidecar_path(path), (json.dumps(meta, indent=2) + "\n").encode())
    except OSError as exc:
        logger.warning("cannot cache the TensorRT engine in %s (%s): it will be rebuilt next time", path, exc)
        return CachedEngine(engine, path, built=True, reason=reason)
    for eng, _ in stale:
        for f in (eng, sidecar_path(eng)):
            try:
                f.unlink(missing_ok=True)
            except OSError as exc:  # pragma: no cover - permissions
                logger.warning("cannot remove the stale engine file %s: %s", f, exc)
    logger.info("TensorRT engine built in %.1f s and cached as %s", build_s, path)
    return CachedEngine(engine, path, built=True, reason=reason)


def network_fingerprint(model) -> str:
    """sha256 (16 hex digits) of a network's config and weights: the cache key of its exports."""
    h = hashlib.sha256(repr(model.config.to_dict()).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
