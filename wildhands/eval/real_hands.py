"""Real hand images with truth for the real-image benchmark (``bench/real_hands.py``, issue 18 item 4).

Everything else in :mod:`wildhands.eval` measures on synthetic renders; this module gives the few real
photographs with truth that a checkout can hold, in one format, plus the pieces a benchmark needs to score
any method on them the same way.

**Truth files.** Each folder under ``test/data/real_hands/`` (:data:`REAL_HANDS_DIR`) holds a few images,
a ``README.md`` (source, licence, what the truth is) and a ``truth.json`` that its ``make_truth.py``
re-derives from the dataset's original annotation files with the converters below. ``truth.json``::

    {"dataset": "interhand2.6m", "synthetic": false, "source": ..., "licence": ..., "truth": "3d" | "2d",
     "images": [{"file": "image29590.jpg", "width": 334, "height": 512,
                 "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] or null,
                 "hands": [{"side": "left" | "right" | null,
                            "keypoints_px": 21 x [u, v] (null where not labelled),
                            "keypoints_cam_m": 21 x [x, y, z] (3D sets only; null where not labelled),
                            "box_xyxy": tight box of the labelled keypoints, px}]}]}

Keypoints are in our order (:mod:`wildhands.handmodel.keypoints`; each dataset's order is converted with
an index map ``ours = theirs[MAP]``); pixels follow :mod:`wildhands.geometry.camera` (centre of the
top-left pixel at (0, 0)); 3D is in the camera optical frame, metres.

**Datasets.** The converters read the small annotation files of the mmpose repository
(github.com/open-mmlab/mmpose, ``tests/data/<name>/``), which carry a few images of each public hand
dataset. :data:`MMPOSE_SETS` lists them: InterHand2.6M (real, 3D + intrinsics), COCO-WholeBody hands
(real, 2D), FreiHAND, OneHand10K, CMU Panoptic hand labels (real, 2D) and RHD (SYNTHETIC, 3D +
intrinsics). Only the sets whose licence lets a repository keep them for evaluation are committed (see
each folder's README); the others can be read straight from an mmpose checkout
(:func:`load_mmpose_sets`).

**Samples.** :class:`Sample` = one image (RGB uint8), its :class:`CameraModel` (None where the dataset
publishes no intrinsics) and its :class:`HandTruth` list. :func:`sequence_samples` and
:func:`records_samples` give the same for synthetic renders (the bundled clip, a ``wildhands synth``
folder), so that one benchmark compares real and rendered images.

**Scoring** is :func:`wildhands.eval.scoring.score_hand` and :func:`~wildhands.eval.scoring.summarise_scores`
(on :mod:`wildhands.eval.metrics`); :func:`pnp_keypoints_cam` is the PnP lift of a 2D landmark detector's
hand-frame ("world") landmarks that a user without a 3D model would build.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wildhands.data.readers._common import KEYPOINT_BOX_MARGIN, box_from_points, estimated_camera
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel.keypoints import NUM_KEYPOINTS
from wildhands.runtime.io import SEQUENCE_DIR

logger = logging.getLogger(__name__)

__all__ = [
    "REAL_HANDS_DIR",
    "SEQUENCE_DIR",
    "INTERHAND_TO_OURS",
    "RHD_TO_OURS",
    "HAND21_TO_OURS",
    "MMPOSE_SETS",
    "HandTruth",
    "Sample",
    "turned_sample",
    "tight_box",
    "hand_box_xyxy",
    "interhand_truth",
    "coco_wholebody_truth",
    "hand21_truth",
    "rhd_truth",
    "write_truth",
    "samples_from_truth",
    "load_real_hands",
    "load_mmpose_sets",
    "sequence_samples",
    "records_samples",
    "sample_camera",
    "pnp_keypoints_cam",
    "tracking_rect",
    "landmarks_on_rect",
]

_REPO = Path(__file__).resolve().parents[2]
#: The committed fixtures (a repository checkout; not part of an installed package).
REAL_HANDS_DIR = _REPO / "test" / "data" / "real_hands"

#: ours = interhand[MAP] for one hand (21 joints): InterHand2.6M lists each finger tip -> base
#: (thumb4, thumb3, thumb2, thumb1, index4 ...) and the wrist last (mmpose ``interhand3d`` metainfo).
INTERHAND_TO_OURS: tuple[int, ...] = (20,) + tuple(4 * f + 3 - j for f in range(5) for j in range(4))
#: ours = rhd[MAP]: RHD lists the wrist first, then each finger tip -> base (mmpose ``rhd2d`` metainfo).
RHD_TO_OURS: tuple[int, ...] = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)
#: ours = theirs[MAP] for mmpose's 21-keypoint hand sets (FreiHAND, OneHand10K, CMU Panoptic hands,
#: COCO-WholeBody hands): wrist, then thumb1..4 ... pinky1..4, base to tip: our order already.
HAND21_TO_OURS: tuple[int, ...] = tuple(range(NUM_KEYPOINTS))

_SIDES = ("left", "right")
_PX_DECIMALS = 2  # 0.01 px
_M_DECIMALS = 6  # 1 micrometre


# ------------------------------------------------------------------------------------------------ samples


@dataclass
class HandTruth:
    """One labelled hand.

    side: ``'left'``, ``'right'``, or None where the dataset does not say (OneHand10K).
    keypoints_px: (21, 2) float64 px, our order; NaN where not labelled.
    valid: (21,) bool, labelled keypoints.
    keypoints_cam_m: (21, 3) float64 m, camera optical frame (NaN where not labelled), or None (2D sets).
    box_xyxy_px: (4,) tight box of the labelled keypoints (no margin).
    """

    side: str | None
    keypoints_px: np.ndarray
    valid: np.ndarray
    keypoints_cam_m: np.ndarray | None = None
    box_xyxy_px: np.ndarray = field(default_factory=lambda: np.full(4, np.nan))

    def __post_init__(self) -> None:
        if self.side is not None and self.side not in _SIDES:
            raise ValueError(f"HandTruth.side={self.side!r} not in {_SIDES} (or None)")
        self.keypoints_px = np.asarray(self.keypoints_px, np.float64).reshape(NUM_KEYPOINTS, 2)
        self.valid = np.asarray(self.valid, bool).reshape(NUM_KEYPOINTS) & np.isfinite(self.keypoints_px).all(
            1
        )
        if self.keypoints_cam_m is not None:
            self.keypoints_cam_m = np.asarray(self.keypoints_cam_m, np.float64).reshape(NUM_KEYPOINTS, 3)
        if not np.isfinite(np.asarray(self.box_xyxy_px, np.float64)).all():
            self.box_xyxy_px = tight_box(self.keypoints_px, self.valid)
        self.box_xyxy_px = np.asarray(self.box_xyxy_px, np.float64).reshape(4)

    @property
    def has_3d(self) -> bool:
        return self.keypoints_cam_m is not None

    @property
    def size_px(self) -> float:
        """Longest side of the tight keypoint box (px): the scale 2D errors are compared with."""
        b = self.box_xyxy_px
        return float(max(b[2] - b[0], b[3] - b[1]))


@dataclass
class Sample:
    """One image with its labelled hands.

    dataset: the set it comes from (``'interhand2.6m'``, ``'coco_wholebody'``, ``'sequence'`` ...).
    name: the image's name inside that set.
    image: (H, W, 3) uint8 RGB.
    camera: the dataset's intrinsics, or None where it publishes none (2D sets; see :func:`sample_camera`).
    synthetic: True for rendered images (RHD, our renders).
    """

    dataset: str
    name: str
    image: np.ndarray
    camera: CameraModel | None
    hands: list[HandTruth]
    synthetic: bool = False

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def turned_sample(sample: Sample, quarter_turns: int) -> Sample:
    """``sample`` with its image turned clockwise on the screen by ``quarter_turns`` x 90 deg, and its truth
    and camera with it (``CameraModel.turned_clockwise``: 2D (u, v) -> (height - 1 - v, u), 3D (X, Y, Z) ->
    (-Y, X, Z) per turn): the same hands, pointing another way in the image -- as egocentric views show them
    -- for benches that ask how a method copes with the hand's turn."""
    image, camera = sample.image, sample.camera
    hands = [
        HandTruth(h.side, h.keypoints_px.copy(), h.valid.copy(), h.keypoints_cam_m) for h in sample.hands
    ]
    for _ in range(quarter_turns % 4):
        height = image.shape[0]
        image = np.ascontiguousarray(np.rot90(image, k=-1))
        camera = None if camera is None else camera.turned_clockwise()
        for h in hands:
            uv = h.keypoints_px
            h.keypoints_px = np.stack([height - 1 - uv[:, 1], uv[:, 0]], axis=1)
            if h.keypoints_cam_m is not None:
                xyz = h.keypoints_cam_m
                h.keypoints_cam_m = np.stack([-xyz[:, 1], xyz[:, 0], xyz[:, 2]], axis=1)
            h.box_xyxy_px = tight_box(h.keypoints_px, h.valid)
    return Sample(sample.dataset, sample.name, image, camera, hands, sample.synthetic)


