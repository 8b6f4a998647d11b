"""Training data sources: each is a random-access sequence of :class:`HandRecord`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wildhands.data.record import HandRecord

if TYPE_CHECKING:
    from wildhands.train.config import DataSourceConfig, TrainConfig


class _ListSource(Sequence):
    def __init__(self, records: list[HandRecord]):
        if not records:
            raise ValueError("data source has no hands")
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]


def build_source(source: DataSourceConfig, cfg: TrainConfig) -> Sequence[HandRecord]:
    """The records of one configured source (lazy where the source supports it)."""
    if source.kind == "synthetic_stream":
        from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream

        return SyntheticHandStream(
            SyntheticConfig.from_dict(source.synthetic),
            seed=source.seed,
            length=source.length,
            min_visible_fraction=source.min_visible_fraction,
        )
    if source.kind == "synthetic_dir":
        from wildhands.data.synthetic import SyntheticDataset

        return SyntheticDataset(source.root, min_visible_fraction=source.min_visible_fraction)
    from wildhands.data.readers import open_dataset

    return _ListSource(list(open_dataset(source.reader, source.root)))


def eval_look(cfg: TrainConfig) -> dict:
    """The scene look (``SyntheticConfig`` keys) the training curve is measured on: that of the run's first
    synthetic source -- a stream's ``synthetic`` overrides, or the config a ``synthetic_dir`` folder was
    written with (its ``meta.json``) -- so that a run on, e.g., ``hand_look: skin`` frames is evaluated on
    skin hands; the defaults without one."""
    import json
    from pathlib import Path

    for source in cfg.data:
        if source.kind == "synthetic_stream":
            return dict(source.synthetic)
        if source.kind == "synthetic_dir":
            meta = Path(source.root) / "meta.json"
            return dict(json.loads(meta.read_text()).get("config") or {}) if meta.is_file() else {}
    return {}


def synthetic_eval_records(cfg: TrainConfig) -> list[HandRecord]:
    """A fixed set of synthetic hands (``eval_seed``, disjoint from training seeds; the look of
    :func:`eval_look`) for the training curve."""
    from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream

    look = SyntheticConfig.from_dict(eval_look(cfg))
    stream = SyntheticHandStream(look, seed=cfg.eval_seed, length=cfg.eval_hands)
    return [stream[i] for i in range(cfg.eval_hands)]
