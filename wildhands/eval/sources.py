"""Where evaluation records come from: the bundled sample, a synthetic-generator folder, a real dataset.

``open_records(spec)`` understands

* ``sample``: the two hands of ``wildhands/assets/sample`` (ground truth from ``hands.json``);
* ``NAME:DIR`` with NAME a reader of :mod:`wildhands.data.readers` (``arctic:/data/arctic``, ``h2o:...``);
* ``DIR``: a folder written by the synthetic generator (``wildhands.data.synthetic.io.SyntheticDataset``);
* ``testset:NAME[:FRAMES]``: a held-out synthetic test set of :mod:`wildhands.eval.testsets` (``wide_fov``,
  ``fisheye``, ...; FRAMES defaults to 200), rendered once into the test-set cache.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from wildhands.data.record import HandRecord

logger = logging.getLogger(__name__)

__all__ = ["sample_records", "open_records"]


def sample_records(sample_dir: str | Path | None = None) -> list[HandRecord]:
    """HandRecords (dataset ``'sample'``, one frame) of the bundled sample image with its ground truth."""
    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb

    sample_dir = Path(sample_dir) if sample_dir is not None else SAMPLE_DIR
    image = load_image_rgb(sample_dir / "image.png")
    camera = load_camera_yaml(sample_dir / "camera_info.yaml")
    entries = json.loads((sample_dir / "hands.json").read_text())["hands"]
    return [
        HandRecord(
            dataset="sample",
            frame_id="sample/0",
            camera=camera,
            box_xyxy_px=np.asarray(e["box_xyxy"], np.float64),
            side=e["side"],
            image=image,
            keypoints_cam_m=np.asarray(e["keypoints_cam_m"]),
            keypoints_px=np.asarray(e["keypoints_px"]),
            global_orient_aa=np.asarray(e["global_orient_axis_angle"])
            if "global_orient_axis_angle" in e
            else None,
            hand_pose_aa=np.asarray(e["hand_pose_axis_angle"]).reshape(15, 3)
            if "hand_pose_axis_angle" in e
            else None,
            betas=np.asarray(e["betas"]) if "betas" in e else None,
        )
        for e in entries
    ]


def open_records(spec: str) -> Iterable[HandRecord]:
    """Records named by ``spec`` (see the module docstring). ValueError / FileNotFoundError when unknown."""
    if spec == "sample":
        return sample_records()
    name, sep, root = spec.partition(":")
    if name == "testset" and sep:
        return _testset(root)
    if sep and not Path(spec).exists():
        from wildhands.data.readers import open_dataset

        return open_dataset(name, root)
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(
            f"--data {spec!r}: not 'sample', not NAME:DIR (a dataset reader) and not a synthetic data folder"
        )
    try:
        from wildhands.data.synthetic.io import SyntheticDataset
    except ImportError as exc:
        raise ValueError(
            f"--data {spec!r}: reading synthetic folders needs wildhands.data.synthetic.io ({exc})"
        ) from exc
    return _iterate(SyntheticDataset(path, load_masks=False))  # masks are not needed to evaluate


DEFAULT_TESTSET_FRAMES = 200


def _testset(text: str) -> Iterable[HandRecord]:
    from wildhands.eval.testsets import testset_records

    name, _, frames = text.partition(":")
    try:
        n = int(frames) if frames else DEFAULT_TESTSET_FRAMES
    except ValueError:
        raise ValueError(f"--data testset:{text}: FRAMES must be an integer, got {frames!r}") from None
    return testset_records(name, n)


def _iterate(dataset) -> Iterator[HandRecord]:
    yield from dataset