def tight_box(uv_px: Any, valid: Any = None) -> np.ndarray:
    """(x0, y0, x1, y1) of the (valid, finite) points; NaN when there are none."""
    uv = np.asarray(uv_px, np.float64).reshape(-1, 2)
    ok = np.isfinite(uv).all(1)
    if valid is not None:
        ok &= np.asarray(valid, bool).reshape(-1)
    if not ok.any():
        return np.full(4, np.nan)
    lo, hi = uv[ok].min(0), uv[ok].max(0)
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def hand_box_xyxy(hand: HandTruth, width: int, height: int) -> np.ndarray | None:
    """The hand box a method is given: the labelled keypoints' box grown by ``KEYPOINT_BOX_MARGIN`` (10 %)
    of its longer side on every side (keypoints are joint centres; the skin reaches beyond them), clipped
    to the image -- the rule the dataset readers use for boxes made from 2D keypoints. None if degenerate."""
    return box_from_points(hand.keypoints_px, width, height, valid=hand.valid, margin=KEYPOINT_BOX_MARGIN)


def sample_camera(sample: Sample) -> CameraModel:
    """The sample's camera, or, where the dataset has none, the readers' pinhole guess
    (``estimated_camera``: f = 1000 px, principal point at the image centre, ``estimated=True``)."""
    return sample.camera if sample.camera is not None else estimated_camera(sample.width, sample.height)


