"""Named, versioned, held-out synthetic test sets (deterministic by seed) for the benchmarks.

A test set is a :class:`~wildhands.data.synthetic.SyntheticConfig` (overrides of the defaults), a seed and
a version. Frame ``i`` of a set is ``generate_frame(config, seed, i)``: the same on every machine and run,
and disjoint from training, whose synthetic seeds are others (``seed: 1`` in ``config/train/*.yaml``; the
trainer's own evaluation hands use ``eval_seed`` 12345); a test checks both.

* ``wide_fov``: the default egocentric cameras (640x480 .. 1280x720, fx 200-1500 px log-uniform: horizontal
  fields of view of about 25 deg to 145 deg; fisheye fx 200-500 px) with the three lens models equally
  often (none / plumb_bob / equidistant fisheye); wrists drawn uniformly over the whole image, edges and
  corners included; 3 frames in 4 with two hands (for MRRPE).
* ``fisheye``: the same with equidistant (Kannala-Brandt) lenses only.
* ``plumb_bob``: the same with radial-tangential lenses only.
* ``pinhole``: the same without lens distortion (a control: distortion-aware and pinhole KPE coincide).

Hands whose visible share of the silhouette is below ``min_visible_fraction`` (e.g. outside a fisheye's
image circle, or behind occluders) are left out, as in training (``min_visible_fraction: 0.25`` of the
default run); a frame keeps its other hand.

``testset_records(name, frames)`` gives the records; with ``cache=True`` the set is first written once with
the synthetic writer to ``$WILDHANDS_CACHE/testsets/<name>-<frames>-<version>/`` (default
``~/.cache/wildhands``), so repeated evaluations read JPEGs instead of rendering again (cached and rendered
records are identical: the generator's image is its decoded JPEG).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildhands.data.record import HandRecord

logger = logging.getLogger(__name__)

__all__ = [
    "TestSet",
    "TESTSETS",
    "get_testset",
    "testset_dir",
    "write_testset",
    "testset_records",
    "lens_subsets",
]

_LENS_MIX = {
    "wide_fov": (1.0, 1.0, 1.0),
    "fisheye": (0.0, 0.0, 1.0),
    "plumb_bob": (0.0, 1.0, 0.0),
    "pinhole": (1.0, 0.0, 0.0),
}


@dataclass(frozen=True)
class TestSet:
    """A held-out synthetic test set.

    name: the set's name (also the ``dataset`` of its records, so metrics are reported under it).
    version: bumped whenever the definition changes (it names the cache folder).
    seed: the generator seed (never a training seed).
    synthetic: overrides of ``SyntheticConfig`` defaults (``SyntheticConfig.from_dict`` keys).
    min_visible_fraction: hands less visible than this are left out.
    description: one line for reports.
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    version: str
    seed: int
    synthetic: dict[str, Any] = field(default_factory=dict)
    min_visible_fraction: float = 0.25
    description: str = ""

    def config(self):
        """The set's :class:`~wildhands.data.synthetic.SyntheticConfig`."""
        from wildhands.data.synthetic import SyntheticConfig

        return SyntheticConfig.from_dict(self.synthetic)

    def info(self, frames: int) -> dict[str, Any]:
        """What a result file records about the set (enough to regenerate it)."""
        from wildhands.data.synthetic import GENERATOR_VERSION

        return {
            "name": self.name,
            "version": self.version,
            "seed": self.seed,
            "frames": int(frames),
            "min_visible_fraction": self.min_visible_fraction,
            "generator_version": GENERATOR_VERSION,
            "synthetic_overrides": self.synthetic,
            "description": self.description,
        }


def _make(name: str, seed: int, description: str) -> TestSet:
    return TestSet(
        name=name,
        version="v1",
        seed=seed,
        synthetic={"distortion_mix": list(_LENS_MIX[name]), "two_hands_prob": 0.75},
        description=description,
    )


#: issue 22's scene look (docs/render-realism.md): ``SyntheticConfig`` keys
SKIN_LOOK: dict[str, Any] = {
    "hand_look": "skin",
    "backgrounds": "photo_mix",
    "occluders": "objects",
    "max_arm_occlusion": 0.05,
}

