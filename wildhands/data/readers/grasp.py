"""EPIC-KITCHENS / Ego4D grasp labels reader: the WildHands code's grasp pickles.

Layout (WildHands ``src/datasets/epic_grasp_dataset.py`` and ``ego_grasp_dataset.py``; ``<root>`` is the
WildHands ``DATA_DIR``)::

    <root>/epic_hands/grasp_visor_train.pkl     (source 'epic')
    <root>/ego4d_hands/grasp_ego.pkl            (source 'ego4d')
        pickle of a dict: image path -> {"right_bbox": [x0, y0, x1, y1] | None, "left_bbox": ... | None,
                                         "right_grasp": label | None, "left_grasp": label | None}

Labels (Hands23 grasp taxonomy, Cheng et al. NeurIPS 2023) -> ids exactly as the WildHands code maps them,
which is the order of :data:`wildhands.model.grasp.GRASP_CLASSES`: :data:`GRASP_LABEL_TO_ID`. A hand with
a box but no label (``None``; WildHands' "no grasp" class 8) gets ``grasp=None``; a hand without a box is
skipped. Image paths in the pickle are absolute, or relative to ``image_root`` (default ``<root>``).

Camera: none is published. As the WildHands code does, a pinhole with ``fx = fy = 1000 px`` at 1920 px
image width, principal point at the centre, ``estimated=True``. Image size from the image header (EPIC
frames are 1920x1080); ``default_size`` when the image is absent and ``check_images=False``.
Box: the dataset's box, clipped to the image (margin 0).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wildhands.data.readers._common import (
    DEFAULT_FOCAL_PX,
    box_area,
    clip_box,
    estimated_camera,
    image_size,
    require_dir,
    require_file,
)
from wildhands.data.record import HandRecord
from wildhands.model.grasp import GRASP_CLASSES

#: Grasp label string of the pickles -> our class id (source: WildHands ``epic_grasp_dataset.py``).
GRASP_LABEL_TO_ID: dict[str, int] = {
    "NP-Palm": 0,
    "NP-Fin": 1,
    "Pow-Pris": 2,
    "Pre-Pris": 3,
    "Pow-Circ": 4,
    "Pre-Circ": 5,
    "Later": 6,
    "Other": 7,
}
assert len(GRASP_LABEL_TO_ID) == len(GRASP_CLASSES)

#: source -> (pickle path relative to root, dataset name of the records).
GRASP_SOURCES: dict[str, tuple[str, str]] = {
    "epic": ("epic_hands/grasp_visor_train.pkl", "epic_grasp"),
    "ego4d": ("ego4d_hands/grasp_ego.pkl", "ego4d_grasp"),
}


def grasp_label_to_id(label: str) -> int:
    try:
        return GRASP_LABEL_TO_ID[label]
    except KeyError:
        raise ValueError(f"unknown grasp label {label!r}; known: {sorted(GRASP_LABEL_TO_ID)}") from None


def read_grasp_labels(
    root: str | os.PathLike,
    source: str = "epic",
    split: str = "train",
    pickle_path: str | os.PathLike | None = None,
    image_root: str | os.PathLike | None = None,
    check_images: bool = True,
    default_size: tuple[int, int] = (1920, 1080),
    focal_px: float = DEFAULT_FOCAL_PX,
) -> Iterator[HandRecord]:
    """Yield one :class:`HandRecord` (box + grasp id, estimated camera) per hand with a box.

    ``split`` is accepted for symmetry: the published pickles are training labels only (``'train'``).
    ``pickle_path`` overrides the file (e.g. a validation pickle in the same format).
    """
    if source not in GRASP_SOURCES:
        raise ValueError(f"grasp source={source!r} not in {sorted(GRASP_SOURCES)}")
    rel, dataset = GRASP_SOURCES[source]
    root = require_dir(Path(root), "grasp label root")
    path = Path(pickle_path) if pickle_path is not None else root / rel
    if pickle_path is None and split != "train":
        raise ValueError(f"grasp labels: only split 'train' is published; pass pickle_path for {split!r}")
    require_file(path, f"{source} grasp label pickle")
    with open(path, "rb") as f:
        data = pickle.load(f)  # noqa: S301 - the dataset's own published format
    if not isinstance(data, dict):
        raise ValueError(f"grasp pickle {path} must hold a dict image -> labels, got {type(data).__name__}")
    img_root = Path(image_root) if image_root is not None else root
    for name, labels in data.items():
        image_path = Path(name)
        if not image_path.is_absolute():
            image_path = img_root / image_path
        if image_path.is_file():
            width, height = image_size(image_path)
        elif check_images:
            raise FileNotFoundError(f"{source} grasp image: expected file {image_path} does not exist")
        else:
            width, height = default_size
        cam = estimated_camera(width, height, focal_px * width / 1920.0)
        for side in ("right", "left"):
            box = labels.get(f"{side}_bbox")
            if box is None:
                continue
            box = clip_box(np.asarray(box, dtype=np.float64).reshape(4), width, height)
            if box_area(box) <= 0:
                continue
            label = labels.get(f"{side}_grasp")
            yield HandRecord(
                dataset=dataset,
                frame_id=f"{dataset}/{name}",
                camera=cam,
                box_xyxy_px=box,
                side=side,
                image_path=image_path,
                grasp=None if label is None else grasp_label_to_id(label),
                extra={"grasp_label": label},
            )