# --------------------------------------------------------------------------------------------- converters


def _round_list(a: np.ndarray, decimals: int, valid: np.ndarray) -> list[list[float] | None]:
    return [[round(float(v), decimals) for v in row] if ok else None for row, ok in zip(np.asarray(a), valid)]


def _hand_entry(side: str | None, uv: np.ndarray, valid: np.ndarray, cam_m: np.ndarray | None = None) -> dict:
    valid = np.asarray(valid, bool) & np.isfinite(uv).all(1)
    entry: dict[str, Any] = {"side": side, "keypoints_px": _round_list(uv, _PX_DECIMALS, valid)}
    if cam_m is not None:
        entry["keypoints_cam_m"] = _round_list(cam_m, _M_DECIMALS, valid)
    entry["box_xyxy"] = [round(float(v), _PX_DECIMALS) for v in tight_box(uv, valid)]
    return entry


def _K(focal: Sequence[float], princpt: Sequence[float]) -> list[list[float]]:
    return [
        [float(focal[0]), 0.0, float(princpt[0])],
        [0.0, float(focal[1]), float(princpt[1])],
        [0.0, 0.0, 1.0],
    ]


def _keep(name: str, files: Iterable[str] | None) -> bool:
    return files is None or name in set(files)


def _sorted_images(images: list[dict], files: Iterable[str] | None) -> list[dict]:
    if files is None:
        return sorted(images, key=lambda e: e["file"])
    order = {f: i for i, f in enumerate(files)}
    return sorted(images, key=lambda e: order.get(e["file"], len(order)))


