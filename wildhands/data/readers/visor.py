"""EPIC-KITCHENS VISOR (Darkhalil et al., NeurIPS 2022) reader: hand masks from the sparse annotations.

Layout (VISOR release ``GroundTruth-SparseAnnotations``; format as read by the VISOR toolkit
github.com/epic-kitchens/VISOR-VIS, ``vis.py`` / ``folder_of_jsons_to_masks``)::

    <root>/annotations/<split>/<video>.json          split 'train' / 'val'; video e.g. P01_01
        {"video_annotations": [
            {"image": {"name": "P01_01_frame_0000000140.jpg", "image_path": "P01_01/P01_01_frame_...jpg",
                       "video": "P01_01", "subsequence": "P01_01_01"},
             "annotations": [{"id": ..., "name": "left hand", "class_id": 300,
                              "segments": [[[x, y], [x, y], ...], ...],   polygons, px of a 1920x1080 frame
                              "exhaustive": "y", "in_contact_object": ...}, ...]}, ...]}
    <root>/rgb_frames/<split>/<participant>/<image_path>     (the per-video zips unpacked in place)
        or <root>/rgb_frames/<split>/<participant>/<video>/<name>

``root`` may also be the folder holding ``GroundTruth-SparseAnnotations``.

Facts used: hand entities are named ``'left hand'`` (class_id 300) and ``'right hand'`` (class_id 301);
gloves (303/304) are not read. Polygons are in the 1920x1080 pixel frame of EPIC-KITCHENS videos
(:data:`VISOR_ANNOTATION_SIZE`); when an image on disk has another size (VISOR also ships 854x480 frames)
the polygons are scaled to it. No intrinsics are published: the camera is a pinhole estimate with
``fx = fy = 1000 px`` at 1920 px width (WildHands' value, scaled with the image), principal point at the
image centre, ``estimated=True``. Box = tight box of the rasterised mask (no margin). Masks only: no
keypoints, no 3D.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from wildhands.data.readers._common import (
    DEFAULT_FOCAL_PX,
    box_from_mask,
    estimated_camera,
    image_size,
    load_json,
    require_dir,
)
from wildhands.data.record import HandRecord

#: (width, height) of the pixel frame VISOR's polygons are given in.
VISOR_ANNOTATION_SIZE = (1920, 1080)

#: Entity name -> side; class ids of the same entities.
VISOR_HAND_NAMES = {"left hand": "left", "right hand": "right"}
VISOR_HAND_CLASS_IDS = {300: "left", 301: "right"}


def _sparse_root(root: Path) -> Path:
    for cand in (root, root / "GroundTruth-SparseAnnotations"):
        if (cand / "annotations").is_dir():
            return cand
    raise FileNotFoundError(
        f"VISOR: expected directory {root / 'annotations'}/<split>/<video>.json "
        f"(root = GroundTruth-SparseAnnotations or its parent)"
    )


def _image_candidates(base: Path, split: str, image: dict) -> list[Path]:
    video = image.get("video") or image["name"].split("_frame_")[0]
    participant = video.split("_")[0]
    folder = base / "rgb_frames" / split / participant
    out = []
    if image.get("image_path"):
        out.append(folder / image["image_path"])
    out.append(folder / video / image["name"])
    return out


def polygons_to_mask(
    segments: list, width: int, height: int, scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Rasterise VISOR polygons (list of [[x, y], ...]) into a (height, width) bool mask (even-odd-free
    union: each polygon is filled)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    polys = []
    for poly in segments:
        pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if pts.shape[0] < 3:
            continue
        pts = pts * np.asarray(scale)
        polys.append(np.round(pts).astype(np.int32))
    if polys:
        cv2.fillPoly(mask, polys, 1)
    return mask.astype(bool)


def read_visor(
    root: str | os.PathLike,
    split: str = "train",
    videos: list[str] | None = None,
    check_images: bool = True,
    focal_px: float = DEFAULT_FOCAL_PX,
) -> Iterator[HandRecord]:
    """Yield one :class:`HandRecord` (mask + box, estimated camera) per hand entity of every annotated frame.

    Args:
        root: ``GroundTruth-SparseAnnotations`` (or its parent).
        split: ``'train'`` or ``'val'``.
        videos: restrict to these video ids (e.g. ``['P01_01']``); ``None`` = every JSON of the split.
        check_images: raise ``FileNotFoundError`` naming the expected image when a frame is missing (else the
            image size is taken as :data:`VISOR_ANNOTATION_SIZE`).
        focal_px: assumed focal length at 1920 px image width.
    """
    base = _sparse_root(require_dir(Path(root), "VISOR root"))
    ann_dir = require_dir(base / "annotations" / split, "VISOR annotations")
    files = sorted(ann_dir.glob("*.json"))
    if videos is not None:
        files = [ann_dir / f"{v}.json" for v in videos]
    if not files:
        raise FileNotFoundError(f"VISOR: no annotation file, expected files like {ann_dir}/P01_01.json")
    aw, ah = VISOR_ANNOTATION_SIZE
    for path in files:
        doc = load_json(path, "VISOR annotation JSON")
        for entry in doc["video_annotations"]:
            image = entry["image"]
            hands = []
            for ent in entry.get("annotations", []):
                side = VISOR_HAND_NAMES.get(str(ent.get("name", "")).strip().lower())
                if side is None:
                    side = VISOR_HAND_CLASS_IDS.get(ent.get("class_id"))
                if side is not None and ent.get("segments"):
                    hands.append((side, ent))
            if not hands:
                continue
            cands = _image_candidates(base, split, image)
            image_path = next((c for c in cands if c.is_file()), None)
            if image_path is None:
                if check_images:
                    raise FileNotFoundError(f"VISOR image: expected file {cands[0]} does not exist")
                image_path = cands[0]
                width, height = aw, ah
            else:
                width, height = image_size(image_path)
            scale = (width / aw, height / ah)
            cam = estimated_camera(width, height, focal_px * width / aw)
            stem = Path(image["name"]).stem
            for side, ent in hands:
                mask = polygons_to_mask(ent["segments"], width, height, scale)
                box = box_from_mask(mask)
                if box is None:
                    continue
                yield HandRecord(
                    dataset="visor",
                    frame_id=f"visor/{split}/{stem}",
                    camera=cam,
                    box_xyxy_px=box,
                    side=side,
                    image_path=image_path,
                    mask=mask,
                    extra={
                        "video": image.get("video"),
                        "subsequence": image.get("subsequence"),
                        "entity_id": ent.get("id"),
                        "in_contact_object": ent.get("in_contact_object"),
                        "polygons": ent["segments"],
                    },
                )
