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


def synthetic_eval_records(cfg: TrainConfig) -> list[HandRecord]:
    """A fixed set of synthetic hands (``eval_seed``, disjoint from training seeds) for the training curve."""
    from wildhands.data.synthetic import SyntheticConfig, SyntheticHandStream

    stream = SyntheticHandStream(SyntheticConfig(), seed=cfg.eval_seed, length=cfg.eval_hands)
    return [stream[i] for i in range(cfg.eval_hands)]