def interhand_truth(src: str | Path, files: Iterable[str] | None = None, min_valid: int = 10) -> dict:
    """InterHand2.6M (mmpose ``tests/data/interhand2.6m/``) -> truth dict (3D + intrinsics).

    ``test_interhand2.6m_joint_3d.json`` holds 42 world joints (mm; right hand = 0-20, left = 21-41) per
    capture and frame, ``test_interhand2.6m_camera.json`` each camera's rotation ``camrot``, position
    ``campos`` (mm), ``focal`` and ``princpt`` (px). Camera frame: ``X_cam = R (X_world - campos)``; 2D
    truth = the pinhole projection of X_cam (InterHand2.6M's own rule; its 2D labels are these
    projections). Hands present: both for ``hand_type == 'interacting'``, else the named one; hands with
    fewer than ``min_valid`` valid joints are left out.
    """
    src = Path(src)
    data = json.loads((src / "test_interhand2.6m_data.json").read_text())
    cams = json.loads((src / "test_interhand2.6m_camera.json").read_text())
    joints = json.loads((src / "test_interhand2.6m_joint_3d.json").read_text())
    images = []
    for image in data["images"]:
        if not _keep(image["file_name"], files):
            continue
        cap, cam, frame = str(image["capture"]), str(image["camera"]), str(image["frame_idx"])
        R = np.asarray(cams[cap]["camrot"][cam], np.float64)
        campos = np.asarray(cams[cap]["campos"][cam], np.float64)
        f = np.asarray(cams[cap]["focal"][cam], np.float64)
        c = np.asarray(cams[cap]["princpt"][cam], np.float64)
        entry = joints[cap][frame]
        world = np.asarray(entry["world_coord"], np.float64)  # (42, 3) mm
        valid = np.asarray(entry["joint_valid"], bool).reshape(-1)
        cam_m = (world - campos) @ R.T / 1000.0
        uv = cam_m[:, :2] / cam_m[:, 2:3] * f + c
        present = list(_SIDES[::-1]) if entry["hand_type"] == "interacting" else [entry["hand_type"]]
        hands = []
        for side in present:
            sl = slice(0, 21) if side == "right" else slice(21, 42)
            idx = list(INTERHAND_TO_OURS)
            h_valid = valid[sl][idx]
            if h_valid.sum() < min_valid:
                continue
            hands.append(_hand_entry(side, uv[sl][idx], h_valid, cam_m[sl][idx]))
        images.append(
            {
                "file": image["file_name"],
                "width": int(image["width"]),
                "height": int(image["height"]),
                "K": _K(f, c),
                "hands": hands,
                "meta": {"seq_name": image["seq_name"], "capture": int(image["capture"]), "camera": cam},
            }
        )
    return {
        "dataset": "interhand2.6m",
        "synthetic": False,
        "truth": "3d",
        "source": "github.com/open-mmlab/mmpose tests/data/interhand2.6m/ "
        "(InterHand2.6M, Moon et al. ECCV 2020)",
        "licence": "CC-BY-NC-4.0 (InterHand2.6M)",
        "images": _sorted_images(images, files),
    }


def _coco_images(d: dict, files: Iterable[str] | None) -> dict[int, dict]:
    return {im["id"]: im for im in d["images"] if _keep(im["file_name"], files)}