#: The test sets, by name. Seeds 60601.. are used by nothing else (training: 1, trainer eval: 12345).
TESTSETS: dict[str, TestSet] = {
    t.name: t
    for t in (
        _make(
            "wide_fov",
            60601,
            "fx 200-1500 px (fisheye 200-500), 640x480-1280x720, none/plumb_bob/equidistant 1:1:1, "
            "hands all over the image",
        ),
        _make("fisheye", 60602, "equidistant (Kannala-Brandt) fisheye lenses only, fx 200-500 px"),
        _make("plumb_bob", 60603, "plumb_bob (radial-tangential) lenses only, fx 200-1500 px"),
        _make("pinhole", 60604, "no lens distortion, fx 200-1500 px"),
        TestSet(
            name="wide_fov_skin",
            # v2: dual-quaternion skinning of the render skin, and no hand hidden behind its own forearm
            # (max_arm_occlusion); v1 (LBS, arms in the line of sight) is what the skin weights were first
            # measured on
            version="v2",
            seed=60605,
            synthetic={
                "distortion_mix": list(_LENS_MIX["wide_fov"]),
                "two_hands_prob": 0.75,
                **SKIN_LOOK,
            },
            description="wide_fov's cameras and lenses in issue 22's look: the render skin (forearm, "
            "sleeve, no hand hidden behind its own arm), photographic backgrounds, held objects",
        ),
    )
}


def get_testset(name: str) -> TestSet:
    """The test set called ``name``; ValueError naming the known ones otherwise."""
    try:
        return TESTSETS[name]
    except KeyError:
        raise ValueError(f"unknown test set {name!r}; known: {sorted(TESTSETS)}") from None


def _check_frames(frames: int) -> int:
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an int >= 1, got {frames!r}")
    return frames


def testset_dir(name: str, frames: int, root: str | Path | None = None) -> Path:
    """``<root>/<name>-<frames>-<version>``; root defaults to ``$WILDHANDS_CACHE/testsets``."""
    from wildhands.cache import cache_dir

    ts = get_testset(name)
    base = Path(root) if root is not None else cache_dir() / "testsets"
    return base / f"{ts.name}-{_check_frames(frames)}-{ts.version}"


def write_testset(
    name: str, frames: int, root: str | Path | None = None, workers: int = 1, progress: bool = True
) -> Path:
    """Render the set into its cache folder (resumable; frames already there are kept). Returns the folder.

    A folder holding another seed, config or generator version is refused (ValueError): delete it.
    """
    from wildhands.data.synthetic import GENERATOR_VERSION, write_dataset

    ts = get_testset(name)
    out = testset_dir(name, frames, root)
    config = ts.config()
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        same = (
            meta.get("seed") == ts.seed
            and meta.get("config") == config.to_dict()
            and meta.get("generator_version") == GENERATOR_VERSION
        )
        if not same:
            raise ValueError(
                f"{out} holds another version of test set {name!r} (seed, config or generator changed); "
                "delete the folder to regenerate it"
            )
        if meta.get("count", 0) >= frames:
            return out
    logger.info("writing test set %s (%d frames, seed %d) to %s", name, frames, ts.seed, out)
    return write_dataset(out, config, n=frames, seed=ts.seed, workers=workers, progress=progress)


def _keep(ts: TestSet, records: Iterable[HandRecord]) -> list[HandRecord]:
    return [
        dataclasses.replace(r, dataset=ts.name)
        for r in records
        if float(r.extra.get("visible_fraction", 1.0)) >= ts.min_visible_fraction
    ]


def _rendered(ts: TestSet, frames: int) -> Iterator[HandRecord]:
    from wildhands.data.synthetic import SyntheticHandStream

    stream = SyntheticHandStream(ts.config(), seed=ts.seed, length=frames, mode="frame")
    for i in range(frames):
        yield from _keep(ts, stream[i])


def _cached(ts: TestSet, folder: Path, frames: int) -> Iterator[HandRecord]:
    from wildhands.data.synthetic import SyntheticDataset

    dataset = SyntheticDataset(folder, load_masks=False)
    for f in range(min(frames, len(dataset.frames))):
        yield from _keep(ts, dataset.frame_records(f))


def testset_records(
    name: str,
    frames: int,
    cache: bool = True,
    root: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Iterator[HandRecord]:
    """The hands of the first ``frames`` frames of test set ``name``, frame by frame (``dataset`` = name).

    cache: write the set once to :func:`testset_dir` and read it from there (images are loaded lazily);
        ``False`` renders each frame when it is reached (nothing on disk, nothing kept in memory).
    root / workers / progress: cache folder root, generator processes, progress bar while writing.
    """
    ts = get_testset(name)
    _check_frames(frames)
    if not cache:
        return _rendered(ts, frames)
    folder = write_testset(name, frames, root=root, workers=workers, progress=progress)
    return _cached(ts, folder, frames)


def lens_subsets(record: HandRecord) -> list[str]:
    """``evaluate(subsets=...)`` helper: ``"<dataset>/<lens model>"`` of a frame (none, plumb_bob, ...)."""
    return [f"{record.dataset}/{record.camera.distortion_model.value}"]
