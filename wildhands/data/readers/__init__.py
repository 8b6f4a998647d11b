"""Readers for the real datasets' published formats. Each yields :class:`~wildhands.data.record.HandRecord`.

One module per dataset; every reader is ``read_<name>(root, split=..., ...) -> Iterator[HandRecord]``,
lazy (images are referenced by ``image_path``, read by ``HandRecord.load_image``), converts keypoints to
our 21-keypoint order (a named ``<DATASET>_TO_OURS`` map in each module), metres and the camera optical
frame, and raises ``FileNotFoundError`` naming the expected file when the layout is not the published one.

    for rec in open_dataset("h2o", "/data/h2o", camera="cam4"):
        ...
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

from wildhands.data.readers.arctic import read_arctic
from wildhands.data.readers.assemblyhands import read_assemblyhands
from wildhands.data.readers.freihand import read_freihand
from wildhands.data.readers.grasp import read_grasp_labels
from wildhands.data.readers.h2o import read_h2o
from wildhands.data.readers.visor import read_visor
from wildhands.data.record import HandRecord

READERS: dict[str, Callable[..., Iterator[HandRecord]]] = {
    "arctic": read_arctic,
    "assemblyhands": read_assemblyhands,
    "h2o": read_h2o,
    "visor": read_visor,
    "epic_grasp": functools.partial(read_grasp_labels, source="epic"),
    "ego4d_grasp": functools.partial(read_grasp_labels, source="ego4d"),
    "freihand": read_freihand,
}


def open_dataset(name: str, root: str | os.PathLike, **kwargs: Any) -> Iterator[HandRecord]:
    """The records of dataset ``name`` under ``root`` (``kwargs`` go to its reader).

    ``ValueError`` for an unknown name; the readers raise ``FileNotFoundError`` naming the expected file
    when ``root`` does not hold the published layout. The layout is checked on this call, before the first
    record is requested.
    """
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(READERS)}")
    it = READERS[name](root, **kwargs)
    first = next(it, None)
    if first is None:
        return iter(())
    return _chain(first, it)


def _chain(first: HandRecord, rest: Iterator[HandRecord]) -> Iterator[HandRecord]:
    yield first
    yield from rest


__all__ = [
    "READERS",
    "open_dataset",
    "read_arctic",
    "read_assemblyhands",
    "read_freihand",
    "read_grasp_labels",
    "read_h2o",
    "read_visor",
]