def coco_wholebody_truth(
    src: str | Path, files: Iterable[str] | None = None, min_valid: int = 10, min_size_px: float = 0.0
) -> dict:
    """COCO-WholeBody hands (mmpose ``tests/data/coco/test_coco_wholebody.json``) -> truth dict (2D).

    Per person, ``lefthand_kpts`` / ``righthand_kpts`` (21 x (u, v, v)) where ``lefthand_valid`` /
    ``righthand_valid``; a keypoint is labelled where its third value is > 0 (as mmpose reads them). The
    side is the person's own (``left_hand_root`` is their left wrist). Hands with fewer than ``min_valid``
    labelled keypoints or a tight box under ``min_size_px`` are left out. No intrinsics (COCO has none).
    """
    d = json.loads((Path(src) / "test_coco_wholebody.json").read_text())
    ims = _coco_images(d, files)
    hands_of: dict[int, list[dict]] = {i: [] for i in ims}
    for a in d["annotations"]:
        if a["image_id"] not in ims:
            continue
        for side in _SIDES:
            if not a.get(f"{side}hand_valid", False):
                continue
            k = np.asarray(a[f"{side}hand_kpts"], np.float64).reshape(21, 3)[list(HAND21_TO_OURS)]
            valid = k[:, 2] > 0
            if valid.sum() < min_valid:
                continue
            b = tight_box(k[:, :2], valid)
            if max(b[2] - b[0], b[3] - b[1]) < min_size_px:
                continue
            hands_of[a["image_id"]].append(_hand_entry(side, k[:, :2], valid))
    licences = {lic["id"]: lic["name"] for lic in d.get("licenses", [])}
    images = [
        {
            "file": im["file_name"],
            "width": int(im["width"]),
            "height": int(im["height"]),
            "K": None,
            "hands": hands_of[i],
            "meta": {"flickr_url": im.get("flickr_url"), "image_licence": licences.get(im.get("license"))},
        }
        for i, im in ims.items()
        if hands_of[i]
    ]
    return {
        "dataset": "coco_wholebody",
        "synthetic": False,
        "truth": "2d",
        "source": "github.com/open-mmlab/mmpose tests/data/coco/ (COCO-WholeBody, Jin et al. ECCV 2020)",
        "licence": "annotations: COCO-WholeBody terms (research, non-commercial; CC-BY-NC-4.0); images: per "
        "image Flickr licence (meta.image_licence)",
        "images": _sorted_images(images, files),
    }


def _side_from_name(dataset: str, file_name: str) -> str | None:
    if dataset == "freihand":
        return "right"  # FreiHAND holds right hands only
    if dataset == "panoptic":  # CMU hand labels: <name>_l.jpg / <name>_r.jpg
        stem = Path(file_name).stem
        return {"l": "left", "r": "right"}.get(stem.rsplit("_", 1)[-1])
    return None  # OneHand10K does not label the side


def hand21_truth(dataset: str, src: str | Path, files: Iterable[str] | None = None) -> dict:
    """FreiHAND / OneHand10K / CMU Panoptic hand labels (mmpose ``tests/data/<name>/test_<name>.json``,
    COCO format, one hand per image, 21 x (u, v, visible) in our order) -> truth dict (2D, no intrinsics:
    mmpose's copies leave FreiHAND's K and 3D out). The side comes from the dataset's conventions
    (FreiHAND: right hands only; Panoptic: ``_l`` / ``_r`` file names; OneHand10K: unknown, None)."""
    if dataset not in ("freihand", "onehand10k", "panoptic"):
        raise ValueError(f"hand21_truth: dataset={dataset!r} not in ('freihand', 'onehand10k', 'panoptic')")
    d = json.loads((Path(src) / f"test_{dataset}.json").read_text())
    ims = _coco_images(d, files)
    images = []
    for a in d["annotations"]:
        if a["image_id"] not in ims:
            continue
        im = ims[a["image_id"]]
        k = np.asarray(a["keypoints"], np.float64).reshape(21, 3)[list(HAND21_TO_OURS)]
        images.append(
            {
                "file": im["file_name"],
                "width": int(im["width"]),
                "height": int(im["height"]),
                "K": None,
                "hands": [_hand_entry(_side_from_name(dataset, im["file_name"]), k[:, :2], k[:, 2] > 0)],
            }
        )
    return {
        "dataset": dataset,
        "synthetic": False,
        "truth": "2d",
        "source": f"github.com/open-mmlab/mmpose tests/data/{dataset}/",
        "licence": MMPOSE_SETS[dataset]["licence"],
        "images": _sorted_images(images, files),
    }


