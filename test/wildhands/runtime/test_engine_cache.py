"""TensorRT engine cache (issue #9 'stale engine'): reuse, stale and corrupt engines rebuilt, with reasons.

The cache logic is pure Python: the build step is an injected callable that returns bytes, the load step
one that refuses bytes it did not make (as TensorRT refuses a corrupt plan), and the GPU name and TensorRT
version are injected through the key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import pytest

from wildhands.runtime.engines.engine_cache import (
    BUILD_RECIPE,
    EngineKey,
    EngineLoadError,
    engine_path,
    load_or_build,
    sidecar_path,
)

KEY = EngineKey(
    network="0123456789abcdef", gpu="NVIDIA H100 80GB HBM3 (sm_90)", tensorrt="10.13.3.9", precision="fp16"
)


class FakeBuilder:
    """Builds 'engines' that name their key, and loads only such bytes (EngineLoadError otherwise)."""

    def __init__(self, key: EngineKey) -> None:
        self.key = key
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return f"ENGINE {self.key.digest} build {self.builds}".encode() * 100

    @staticmethod
    def load(data: bytes) -> str:
        if not data.startswith(b"ENGINE "):
            raise EngineLoadError("not an engine")
        return data.decode()[:40]


def _get(tmp_path, key: EngineKey = KEY, builder: FakeBuilder | None = None, stem: str = "model"):
    builder = builder or FakeBuilder(key)
    return load_or_build(key, tmp_path, stem, builder.build, builder.load), builder


def test_key_digest_depends_on_every_field():
    digests = {KEY.digest}
    for change in (
        {"network": "fedcba9876543210"},
        {"gpu": "Orin (sm_87)"},
        {"tensorrt": "11.4.0.106"},
        {"precision": "fp32"},
        {"batch": (1, 2, 8)},
        {"recipe": BUILD_RECIPE + 1},
    ):
        digests.add(EngineKey(**{**KEY.fields(), "batch": KEY.batch, **change}).digest)
    assert len(digests) == 7
    assert EngineKey(**{**KEY.fields(), "batch": [1, 2, 4]}).digest == KEY.digest  # JSON round trip
    assert KEY.differences({**KEY.fields(), "gpu": "Orin (sm_87)"}) == [
        "gpu 'Orin (sm_87)' -> 'NVIDIA H100 80GB HBM3 (sm_90)'"
    ]


@pytest.mark.parametrize(
    "field, value", [("gpu", ""), ("tensorrt", None), ("batch", (2, 1, 4)), ("batch", (0, 1, 4))]
)
def test_bad_keys_are_refused(field, value):
    with pytest.raises(ValueError, match=f"EngineKey.{field}="):
        EngineKey(**{**KEY.fields(), field: value})


def test_first_call_builds_and_caches_with_a_sidecar(tmp_path):
    got, builder = _get(tmp_path)
    assert got.built and builder.builds == 1 and got.reason == "no cached engine"
    assert got.path == engine_path(tmp_path, "model", KEY) == tmp_path / f"model.fp16.{KEY.digest}.engine"
    meta = json.loads(sidecar_path(got.path).read_text())
    assert meta["key"] == KEY.fields() and meta["digest"] == KEY.digest
    assert meta["size"] == got.path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([got.path.name, sidecar_path(got.path).name])


def test_same_key_reuses_the_engine(tmp_path):
    first, builder = _get(tmp_path)
    again = load_or_build(KEY, tmp_path, "model", builder.build, builder.load)
    assert builder.builds == 1
    assert not again.built and again.reason == "" and again.engine == first.engine


@pytest.mark.parametrize(
    "change, text",
    [
        (
            {"gpu": "NVIDIA Jetson AGX Orin (sm_87)"},
            "gpu 'NVIDIA H100 80GB HBM3 (sm_90)' -> 'NVIDIA Jetson AGX Orin",
        ),
        ({"tensorrt": "11.4.0.106"}, "tensorrt '10.13.3.9' -> '11.4.0.106'"),
        ({"network": "fedcba9876543210"}, "network '0123456789abcdef' -> 'fedcba9876543210'"),
    ],
)
def test_stale_engine_is_rebuilt_with_the_reason_logged(tmp_path, caplog, change, text):
    old, _ = _get(tmp_path)
    new_key = EngineKey(**{**KEY.fields(), **change})
    with caplog.at_level(logging.WARNING, logger="wildhands.runtime.engines.engine_cache"):
        got, builder = _get(tmp_path, new_key)
    assert builder.builds == 1 and got.built
    assert "stale" in got.reason and text in got.reason
    assert any("stale" in r.getMessage() and text in r.getMessage() for r in caplog.records)
    # the stale engine and its sidecar are gone; the new one is cached and reused next time
    assert not old.path.exists() and not sidecar_path(old.path).exists()
    assert got.path.exists() and got.engine.startswith(f"ENGINE {new_key.digest}")
    again = load_or_build(new_key, tmp_path, "model", builder.build, builder.load)
    assert not again.built and builder.builds == 1


def test_other_precisions_and_stems_are_not_stale(tmp_path):
    fp16, _ = _get(tmp_path)
    fp32, _ = _get(tmp_path, EngineKey(**{**KEY.fields(), "precision": "fp32"}))
    other, _ = _get(tmp_path, EngineKey(**{**KEY.fields(), "network": "1111111111111111"}), stem="other")
    assert fp16.path.exists() and fp32.path.exists() and other.path.exists()
    assert fp32.reason == other.reason == "no cached engine"


def test_truncated_engine_is_rebuilt(tmp_path, caplog):
    first, builder = _get(tmp_path)
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="wildhands.runtime.engines.engine_cache"):
        got = load_or_build(KEY, tmp_path, "model", builder.build, builder.load)
    assert got.built and builder.builds == 2 and "corrupt" in got.reason
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert FakeBuilder.load(got.path.read_bytes()) == got.engine  # the file is whole again
    assert json.loads(sidecar_path(got.path).read_text())["size"] == got.path.stat().st_size


def test_engine_the_loader_refuses_is_rebuilt(tmp_path):
    """Bytes that match the sidecar but that the runtime cannot deserialize (e.g. a foreign plan)."""
    first, builder = _get(tmp_path)
    bad = b"garbage that TensorRT would refuse"
    first.path.write_bytes(bad)
    meta = json.loads(sidecar_path(first.path).read_text())
    meta.update(sha256=hashlib.sha256(bad).hexdigest(), size=len(bad))
    sidecar_path(first.path).write_text(json.dumps(meta))
    got = load_or_build(KEY, tmp_path, "model", builder.build, builder.load)
    assert got.built and builder.builds == 2 and "could not be loaded" in got.reason
    assert got.engine.startswith("ENGINE ")


@pytest.mark.parametrize("damage", ["delete", "garbage", "other_key"])
def test_missing_or_wrong_sidecar_means_rebuild(tmp_path, damage):
    first, builder = _get(tmp_path)
    side = sidecar_path(first.path)
    if damage == "delete":
        side.unlink()
    elif damage == "garbage":
        side.write_text("{not json")
    else:  # an engine file renamed from another key
        meta = json.loads(side.read_text())
        meta["key"]["gpu"] = "Tesla T4 (sm_75)"
        side.write_text(json.dumps(meta))
    got = load_or_build(KEY, tmp_path, "model", builder.build, builder.load)
    assert got.built and builder.builds == 2
    assert ("sidecar" in got.reason) and (damage != "other_key" or "Tesla T4" in got.reason)
    assert json.loads(side.read_text())["key"] == KEY.fields()


def test_fresh_engine_that_does_not_load_is_an_error(tmp_path):
    with pytest.raises(EngineLoadError, match="not an engine"):
        load_or_build(KEY, tmp_path, "model", lambda: b"broken build", FakeBuilder.load)
    with pytest.raises(EngineLoadError, match="build returned"):
        load_or_build(KEY, tmp_path, "model", lambda: b"", FakeBuilder.load)
    assert not any(tmp_path.iterdir())  # nothing half-written is left behind


def test_unwritable_cache_still_gives_an_engine(tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    builder = FakeBuilder(KEY)
    with caplog.at_level(logging.WARNING, logger="wildhands.runtime.engines.engine_cache"):
        got = load_or_build(KEY, blocker / "engines", "model", builder.build, builder.load)
    assert got.built and got.engine.startswith("ENGINE ")
    assert any("cannot cache" in r.getMessage() for r in caplog.records)


def test_bad_stem_is_refused(tmp_path):
    builder = FakeBuilder(KEY)
    for stem in ("", "a/b"):
        with pytest.raises(ValueError, match="stem="):
            load_or_build(KEY, tmp_path, stem, builder.build, builder.load)


def test_engine_location_is_beside_the_weights_or_in_the_cache(tmp_path, monkeypatch):
    from wildhands.runtime.engines.tensorrt_engine import engine_location

    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "weights" / "hands_v2.pt"
    weights.parent.mkdir()
    assert engine_location(weights, "abc") == (weights.parent, "hands_v2")
    assert engine_location(None, "abc") == (tmp_path / "cache" / "tensorrt", "wildhands-abc")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only weights folder
    assert engine_location(weights, "abc") == (tmp_path / "cache" / "tensorrt", "hands_v2")