def rhd_truth(src: str | Path, files: Iterable[str] | None = None) -> dict:
    """RHD (Rendered Handpose Dataset; SYNTHETIC) (mmpose ``tests/data/rhd/test_rhd.json``) -> truth dict:
    ``joint_cam`` (21 x 3, mm, camera frame), ``cam_param`` focal / princpt; 2D truth = their projection."""
    d = json.loads((Path(src) / "test_rhd.json").read_text())
    ims = _coco_images(d, files)
    images = []
    for a in d["annotations"]:
        if a["image_id"] not in ims:
            continue
        im = ims[a["image_id"]]
        cam_m = np.asarray(a["joint_cam"], np.float64)[list(RHD_TO_OURS)] / 1000.0
        f, c = im["cam_param"]["focal"], im["cam_param"]["princpt"]
        uv = cam_m[:, :2] / cam_m[:, 2:3] * np.asarray(f) + np.asarray(c)
        images.append(
            {
                "file": im["file_name"],
                "width": int(im["width"]),
                "height": int(im["height"]),
                "K": _K(f, c),
                "hands": [_hand_entry(a["hand_type"], uv, np.ones(21, bool), cam_m)],
            }
        )
    return {
        "dataset": "rhd",
        "synthetic": True,
        "truth": "3d",
        "source": "github.com/open-mmlab/mmpose tests/data/rhd/ (RHD, Zimmermann & Brox ICCV 2017)",
        "licence": MMPOSE_SETS["rhd"]["licence"],
        "images": _sorted_images(images, files),
    }


#: mmpose ``tests/data`` folders this module reads: folder, converter, whether the set is rendered, and its
#: licence as we read it (the images keep their dataset's licence; mmpose's Apache-2.0 covers its code).
MMPOSE_SETS: dict[str, dict[str, Any]] = {
    "interhand2.6m": {
        "folder": "interhand2.6m",
        "convert": interhand_truth,
        "synthetic": False,
        "licence": "CC-BY-NC-4.0",
    },
    "coco_wholebody": {
        "folder": "coco",
        "convert": coco_wholebody_truth,
        "synthetic": False,
        "licence": "COCO-WholeBody annotations: research / non-commercial (CC-BY-NC-4.0); images: Flickr CC",
    },
    "freihand": {
        "folder": "freihand",
        "convert": lambda src, files=None: hand21_truth("freihand", src, files),
        "synthetic": False,
        "licence": "FreiHAND licence: research purposes only, no commercial use (no redistribution grant)",
    },
    "onehand10k": {
        "folder": "onehand10k",
        "convert": lambda src, files=None: hand21_truth("onehand10k", src, files),
        "synthetic": False,
        "licence": "none published (web images)",
    },
    "panoptic": {
        "folder": "panoptic",
        "convert": lambda src, files=None: hand21_truth("panoptic", src, files),
        "synthetic": False,
        "licence": "CMU Panoptic hand labels: research use; images from MPII (YouTube) / NZSL: rights "
        "unclear",
    },
    "rhd": {
        "folder": "rhd",
        "convert": rhd_truth,
        "synthetic": True,
        "licence": "RHD: research purposes only",
    },
}


def write_truth(truth: dict, path: str | Path) -> Path:
    """Write a truth dict as JSON, each innermost list of numbers (a keypoint, a K row) on one line."""
    path = Path(path)
    text = re.sub(
        r"\[\s+([-+\d.eE,\s]+?)\s+\]",
        lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
        json.dumps(truth, indent=1),
    )
    path.write_text(text + "\n")
    return path


# ---------------------------------------------------------------------------------------------- loading


def _array(rows: list | None, dim: int) -> np.ndarray | None:
    if rows is None:
        return None
    return np.array([r if r is not None else [np.nan] * dim for r in rows], np.float64).reshape(-1, dim)


def samples_from_truth(truth: dict, image_dir: str | Path) -> list[Sample]:
    """The :class:`Sample` list of a truth dict, with images read from ``image_dir``."""
    image_dir = Path(image_dir)
    out = []
    for entry in truth["images"]:
        path = image_dir / entry["file"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{truth['dataset']}: cannot read image {path}")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if (image.shape[1], image.shape[0]) != (entry["width"], entry["height"]):
            raise ValueError(
                f"{path}: image is {image.shape[1]}x{image.shape[0]}, "
                f"truth says {entry['width']}x{entry['height']}"
            )
        camera = (
            CameraModel.from_K(entry["K"], entry["width"], entry["height"])
            if entry.get("K") is not None
            else None
        )
        hands = []
        for h in entry["hands"]:
            uv = _array(h["keypoints_px"], 2)
            hands.append(
                HandTruth(
                    side=h["side"],
                    keypoints_px=uv,
                    valid=np.isfinite(uv).all(1),
                    keypoints_cam_m=_array(h.get("keypoints_cam_m"), 3),
                    box_xyxy_px=np.asarray(h["box_xyxy"], np.float64),
                )
            )
        out.append(
            Sample(
                dataset=truth["dataset"],
                name=entry["file"],
                image=image,
                camera=camera,
                hands=hands,
                synthetic=bool(truth.get("synthetic", False)),
            )
        )
    return out


def load_real_hands(root: str | Path | None = None, datasets: Iterable[str] | None = None) -> list[Sample]:
    """Samples of every ``<root>/<set>/truth.json`` (default root: the committed ``test/data/real_hands``),
    or of the named sets only (FileNotFoundError for a named set that is not there)."""
    root = Path(root) if root is not None else REAL_HANDS_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist (the fixtures live in a repository checkout)")
    if datasets is None:
        folders = sorted(p.parent for p in root.glob("*/truth.json"))
    else:
        folders = [root / name for name in datasets]
        for f in folders:
            if not (f / "truth.json").is_file():
                raise FileNotFoundError(f"no truth.json in {f}")
    samples: list[Sample] = []
    for folder in folders:
        samples += samples_from_truth(json.loads((folder / "truth.json").read_text()), folder)
    return samples


def load_mmpose_sets(tests_data: str | Path, names: Iterable[str]) -> list[Sample]:
    """Samples of the named :data:`MMPOSE_SETS` read straight from an mmpose checkout's ``tests/data``
    folder (converted in memory; nothing is written). Use it for the sets not committed here."""
    tests_data = Path(tests_data)
    samples: list[Sample] = []
    for name in names:
        if name not in MMPOSE_SETS:
            raise ValueError(f"unknown mmpose set {name!r}; known: {sorted(MMPOSE_SETS)}")
        folder = tests_data / MMPOSE_SETS[name]["folder"]
        samples += samples_from_truth(MMPOSE_SETS[name]["convert"](folder), folder)
    return samples


def sequence_samples(seq_dir: str | Path | None = None, every: int = 1) -> list[Sample]:
    """The bundled rendered clip (``wildhands/assets/sequence``: ``groundtruth.json`` with per hand its side,
    2D and 3D keypoints, and ``camera_info.yaml``) as samples of dataset ``'sequence'`` (synthetic); every
    ``every``-th frame."""
    from wildhands.geometry.camera_yaml import load_camera_yaml

    seq_dir = Path(seq_dir) if seq_dir is not None else SEQUENCE_DIR
    camera = load_camera_yaml(seq_dir / "camera_info.yaml")
    gt = json.loads((seq_dir / "groundtruth.json").read_text())
    out = []
    for frame in gt["frames"][:: max(1, int(every))]:
        bgr = cv2.imread(str(seq_dir / frame["image"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read {seq_dir / frame['image']}")
        hands = [
            HandTruth(
                side=h["side"],
                keypoints_px=np.asarray(h["keypoints_px"], np.float64),
                valid=np.ones(NUM_KEYPOINTS, bool),
                keypoints_cam_m=np.asarray(h["keypoints_cam_m"], np.float64),
            )
            for h in frame["hands"]
        ]
        out.append(
            Sample("sequence", frame["image"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), camera, hands, True)
        )
    return out


def records_samples(
    records: Iterable[Any], dataset: str = "synthetic", synthetic: bool = True
) -> list[Sample]:
    """Group :class:`~wildhands.data.record.HandRecord` s (e.g. ``open_records(DIR)`` of a ``wildhands synth``
    folder) into samples by ``frame_id``; hands without 2D keypoints are left out."""
    frames: dict[str, Sample] = {}
    for rec in records:
        if rec.keypoints_px is None:
            continue
        valid = (
            np.ones(NUM_KEYPOINTS, bool) if rec.keypoints_valid is None else np.asarray(rec.keypoints_valid)
        )
        hand = HandTruth(rec.side, rec.keypoints_px, valid, rec.keypoints_cam_m)
        if rec.frame_id not in frames:
            image = rec.image if rec.image is not None else rec.load_image()
            frames[rec.frame_id] = Sample(dataset, str(rec.frame_id), image, rec.camera, [], synthetic)
        frames[rec.frame_id].hands.append(hand)
    return list(frames.values())


# ---------------------------------------------------------------------------------------------------- PnP


def pnp_keypoints_cam(
    world_m: Any, uv_px: Any, camera: CameraModel, refine: bool = True
) -> np.ndarray | None:
    """Camera-frame keypoints (21, 3) m from a hand-frame 3D shape and its 2D detections: ``cv2.solvePnP``
    (SQPnP) of ``world_m`` (N, 3) m on ``uv_px`` (N, 2) px, then Levenberg-Marquardt on the reprojection
    error; ``R world + t``. The pixels go through ``camera.undistort_points`` first (PnP on normalised
    coordinates with K = I), so any lens model of the camera works. None when PnP fails or puts the hand
    behind the camera."""
    world = np.ascontiguousarray(np.asarray(world_m, np.float64).reshape(-1, 3))
    xy = camera.undistort_points(np.asarray(uv_px, np.float64).reshape(-1, 2))
    ok = np.isfinite(world).all(1) & np.isfinite(xy).all(1)
    if ok.sum() < 4:
        return None
    obj, img = np.ascontiguousarray(world[ok]), np.ascontiguousarray(xy[ok])
    eye = np.eye(3)
    success, rvec, tvec = cv2.solvePnP(obj, img, eye, None, flags=cv2.SOLVEPNP_SQPNP)
    if not success:
        return None
    if refine:
        rvec, tvec = cv2.solvePnPRefineLM(obj, img, eye, None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    cam = world @ R.T + tvec.reshape(1, 3)
    if not np.all(np.isfinite(cam)) or np.median(cam[:, 2]) <= 0:
        return None
    return cam


# ------------------------------------------------------------------------- MediaPipe landmarks on a rect


def tracking_rect(landmarks_px: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre (2,), side, rotation) of MediaPipe's tracking rect around 21 landmarks (px, any one pixel
    convention: the centre comes back in the same); the detector's ``rect_from_landmarks``."""
    from wildhands.runtime.detection.mediapipe_palm import rect_from_landmarks

    return rect_from_landmarks(landmarks_px)


def landmarks_on_rect(
    detector: Any, image_rgb: np.ndarray, centre_px: Any, size_px: float, rotation_rad: float = 0.0
) -> dict[str, Any]:
    """The hand-landmark model of a ``MediaPipeHandDetector`` on one rotated square rect of the image
    (its ``landmarks_on_rect``, whatever the presence), in our pixel convention.

    ``centre_px``: centre of pixel (0, 0) at (0, 0). Returns ``landmarks_px`` (21, 2) (the detector's
    continuous coordinates - 0.5), ``landmarks_world_m`` (21, 3) m in the image's axes (the detector's),
    ``presence``, ``side`` (its handedness, for an unmirrored camera image) and ``rect_size_px``.
    """
    centre = np.asarray(centre_px, np.float64) + 0.5  # -> continuous coordinates
    d = detector.landmarks_on_rect(image_rgb, centre, float(size_px), float(rotation_rad), min_presence=0.0)
    if d is None:  # landmarks collapsed to a point: no hand
        nan = np.full((NUM_KEYPOINTS, 2), np.nan)
        world = np.full((NUM_KEYPOINTS, 3), np.nan)
        return {"landmarks_px": nan, "landmarks_world_m": world, "presence": 0.0, "side": "right",
                "rect_size_px": float(size_px)}  # fmt: skip
    return {
        "landmarks_px": d.landmarks_px[:, :2] - 0.5,
        "landmarks_world_m": d.landmarks_world_m,
        "presence": d.presence,
        "side": d.box.side,
        "rect_size_px": float(size_px),
    }
