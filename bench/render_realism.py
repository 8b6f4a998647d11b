#!/usr/bin/env python3
"""Render realism (issue 22 item 1): does MediaPipe's hand-landmark network, trained by Google on real hands,
read our renders as hands?

For every hand, the landmark network runs on the crop MediaPipe itself would cut around it -- square,
rotated so that wrist -> middle MCP points up, side 2x the rotated box of the stable landmarks
(``rect_from_landmarks``), 224 px -- placed from the ground-truth 2D keypoints (+0.5 px: the detector's
continuous pixel convention). Per set of images it reports:

* 2D landmark error (px in the 224 px crop: image px x 224 / crop side), mean and median over hands of each
  hand's mean over its labelled keypoints;
* world-landmark PA-MPJPE (mm): the network's metric "world" landmarks against the true 3D keypoints after a
  similarity Procrustes alignment (hands with 3D truth only), and per keypoint
  (``world_error_by_keypoint_mm``, hands with all 21 labelled): which parts of the hand the network reads
  worse on renders than on photos;
* world orientation error (deg, ``world_orientation_deg``): how far the world landmarks are turned from the
  truth, seen in the crop's view (``world_orientation_deg``) -- what the PA-MPJPE forgives, and what the
  landmark estimator's wrist-relative 3D error pays for; its mean turn over the hands read as their own side
  (``world_turn_bias_deg``), the same fitted on the palm alone (``world_palm_turn_bias_deg``) and the x turn
  by how far the middle finger points away from the camera (``world_turn_x_by_finger_tilt_deg``);
* the hand-presence score (mean) and the fraction of hands with presence > 0.5 (MediaPipe's threshold);
* handedness agreement: the share of hands (with a known side) whose handedness the network reads right --
  a hand read as the other one is a palm taken for a back (or the reverse), and its fingers come out mirrored;
* finger bend difference (deg): the network's world landmarks' finger bend angles at MCP, PIP and DIP minus
  the truth's, averaged over the 12 joints (negative: it reads the fingers straighter than they are), also
  binned by the truth's bend, and the same in the image (2D angles, ``finger_bend_2d_diff_by_truth_deg``);
* finger spread: the median angle between the index and little fingers' proximal phalanges in the palm
  plane, of the truth and of the network's reading (``finger_spread_deg``; hands whose two fingers lie near
  the palm plane), e.g. how far our straight fingers fan compared with real ones;
* finger order flipped: the share of hands whose index and little fingertips the network puts each nearer
  the other's true position in the image (it reads the fingers in the wrong order, as a mirrored hand).

Synthetic "clear" hands are also broken down by grasp class (``clear_by_grasp``): how the look of open and of
closed hands compares; and all synthetic hands by camera geometry (``by_view``): off the optical axis by less
or more than 50 deg, wrist nearer or farther than 0.3 m -- what the crops of wide lenses and near hands
cost, whatever the look -- by the side of the hand the camera sees (palm, back or edge-on,
``facing_group``): whether a palm reads as a palm -- and by what hides them (``visibility_group``: clear,
cut by the image border, hidden by occluders, the other hand or the forearm, or both): what occlusion and
truncation cost. The world error is also given apart for the hands whose handedness the network reads
right and wrong (``world_pa_mpjpe_mm_by_handedness``). The clear hands' presence is also read against the
look, the camera's effects and the geometry (``presence_by_factor``: Spearman's rho and the mean presence
in thirds of each factor -- the hand's angle off the axis and depth, the lens's field of view, the crop's
size, how far the palm points away from the camera (``palm_tilt_deg``), the frame's sensor noise, JPEG
quality, motion blur, ambient light, how frontal the light is
(``light_frontal``: the light's direction of travel along the optical axis, 1 = from behind the camera) and
the skin's luma).

Sets: any number of ``wildhands synth`` folders (``--synthetic NAME=DIR``; fisheye frames are skipped, as
in the issue's table, unless ``--fisheye``) and the real images we have: the committed fixtures
(``test/data/real_hands``: InterHand2.6M, COCO-WholeBody) and, with ``--mmpose-data``, FreiHAND, OneHand10K
and CMU Panoptic read from an mmpose checkout (RHD is synthetic and left out). Synthetic hands are also
reported as the subset "clear" (>= 80% of the silhouette visible, all 21 keypoints in the image), which
separates the look of the hand from occlusion and truncation.

Writes the results JSON (``bench/results/render_realism.json``) and a figure of sample crops, renders
beside real photos, with the truth (green) and the network's landmarks (red)
(``docs/img/render_realism.png``). Run it at every change of the data generator::

    wildhands synth --out /tmp/rr/tubes --n 300 --seed 7
    wildhands synth --out /tmp/rr/realism --n 300 --seed 7 --config config/synth/realism.yaml
    wildhands synth --out /tmp/rr/training_look --n 300 --seed 7 --config config/synth/skin_v4.yaml
    python bench/render_realism.py --synthetic tubes=/tmp/rr/tubes --synthetic realism=/tmp/rr/realism \
        --synthetic training_look=/tmp/rr/training_look --mmpose-data /tmp/mmpose/tests/data

``--rectify`` shows each synthetic hand to the network through a virtual pinhole camera looking straight at
it (``rectified_view``): the same hands without a wide lens's perspective stretch (or a fisheye's bend), so
that what the lens costs and what the look costs can be told apart.

``--compare BEFORE:AFTER`` (two ``--synthetic`` names of one seed, e.g. a look option off and on) adds the
paired differences per hand, with bootstrap intervals (``paired`` in the JSON). The looks compared and their
commands: ``docs/render-realism.md``; their generation speed is measured by
``bench/train.py`` (``generation_looks`` in ``bench/results/train.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[1]

from _eval_common import named_folders  # noqa: E402

from wildhands.eval.metrics import procrustes_align, procrustes_rotation  # noqa: E402
from wildhands.eval.real_hands import (  # noqa: E402
    landmarks_on_rect,
    load_mmpose_sets,
    load_real_hands,
    tracking_rect,
)
from wildhands.geometry.camera import CameraModel  # noqa: E402
from wildhands.geometry.perspective_crop import (  # noqa: E402
    camera_to_virtual,
    look_at_rotation,
    points_to_rectified,
    rectify_box,
    roll_matrix,
    warp_rectified,
)
from wildhands.handmodel.keypoints import (  # noqa: E402
    FINGER_KEYPOINTS,
    FINGER_NAMES,
    KEYPOINT_NAMES,
    KEYPOINT_PARENTS,
)
from wildhands.model.grasp import grasp_class_name  # noqa: E402

CROP_PX = 224
TRACKING = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)  # the landmarks rect_from_landmarks uses
REAL_MMPOSE_SETS = ("freihand", "onehand10k", "panoptic")
CLEAR_VISIBLE_FRACTION = 0.8
PRESENCE_THRESHOLD = 0.5
MIN_REAL_CROP_PX = 64
OFF_AXIS_DEG = 50.0  # by_view: wrist direction's angle to the optical axis
NEAR_M = 0.3  # by_view: wrist depth (z)
PLAIN_MAX_BLUR_PX = 5.0  # plain_view: longest motion blur of a hand in plain view


# -------------------------------------------------------------------------------------------------- hands


def _hand(
    kind: str,
    name: str,
    image: np.ndarray,
    uv: np.ndarray,
    valid: np.ndarray,
    cam_m: np.ndarray | None,
    clear: bool,
    side: str | None = None,
    grasp: str | None = None,
    conditions: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "set": kind,
        "name": name,
        "image": image,
        "uv": uv,
        "valid": valid,
        "cam_m": cam_m,
        "wrist_cam_m": None if cam_m is None else cam_m[0],  # the real camera's (rectified_view moves cam_m)
        "clear": clear,
        "side": side,
        "grasp": grasp,
        "conditions": conditions,
    }


RECTIFIED_VIEW_PX = 448  # rectified_view: side of the virtual camera's image around a hand
RECTIFIED_VIEW_SCALE = 1.5  # rectified_view: that image's half side / the half extent of the rect's box


def rectified_view(hand: dict[str, Any], camera: CameraModel) -> dict[str, Any] | None:
    """``hand`` (of :func:`synthetic_hands`) seen by a virtual pinhole camera that shares ``camera``'s centre
    and looks straight at the centre of MediaPipe's rect around it (``perspective_crop.rectify_box``, no
    roll, the rect ``RECTIFIED_VIEW_SCALE`` times inside a ``RECTIFIED_VIEW_PX`` image): the image, the 2D
    truth and the 3D truth (its frame) of that camera, as a rectified crop shows the hand -- without the
    stretch of a wide lens's periphery or a fisheye's bend. ``wrist_cam_m`` (the real camera's) stays, for
    the geometry groups. None where the rect cannot be placed or rectified (its centre outside the lens
    model)."""
    if not np.isfinite(hand["uv"][list(TRACKING)]).all():
        return None
    centre, size, _ = tracking_rect(hand["uv"])
    if not (np.isfinite(centre).all() and size > 1.0):
        return None
    box = [centre[0] + 0.5 - size / 2, centre[1] + 0.5 - size / 2, centre[0] + 0.5 + size / 2,
           centre[1] + 0.5 + size / 2]  # fmt: skip
    try:
        rc = rectify_box(camera, box, RECTIFIED_VIEW_PX, RECTIFIED_VIEW_SCALE)
    except ValueError:
        return None
    uv = points_to_rectified(rc, hand["cam_m"])
    if not np.isfinite(uv).all():
        return None
    return {
        **hand,
        "image": warp_rectified(hand["image"], camera, rc),
        "uv": uv,
        "cam_m": camera_to_virtual(rc, hand["cam_m"]),
    }


def synthetic_hands(folder: Path, frames: int, fisheye: bool, rectify: bool = False) -> list[dict[str, Any]]:
    """Hands of a ``wildhands synth`` folder (labels.jsonl), the first ``frames`` frames (0: all); with
    ``rectify``, each seen by a virtual camera looking at it (:func:`rectified_view`; hands that cannot be
    are left out)."""
    out = []
    lines = (folder / "labels.jsonl").read_text().splitlines()
    for line in lines[: frames or None]:
        frame = json.loads(line)
        if not fisheye and frame["camera"]["distortion_model"] == "equidistant":
            continue
        bgr = cv2.imread(str(folder / frame["image"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(folder / frame["image"])
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        for k, hand in enumerate(frame["hands"]):
            uv = np.asarray(hand["keypoints_px"], np.float64)
            inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
            cam = np.asarray(hand["keypoints_cam_m"], np.float64)
            grasp = hand.get("grasp")
            grasp = grasp_class_name(grasp) if isinstance(grasp, int) else grasp
            name = f"{frame['frame_id']}_{k}"
            info = frame["info"]
            conditions = {
                "visible_fraction": float(hand.get("visible_fraction", 0.0)),
                "keypoints_in_image": float(inside.mean()),
                "occluders_in_frame": float(info.get("occluders", 0)),
                "motion_blur_px": float(info.get("motion_blur_px", 0.0)),
                # the look and the camera's effects (presence_by_factor)
                "noise_std": float(info.get("noise_std", math.nan)),
                "jpeg_quality": float(info.get("jpeg_quality", math.nan)),
                "ambient": float(info.get("ambient", math.nan)),
                "light_frontal": float(info["light_dir"][2]) if "light_dir" in info else math.nan,
                "skin_luma": skin_luma(hand.get("skin_rgb")),
                "lens_fov_deg": lens_fov_deg(frame["camera"]),
            }
            valid = np.ones(21, bool)
            clear = visibility_group(conditions) == "clear"
            item = _hand("", name, image, uv, valid, cam, clear, hand["side"], grasp, conditions)
            if rectify:
                item = rectified_view(item, camera_of(frame["camera"]))
            if item is not None:
                out.append(item)
    return out


def camera_of(camera: dict[str, Any]) -> CameraModel:
    """The :class:`CameraModel` of a labels.jsonl ``camera``."""
    return CameraModel.from_K(
        camera["K"], camera["width"], camera["height"], camera["D"], camera["distortion_model"]
    )


def skin_luma(rgb: list[float] | None) -> float:
    """Rec. 601 luma (0-255) of a hand's skin colour ``rgb`` (0-255); NaN when the frame does not say."""
    if rgb is None:
        return math.nan
    return float(np.asarray(rgb, np.float64) @ (0.299, 0.587, 0.114))


def lens_fov_deg(camera: dict[str, Any]) -> float:
    """A frame's horizontal field of view (deg) that its K implies (``CameraModel.nominal_fov_rad``;
    ``camera``: a labels.jsonl camera): how wide the lens is."""
    return math.degrees(camera_of(camera).nominal_fov_rad()[0])


def real_hands(real_dir: Path | None, mmpose_data: Path | None) -> list[dict[str, Any]]:
    samples = load_real_hands(real_dir)
    if mmpose_data is not None:
        samples += load_mmpose_sets(mmpose_data, REAL_MMPOSE_SETS)
    out = []
    for s in samples:
        if s.synthetic:
            continue
        for k, h in enumerate(s.hands):
            name = f"{s.name}_{k}"
            out.append(
                _hand(s.dataset, name, s.image, h.keypoints_px, h.valid, h.keypoints_cam_m, True, h.side)
            )
    return out


# ------------------------------------------------------------------------------------------------ scoring


FINGER_CHAINS = tuple((0, *FINGER_KEYPOINTS[f]) for f in FINGER_NAMES[1:])  # wrist + each finger's four


def finger_bends_deg(points: np.ndarray) -> np.ndarray:
    """(12,) bend angles (deg) of the four fingers at MCP, PIP and DIP: the angle between a joint's incoming
    and outgoing bone (0 = straight) from 21 keypoints: 3D in any metric frame, or 2D in pixels (the bend as
    the image shows it)."""
    out = []
    for chain in FINGER_CHAINS:
        for a, b, c in zip(chain[:-2], chain[1:-1], chain[2:], strict=True):
            u, v = points[b] - points[a], points[c] - points[b]
            cos = float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))
            out.append(math.degrees(math.acos(min(1.0, max(-1.0, cos)))))
    return np.array(out)


#: bone_length_ratios: the hand's bones by their place along the finger (the thumb's four included)
BONE_SEGMENTS = ("wrist-MCP", "MCP-PIP", "PIP-DIP", "DIP-tip")
MIN_BONE_PX = 3.0  # bone_length_ratios: shorter bones in the image (seen end-on) are left out


def bone_length_ratios(
    read_px: np.ndarray, truth_px: np.ndarray, valid: np.ndarray
) -> dict[str, list[float]]:
    """Per segment of :data:`BONE_SEGMENTS`, each bone's length in the image as the network read it over its
    length in the truth (2D, px; bones with both ends labelled and at least ``MIN_BONE_PX`` long in the
    truth), and ``hand``: the sum of the labelled bones read over the truth's -- how large the network
    reads the hand, which the landmark estimator turns into its distance."""
    out: dict[str, list[float]] = {name: [] for name in BONE_SEGMENTS}
    read_sum = truth_sum = 0.0
    for k in range(1, len(KEYPOINT_PARENTS)):
        parent = KEYPOINT_PARENTS[k]
        if not (valid[k] and valid[parent]):
            continue
        truth = float(np.linalg.norm(truth_px[k] - truth_px[parent]))
        read = float(np.linalg.norm(read_px[k] - read_px[parent]))
        read_sum, truth_sum = read_sum + read, truth_sum + truth
        if truth >= MIN_BONE_PX:
            out[BONE_SEGMENTS[(k - 1) % 4]].append(read / truth)
    out["hand"] = [read_sum / truth_sum] if truth_sum > 0 else []
    return out


def along_bone_offsets(read_px: np.ndarray, truth_px: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(21,) where the network reads each keypoint along its bone, relative to the truth: the read-minus-true
    displacement projected on the true bone (parent -> keypoint; for the wrist, wrist -> middle MCP) over
    that bone's length in the image. Negative: read back towards the parent (a fingertip read inside the
    finger, an MCP read towards the wrist; the wrist read away from the fingers). NaN where the bone is not
    labelled at both ends or shorter than ``MIN_BONE_PX``."""
    out = np.full(len(KEYPOINT_PARENTS), np.nan)
    for k, parent in enumerate(KEYPOINT_PARENTS):
        a, b = (0, 9) if parent < 0 else (parent, k)  # the wrist's bone: wrist -> middle MCP
        if not (valid[a] and valid[b] and valid[k]):
            continue
        bone = truth_px[b] - truth_px[a]
        length = float(np.linalg.norm(bone))
        if length >= MIN_BONE_PX:
            out[k] = float((read_px[k] - truth_px[k]) @ bone) / (length * length)
    return out


SPREAD_MAX_ELEVATION_DEG = 40.0


def finger_spread_deg(points: np.ndarray) -> float | None:
    """The angle (deg) between the index and little fingers' proximal phalanges (MCP -> PIP) in the palm
    plane (normal: (index MCP - wrist) x (little MCP - wrist)) of 21 3D keypoints: how far the fingers are
    spread. None when a finger's proximal phalanx leaves the palm plane by more than
    ``SPREAD_MAX_ELEVATION_DEG`` (a bent finger: its direction in the plane means little)."""
    k = np.asarray(points, np.float64)
    index, pinky = FINGER_KEYPOINTS["index"], FINGER_KEYPOINTS["pinky"]
    n = np.cross(k[index[0]] - k[0], k[pinky[0]] - k[0])
    n /= max(np.linalg.norm(n), 1e-12)
    flat = []
    for mcp, pip in ((index[0], index[1]), (pinky[0], pinky[1])):
        d = k[pip] - k[mcp]
        d /= max(np.linalg.norm(d), 1e-12)
        if abs(math.degrees(math.asin(min(1.0, max(-1.0, float(d @ n)))))) > SPREAD_MAX_ELEVATION_DEG:
            return None
        flat.append(d - (d @ n) * n)
    cos = float(flat[0] @ flat[1] / max(np.linalg.norm(flat[0]) * np.linalg.norm(flat[1]), 1e-12))
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def view_groups(wrist_cam_m: np.ndarray) -> list[str]:
    """The camera-geometry groups of a hand from its wrist (camera frame, m): off the optical axis by less /
    more than ``OFF_AXIS_DEG`` (the periphery of a wide lens, where the crop is stretched by perspective),
    nearer / farther than ``NEAR_M`` (a hand filling the view)."""
    off, depth = _off_axis_deg_and_depth(wrist_cam_m)
    return [
        f"off-axis {'<' if off < OFF_AXIS_DEG else '>='} {OFF_AXIS_DEG:g} deg",
        f"wrist {'<' if depth < NEAR_M else '>='} {NEAR_M:g} m",
    ]


def visibility_group(conditions: dict[str, float]) -> str:
    """Whether a synthetic hand is clear (``CLEAR_VISIBLE_FRACTION`` of its silhouette visible, all 21
    keypoints in the image), cut by the image border, hidden (less of it visible: occluders, the other
    hand, its forearm) or both (``conditions``: ``synthetic_hands``)."""
    hidden = conditions["visible_fraction"] < CLEAR_VISIBLE_FRACTION
    cut = conditions["keypoints_in_image"] < 1.0
    if hidden:
        return "hidden and cut by the border" if cut else f"hidden (< {CLEAR_VISIBLE_FRACTION:.0%} visible)"
    return "cut by the border" if cut else "clear"


def _off_axis_deg_and_depth(wrist_cam_m: np.ndarray) -> tuple[float, float]:
    """The wrist's angle to the optical axis (deg) and its depth z (m), from its camera-frame position."""
    w = np.asarray(wrist_cam_m, np.float64)
    return math.degrees(math.atan2(math.hypot(w[0], w[1]), w[2])), float(w[2])


def plain_view(wrist_cam_m: np.ndarray, conditions: dict[str, float]) -> bool:
    """A synthetic hand in plain view, as the real photos show hands: within ``OFF_AXIS_DEG`` of the optical
    axis, at ``NEAR_M`` or farther, in a frame without occluders, at least ``CLEAR_VISIBLE_FRACTION``
    visible and motion-blurred by at most ``PLAIN_MAX_BLUR_PX`` (``conditions``: ``synthetic_hands``)."""
    off, depth = _off_axis_deg_and_depth(wrist_cam_m)
    return bool(
        off < OFF_AXIS_DEG
        and depth >= NEAR_M
        and conditions["occluders_in_frame"] == 0
        and conditions["visible_fraction"] >= CLEAR_VISIBLE_FRACTION
        and conditions["motion_blur_px"] <= PLAIN_MAX_BLUR_PX
    )


FACING_COS = 0.5  # facing_group: |cos| of the palm normal to the line of sight beyond this


def facing_group(cam_m: np.ndarray, side: str) -> str:
    """Which side of the hand the camera sees, from its 3D keypoints (camera frame, m): the palm normal
    (palmar: (index MCP - wrist) x (little MCP - wrist) for a right hand, the reverse for a left one)
    against the direction from the palm's centre to the camera: "palm towards the camera" or "back
    towards the camera" when their cosine is beyond +-``FACING_COS`` (60 deg), else "edge-on"."""
    k = np.asarray(cam_m, np.float64)
    index, pinky = FINGER_KEYPOINTS["index"][0], FINGER_KEYPOINTS["pinky"][0]
    normal = np.cross(k[index] - k[0], k[pinky] - k[0]) * (1.0 if side == "right" else -1.0)
    centre = k[[0, index, FINGER_KEYPOINTS["middle"][0], FINGER_KEYPOINTS["ring"][0], pinky]].mean(0)
    cos = float(normal @ -centre / max(np.linalg.norm(normal) * np.linalg.norm(centre), 1e-12))
    if cos > FACING_COS:
        return "palm towards the camera"
    return "back towards the camera" if cos < -FACING_COS else "edge-on"


def finger_order_flipped(pred_px: np.ndarray, truth_px: np.ndarray, valid: np.ndarray) -> bool | None:
    """Whether the index and little fingertips of ``pred_px`` (21, 2) each lie nearer the OTHER one's true
    position ``truth_px`` (21, 2) than their own: the fingers read in the wrong order (a mirrored hand).
    None when either tip is unlabelled."""
    tips = [FINGER_KEYPOINTS["index"][3], FINGER_KEYPOINTS["pinky"][3]]
    if not np.all(valid[tips]):
        return None
    to_own = np.linalg.norm(pred_px[tips] - truth_px[tips], axis=1)
    to_other = np.linalg.norm(pred_px[tips] - truth_px[tips[::-1]], axis=1)
    return bool(np.all(to_other < to_own))


def procrustes_errors_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-joint error (N,) mm of ``pred`` (N, 3) m after the similarity transform that best fits it to
    ``truth`` (N, 3) m (rotation without reflection, scale, translation: ``metrics.procrustes_align``)."""
    return np.linalg.norm(procrustes_align(pred, truth) - truth, axis=1) * 1000.0


def procrustes_mm(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean joint error (mm) of :func:`procrustes_errors_mm`."""
    return float(procrustes_errors_mm(pred, truth).mean())


PALM_KEYPOINTS = (0, 1, 5, 9, 13, 17)  # wrist, thumb CMC and the four finger MCPs: the palm's rigid frame
FINGER_TILT_BINS_DEG = (-90.0, -20.0, 0.0, 20.0, 40.0, 90.0)  # world_turn_x_by_finger_tilt_deg


def crop_view_m(cam_m: np.ndarray, rotation: float, valid: np.ndarray) -> np.ndarray:
    """(21, 3) m: 3D keypoints ``cam_m`` (camera frame) seen in their crop's view: the camera turned without
    roll to look at the labelled keypoints' centre (``look_at_rotation``), then rolled by the crop's
    ``rotation`` (rad, ``roll_matrix``); x right, y down (the fingers point up the crop, -y), z away."""
    return cam_m @ look_at_rotation(cam_m[valid].mean(0)).T @ roll_matrix(rotation)


def axis_tilt_deg(
    cam_m: np.ndarray, rotation: float, valid: np.ndarray, start: int, end: int
) -> float | None:
    """How far (deg) the direction keypoint ``start`` -> ``end`` points away from the camera, out of the
    crop's image plane (:func:`crop_view_m`; + = away, - = towards the camera); None without
    both keypoints."""
    if not (valid[start] and valid[end]):
        return None
    d = np.diff(crop_view_m(cam_m, rotation, valid)[[start, end]], axis=0)[0]
    return math.degrees(math.asin(float(np.clip(d[2] / max(np.linalg.norm(d), 1e-12), -1.0, 1.0))))


def finger_tilt_deg(cam_m: np.ndarray, rotation: float, valid: np.ndarray) -> float | None:
    """How far (deg) the middle finger (MCP -> tip) points away from the camera (:func:`axis_tilt_deg`).
    Egocentric hands reach away from the eye, their fingers curling away: the network's orientation reading
    depends on it (``world_turn_x_by_finger_tilt_deg``)."""
    mcp, tip = FINGER_KEYPOINTS["middle"][0], FINGER_KEYPOINTS["middle"][-1]
    return axis_tilt_deg(cam_m, rotation, valid, mcp, tip)


def palm_tilt_deg(cam_m: np.ndarray, rotation: float, valid: np.ndarray) -> float | None:
    """How far (deg) the palm (wrist -> middle MCP) points away from the camera (:func:`axis_tilt_deg`):
    near +90, the hand is seen end-on along its own forearm, as an egocentric camera sees a hand reaching
    away from the eye (foreshortened to its knuckles); 0, seen full length."""
    return axis_tilt_deg(cam_m, rotation, valid, 0, FINGER_KEYPOINTS["middle"][0])


def world_turn_deg(
    world_m: np.ndarray,
    rotation: float,
    cam_m: np.ndarray,
    valid: np.ndarray,
    keypoints: tuple[int, ...] | None = None,
) -> np.ndarray | None:
    """(3,) deg: the rotation vector that best turns the landmark network's world landmarks ``world_m``
    (21, 3), read on a crop turned by ``rotation`` (rad), onto the truth ``cam_m`` (21, 3, camera frame), in
    the crop's frame (x right, y down -- the fingers point up, -y --, z away from the camera); None where it
    is ill-defined. The network knows no intrinsics, so its world frame is taken to be its crop's view: the
    camera turned without roll to look at the hand's centre (``look_at_rotation``), then rolled as the crop
    (``roll_matrix``). Its length is :func:`world_orientation_deg`; a turn about -x (x < 0) means the network
    reads the fingers tilted towards the camera. ``keypoints`` (e.g. ``PALM_KEYPOINTS``): fit the turn on
    those only (the labelled ones among them)."""
    in_crop = crop_view_m(cam_m, rotation, valid)
    use = np.asarray(valid, bool).copy()
    if keypoints is not None:
        use &= np.isin(np.arange(len(use)), keypoints)
    turn = procrustes_rotation(world_m[use], in_crop[use])
    return None if turn is None else np.degrees(Rotation.from_matrix(turn).as_rotvec())


def world_orientation_deg(
    world_m: np.ndarray, rotation: float, cam_m: np.ndarray, valid: np.ndarray
) -> float:
    """How far (deg) the landmark network's world landmarks are turned from the truth (the length of
    :func:`world_turn_deg`; NaN where ill-defined): what PA-MPJPE forgives."""
    turn = world_turn_deg(world_m, rotation, cam_m, valid)
    return math.nan if turn is None else float(np.linalg.norm(turn))


def score_hand(detector: Any, hand: dict[str, Any]) -> dict[str, Any] | None:
    """The landmark network on the hand's MediaPipe crop; None when the truth cannot place the crop."""
    uv, valid = hand["uv"], hand["valid"]
    if not valid[list(TRACKING)].all():
        return None
    centre, size, rotation = tracking_rect(uv)
    if not (np.isfinite(centre).all() and size > 1.0):
        return None
    res = landmarks_on_rect(detector, hand["image"], centre, size, rotation)
    err = np.linalg.norm(res["landmarks_px"] - uv, axis=1)[valid]
    flipped = finger_order_flipped(res["landmarks_px"], uv, valid)
    out = {
        "err_px": float(np.mean(err)) * CROP_PX / size if np.isfinite(err).all() else math.inf,
        "presence": float(res["presence"]),
        "pa_mm": None,
        "orient_deg": None,
        "side_agrees": None if hand["side"] is None else res["side"] == hand["side"],
        "finger_order_flipped": flipped,
        "rect": (centre, size, rotation),
        "pred_px": res["landmarks_px"],
        "bone_ratios": bone_length_ratios(res["landmarks_px"], uv, valid) if np.isfinite(err).all() else None,
        "along_bone": along_bone_offsets(res["landmarks_px"], uv, valid) if np.isfinite(err).all() else None,
    }
    if valid.all():  # the same bends in the image: every real set has 2D truth
        out["bends2d_truth_deg"] = finger_bends_deg(uv)
        out["bends2d_read_deg"] = finger_bends_deg(res["landmarks_px"])
    cam = hand["cam_m"]
    if hand.get("wrist_cam_m") is not None and valid[0]:
        out["wrist_m"] = hand["wrist_cam_m"]  # where the hand was placed (paired_differences)
    # the network's world landmarks in its crop's axes (the detector turns them into the image's)
    world = res["landmarks_world_m"] @ roll_matrix(rotation)
    if cam is not None and np.isfinite(cam[valid]).all() and np.isfinite(world).all():
        errors = procrustes_errors_mm(world[valid], cam[valid])
        out["pa_mm"] = float(errors.mean())
        turn = world_turn_deg(world, rotation, cam, valid)
        out["orient_deg"] = math.nan if turn is None else float(np.linalg.norm(turn))
        out["turn_deg"] = turn
        out["palm_turn_deg"] = world_turn_deg(world, rotation, cam, valid, PALM_KEYPOINTS)
        out["finger_tilt_deg"] = finger_tilt_deg(cam, rotation, valid)
        out["palm_tilt_deg"] = palm_tilt_deg(cam, rotation, valid)
        if valid.all():
            out["pa_by_keypoint_mm"] = errors
            out["bends_truth_deg"] = finger_bends_deg(cam)
            out["bends_read_deg"] = finger_bends_deg(world)
            out["bend_deg"] = float((out["bends_read_deg"] - out["bends_truth_deg"]).mean())
            out["spread_truth_deg"] = finger_spread_deg(cam)
            out["spread_read_deg"] = finger_spread_deg(world)
    return out


BEND_BINS_DEG = (0.0, 30.0, 60.0, 180.0)  # finger_bend_diff_by_truth_deg: truth bend bins


def bend_diff_by_truth(truth_deg: np.ndarray, read_deg: np.ndarray) -> dict[str, Any] | None:
    """Median (read - truth) bend (deg) of finger joints binned by the truth's bend (``BEND_BINS_DEG``), with
    the joints counted per bin; None without joints."""
    truth_deg, read_deg = np.asarray(truth_deg, np.float64), np.asarray(read_deg, np.float64)
    if not truth_deg.size:
        return None
    out: dict[str, Any] = {}
    for lo, hi in zip(BEND_BINS_DEG[:-1], BEND_BINS_DEG[1:], strict=True):
        sel = (truth_deg >= lo) & (truth_deg < hi)
        diff = read_deg[sel] - truth_deg[sel]
        out[f"{lo:.0f}-{hi:.0f}"] = (
            {"median": round(float(np.median(diff)), 1), "joints": int(sel.sum())} if sel.any() else None
        )
    return out


def turn_x_by_finger_tilt(scores: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean x component (deg) of the hands' ``turn_deg`` binned by their ``finger_tilt_deg``
    (``FINGER_TILT_BINS_DEG``), with the hands counted per bin; None without hands."""
    pairs = [(s["finger_tilt_deg"], s["turn_deg"][0]) for s in scores if s.get("finger_tilt_deg") is not None]
    if not pairs:
        return None
    tilt, turn_x = np.array(pairs, np.float64).T
    out = {}
    for lo, hi in zip(FINGER_TILT_BINS_DEG[:-1], FINGER_TILT_BINS_DEG[1:], strict=True):
        m = (tilt >= lo) & (tilt < hi) if hi < FINGER_TILT_BINS_DEG[-1] else (tilt >= lo) & (tilt <= hi)
        out[f"{lo:g} to {hi:g}"] = (
            {"mean": round(float(turn_x[m].mean()), 1), "hands": int(m.sum())} if m.any() else None
        )
    return out


def summarise(scores: list[dict[str, Any]]) -> dict[str, Any]:
    err = np.array([s["err_px"] for s in scores], np.float64)
    pa = np.array([s["pa_mm"] for s in scores if s["pa_mm"] is not None], np.float64)
    orient = np.array([s["orient_deg"] for s in scores if s.get("orient_deg") is not None], np.float64)
    orient = orient[np.isfinite(orient)]
    # the hands read as their own side (a mirrored reading is no rotation): the mean turn, crop frame
    agreeing = [s for s in scores if s.get("turn_deg") is not None and s["side_agrees"]]
    turns = np.array([s["turn_deg"] for s in agreeing])
    palm_turns = np.array([s["palm_turn_deg"] for s in agreeing if s.get("palm_turn_deg") is not None])
    pa_by_side = {
        key: [s["pa_mm"] for s in scores if s["pa_mm"] is not None and s["side_agrees"] is agrees]
        for key, agrees in (("agrees", True), ("disagrees", False))
    }
    pres = np.array([s["presence"] for s in scores], np.float64)
    sides = np.array([s["side_agrees"] for s in scores if s["side_agrees"] is not None], np.float64)
    bends = np.array([s["bend_deg"] for s in scores if s.get("bend_deg") is not None], np.float64)
    by_keypoint = [s["pa_by_keypoint_mm"] for s in scores if s.get("pa_by_keypoint_mm") is not None]
    truth_bends = [s["bends_truth_deg"] for s in scores if s.get("bends_truth_deg") is not None]
    read_bends = [s["bends_read_deg"] for s in scores if s.get("bends_read_deg") is not None]
    truth_bends_2d = [s["bends2d_truth_deg"] for s in scores if s.get("bends2d_truth_deg") is not None]
    read_bends_2d = [s["bends2d_read_deg"] for s in scores if s.get("bends2d_read_deg") is not None]
    flips = np.array([s["finger_order_flipped"] for s in scores if s.get("finger_order_flipped") is not None])
    finite = err[np.isfinite(err)]
    # how long the network reads the bones and the hand in the image (hands it sees: presence > 0.5)
    seen = [s["bone_ratios"] for s in scores if s.get("bone_ratios") and s["presence"] > PRESENCE_THRESHOLD]
    lengths = {name: [v for b in seen for v in b[name]] for name in (*BONE_SEGMENTS, "hand")}
    along = [
        s["along_bone"]
        for s in scores
        if s.get("along_bone") is not None and s["presence"] > PRESENCE_THRESHOLD
    ]
    # hands whose index and little fingers lie near the palm plane in both the truth and the reading
    pairs = [(s.get("spread_truth_deg"), s.get("spread_read_deg")) for s in scores]
    spreads = np.array([p for p in pairs if None not in p], np.float64).reshape(-1, 2)

    def r(x: float | None, n: int = 2) -> float | None:
        return None if x is None or not math.isfinite(x) else round(float(x), n)

    return {
        "hands": len(scores),
        "err2d_crop224_px_mean": r(finite.mean()) if finite.size else None,
        "err2d_crop224_px_median": r(np.median(finite)) if finite.size else None,
        "world_pa_mpjpe_mm": r(pa.mean()) if pa.size else None,
        "hands_3d": int(pa.size),
        # the world landmarks' orientation error in the crop's view (world_orientation_deg), mean / median
        "world_orientation_deg": r(orient.mean(), 1) if orient.size else None,
        "world_orientation_deg_median": r(np.median(orient), 1) if orient.size else None,
        # mean rotation vector (deg; crop frame: x right, y down, z away) that turns the reading onto the
        # truth, over the hands read as their own side: a bias, e.g. x < 0 = the fingers read tilted towards
        # the camera; and the mean size of each component
        "world_turn_bias_deg": [r(v, 1) for v in turns.mean(0)] if len(turns) else None,
        "world_turn_abs_deg": [r(v, 1) for v in np.abs(turns).mean(0)] if len(turns) else None,
        # the same bias fitted on the palm's keypoints only (PALM_KEYPOINTS): how the palm itself is read
        "world_palm_turn_bias_deg": [r(v, 1) for v in palm_turns.mean(0)] if len(palm_turns) else None,
        # the mean x turn by how far the middle finger points away from the camera (finger_tilt_deg): sets
        # with other views (egocentric: fingers away) compare fairly only bin by bin
        "world_turn_x_by_finger_tilt_deg": turn_x_by_finger_tilt(agreeing),
        "presence_mean": r(pres.mean(), 3) if pres.size else None,
        "presence_over_0.5": r((pres > PRESENCE_THRESHOLD).mean(), 3) if pres.size else None,
        "handedness_agreement": r(sides.mean(), 3) if sides.size else None,
        # world error of the hands whose handedness the network reads right / as the other hand's
        "world_pa_mpjpe_mm_by_handedness": {
            key: {"mm": r(float(np.mean(v))), "hands": len(v)} if v else None for key, v in pa_by_side.items()
        },
        "finger_bend_diff_deg": r(bends.mean(), 1) if bends.size else None,
        # the same difference per finger joint (12 a hand) by the truth's bend at that joint: the network's
        # reading is pulled towards its prior (read more bent than straight joints, straighter than bent
        # ones), so sets with other pose mixes compare fairly only bin by bin
        "finger_bend_diff_by_truth_deg": bend_diff_by_truth(np.ravel(truth_bends), np.ravel(read_bends)),
        # the same in the image (2D bend angles of the network's landmarks and of the truth's keypoints,
        # hands with all 21 labelled): comparable with every real set, not only those with 3D truth
        "finger_bend_2d_diff_by_truth_deg": bend_diff_by_truth(
            np.ravel(truth_bends_2d), np.ravel(read_bends_2d)
        ),
        "finger_order_flipped": r(flips.mean(), 3) if flips.size else None,
        # 2D length read / truth, median over the hands read as hands: per bone segment and the whole hand
        # (bone_length_ratios; keypoint conventions differ between real sets and the network's training)
        "length_read_over_truth_2d": {
            name: r(float(np.median(v)), 3) if v else None for name, v in lengths.items()
        },
        # where each keypoint is read along its bone, in bone lengths (along_bone_offsets), median over the
        # hands read as hands: e.g. fingertips read inside the finger, MCPs read towards the wrist
        "along_bone_offset_median": _keypoint_medians(along),
        # index-little spread (deg, median) of the truth and of the network's world landmarks, on hands
        # whose two fingers are near the palm plane in both (finger_spread_deg)
        "finger_spread_deg": (
            {
                "truth": r(np.median(spreads[:, 0]), 1),
                "read": r(np.median(spreads[:, 1]), 1),
                "hands": len(spreads),
            }
            if len(spreads)
            else None
        ),
        # hands with all 21 keypoints labelled: mean error per keypoint after the similarity fit
        "world_error_by_keypoint_mm": (
            dict(zip(KEYPOINT_NAMES, (r(v, 1) for v in np.mean(by_keypoint, axis=0)), strict=True))
            if by_keypoint
            else None
        ),
    }


def _keypoint_medians(rows: list[np.ndarray]) -> dict[str, float | None] | None:
    """Per keypoint name the median of the finite values of ``rows`` ((21,) each), 3 decimals."""
    if not rows:
        return None
    table = np.stack(rows)
    out = {}
    for name, column in zip(KEYPOINT_NAMES, table.T, strict=True):
        column = column[np.isfinite(column)]
        out[name] = round(float(np.median(column)), 3) if column.size else None
    return out


# presence_by_factor: what each hand's presence is read against -- (name, how to get it from (hand, score))
PRESENCE_FACTORS: dict[str, Any] = {
    "off_axis_deg": lambda h, s: _off_axis_deg_and_depth(h["wrist_cam_m"])[0],
    "wrist_depth_m": lambda h, s: _off_axis_deg_and_depth(h["wrist_cam_m"])[1],
    "lens_fov_deg": lambda h, s: h["conditions"]["lens_fov_deg"],
    "crop_side_px": lambda h, s: float(s["rect"][1]),
    "palm_tilt_deg": lambda h, s: math.nan if s.get("palm_tilt_deg") is None else s["palm_tilt_deg"],
    "noise_std": lambda h, s: h["conditions"]["noise_std"],
    "jpeg_quality": lambda h, s: h["conditions"]["jpeg_quality"],
    "motion_blur_px": lambda h, s: h["conditions"]["motion_blur_px"],
    "ambient": lambda h, s: h["conditions"]["ambient"],
    "light_frontal": lambda h, s: h["conditions"]["light_frontal"],
    "skin_luma": lambda h, s: h["conditions"]["skin_luma"],
}


def presence_by_factor(items: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """How the presence score of synthetic hands (``items``: (hand, score) pairs) follows each of
    ``PRESENCE_FACTORS``: Spearman's rank correlation (rho, p) and the mean presence in the factor's thirds
    (cut at its 1/3 and 2/3 quantiles; ties at a cut go to the lower third, so a factor that is mostly one
    value -- motion blur, off in most frames -- has fewer than three). Which of the look, the camera's
    effects and the camera geometry the network's doubt follows."""
    from scipy.stats import spearmanr

    pres = np.array([s["presence"] for _, s in items], np.float64)
    out: dict[str, Any] = {}
    for name, get in PRESENCE_FACTORS.items():
        x = np.array([get(h, s) for h, s in items], np.float64)
        ok = np.isfinite(x)
        if ok.sum() < 6 or np.ptp(x[ok]) == 0:
            out[name] = None
            continue
        x, p = x[ok], pres[ok]
        rho, pval = spearmanr(x, p)
        cuts = np.quantile(x, [1 / 3, 2 / 3])
        third = np.searchsorted(cuts, x, side="left")  # 0, 1, 2: x <= cut 1, <= cut 2, above
        out[name] = {
            "hands": int(ok.sum()),
            "spearman_rho": round(float(rho), 3),
            "p": round(float(pval), 4),
            "cuts": [round(float(c), 3) for c in cuts],
            "presence_by_third": [
                round(float(p[third == k].mean()), 3) for k in range(3) if (third == k).any()
            ],
        }
    return out


def _same_placement(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two scored hands of one name were placed alike: the wrist on the same ray from the camera
    where both know it (camera frame; the generator draws the wrist's pixel, then a depth within a range
    that the hand's size sets: a change of the fingers' pose moves the crop and the depth, not the ray),
    else the same crop rect (centre px, size px, rotation rad); True where neither is known."""
    if a.get("wrist_m") is not None and b.get("wrist_m") is not None:
        ray_a, ray_b = (np.asarray(w, np.float64) / np.linalg.norm(w) for w in (a["wrist_m"], b["wrist_m"]))
        return bool(np.allclose(ray_a, ray_b, atol=1e-6))
    ra, rb = a.get("rect"), b.get("rect")
    if ra is None or rb is None:
        return True
    return bool(np.allclose(np.r_[ra[0], ra[1], ra[2]], np.r_[rb[0], rb[1], rb[2]], atol=1e-6))


def paired_differences(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], seed: int = 0, draws: int = 2000
) -> dict[str, Any]:
    """``after`` minus ``before`` over the hands both sets hold (matched by name: frame id and hand index,
    so two folders of one seed that differ in a look or pose option; and only when placed alike
    (``_same_placement``: the same wrist, else the same crop): an option that changes which placements are
    kept changes the hands that follow, and those are counted in ``other_hands``, not compared): the mean
    difference per hand of the 2D error, world PA-MPJPE, presence and handedness agreement, with a 95 %
    bootstrap interval (``draws`` resamples of the hands, fixed ``seed``); for the handedness also how many
    hands turned to read as the other side (``turned_false``) and back to their own (``turned_true``)."""
    shared = sorted(before.keys() & after.keys())
    names = [n for n in shared if _same_placement(before[n], after[n])]
    rng = np.random.default_rng(seed)

    def diff(key: str, value, flips: bool = False) -> dict[str, Any] | None:
        d = [value(after[n][key]) - value(before[n][key]) for n in names
             if before[n].get(key) is not None and after[n].get(key) is not None]  # fmt: skip
        d = np.array([x for x in d if math.isfinite(x)], np.float64)
        if d.size < 2:
            return None
        means = rng.choice(d, (draws, d.size)).mean(1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        out = {"mean": round(float(d.mean()), 3), "ci95": [round(float(lo), 3), round(float(hi), 3)],
               "hands": int(d.size)}  # fmt: skip
        if flips:  # a yes/no per hand: how many hands turned each way
            out.update(turned_false=int((d < 0).sum()), turned_true=int((d > 0).sum()))
        return out

    return {
        "hands": len(names),
        "other_hands": len(shared) - len(names),
        "err2d_crop224_px": diff("err_px", float),
        "world_pa_mpjpe_mm": diff("pa_mm", float),
        "world_orientation_deg": diff("orient_deg", float),
        "presence": diff("presence", float),
        "handedness_agreement": diff("side_agrees", float, flips=True),
    }


# ------------------------------------------------------------------------------------------------- figure


def crop(image: np.ndarray, centre: np.ndarray, size: float, rotation: float, out: int = CROP_PX):
    """The rotated square crop the landmark network sees (``mediapipe_palm.rotated_crop``) of a rect in our
    pixel convention (centre of pixel (0, 0) at (0, 0)); returns it (uint8) and image px -> crop px."""
    from wildhands.runtime.detection.mediapipe_palm import rotated_crop
    from wildhands.runtime.hands import CONTINUOUS_TO_CENTRE_PX as HALF

    # rotated_crop works in the detector's continuous convention (pixel centres at +0.5) on both sides
    img, to_image = rotated_crop(image, np.asarray(centre, np.float64) + HALF, size, rotation, out)
    origin = to_image(np.zeros(2))
    linear = np.stack([to_image(np.array([1.0, 0.0])) - origin, to_image(np.array([0.0, 1.0])) - origin], 1)
    inv = np.linalg.inv(linear)

    def to_crop(p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, np.float64) + HALF - origin) @ inv.T - HALF

    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8), to_crop


def figure(
    rows: list[tuple[str, list[tuple[dict, dict]]]], path: Path, columns: int = 8, tile: int = 160
) -> None:
    """One row of ``columns`` crops per set: truth green, network red, presence in the corner."""
    label_w = 170
    canvas = np.full((len(rows) * (tile + 4) + 4, label_w + columns * (tile + 4) + 4, 3), 255, np.uint8)
    for i, (label, items) in enumerate(rows):
        y = 4 + i * (tile + 4)
        for j, line in enumerate(label.split("\n")):
            cv2.putText(canvas, line, (6, y + 30 + 22 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                        cv2.LINE_AA)  # fmt: skip
        for j, (hand, score) in enumerate(items[:columns]):
            img, to_crop = crop(hand["image"], *score["rect"])
            for pts, colour in ((hand["uv"], (0, 200, 0)), (score["pred_px"], (230, 0, 0))):
                q = to_crop(pts)
                for k in range(21):
                    if np.isfinite(q[k]).all() and (colour[0] == 230 or hand["valid"][k]):
                        cv2.circle(
                            img, (int(round(q[k, 0])), int(round(q[k, 1]))), 2, colour, -1, cv2.LINE_AA
                        )
            img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
            text = f"{score['presence']:.2f}"
            cv2.putText(img, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
            x = label_w + 4 + j * (tile + 4)
            canvas[y : y + tile, x : x + tile] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _wrap(name: str, width: int = 14) -> str:
    """A set's name broken at '+' into lines of at most about ``width`` characters (the figure's label)."""
    lines = [""]
    for part in name.split("+"):
        piece = part if not lines[-1] else "+" + part
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spread over the list (deterministic)."""
    if len(items) <= n:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synthetic", action="append", default=[], metavar="NAME=DIR",
                   help="a `wildhands synth` folder (repeatable)")  # fmt: skip
    p.add_argument(
        "--frames", type=int, default=0, help="at most this many frames per synthetic folder (0: all)"
    )
    p.add_argument("--fisheye", action="store_true", help="keep fisheye frames (left out by default)")
    p.add_argument(
        "--rectify",
        action="store_true",
        help="see each synthetic hand through a virtual camera looking at it (rectified_view), not the lens",
    )
    p.add_argument("--real-dir", type=Path, help="folder of <set>/truth.json (default: test/data/real_hands)")
    p.add_argument(
        "--mmpose-data", type=Path, help="an mmpose checkout's tests/data: FreiHAND, OneHand10K, Panoptic"
    )
    p.add_argument("--compare", action="append", default=[], metavar="BEFORE:AFTER",
                   help="two --synthetic names of one seed: paired differences (repeatable)")  # fmt: skip
    p.add_argument("--threads", type=int, default=2, help="landmark network CPU threads")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "render_realism.json")
    p.add_argument("--figure", type=Path, default=REPO / "docs" / "img" / "render_realism.png")
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)
    args.synthetic = sets = named_folders(p, "--synthetic", args.synthetic)
    names = {n for n, _ in sets}
    pairs = []
    for item in args.compare:
        before, sep, after = item.partition(":")
        if not sep or before not in names or after not in names:
            p.error(f"--compare {item!r}: need BEFORE:AFTER, two --synthetic names")
        pairs.append((before, after))
    args.compare = pairs
    return args


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| crops | hands | 2D error px (mean / median) | world PA-MPJPE mm (hands) | presence mean | > 0.5 "
        "| handedness agrees | finger bend diff deg | world orientation deg (mean / median) "
        "| 2D hand length read / truth |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {**result["sets"], **result.get("clear_by_grasp", {}), **result.get("by_view", {})}
    for name, s in groups.items():
        rows.append(
            f"| {name} | {s['hands']} | {s['err2d_crop224_px_mean']} / {s['err2d_crop224_px_median']} "
            f"| {s['world_pa_mpjpe_mm']} ({s['hands_3d']}) | {s['presence_mean']} "
            f"| {s['presence_over_0.5']} | {s.get('handedness_agreement')} "
            f"| {s.get('finger_bend_diff_deg')} "
            f"| {s.get('world_orientation_deg')} / {s.get('world_orientation_deg_median')} "
            f"| {(s.get('length_read_over_truth_2d') or {}).get('hand')} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector

    detector = MediaPipeHandDetector(threads=args.threads)
    start = time.perf_counter()
    groups: dict[str, list[tuple[dict, dict]]] = {}
    by_grasp: dict[str, list[tuple[dict, dict]]] = {}  # clear hands per grasp class
    by_view: dict[str, list[tuple[dict, dict]]] = {}  # all hands per camera geometry
    for name, folder in args.synthetic:
        for hand in synthetic_hands(folder, args.frames, args.fisheye, args.rectify):
            score = score_hand(detector, hand)
            if score is None:
                continue
            groups.setdefault(f"synthetic:{name}", []).append((hand, score))
            if hand["clear"]:
                groups.setdefault(f"synthetic:{name} (clear)", []).append((hand, score))
                by_grasp.setdefault(f"synthetic:{name} (clear) {hand['grasp']}", []).append((hand, score))
            wrist = hand["wrist_cam_m"]
            plain = ("" if plain_view(wrist, hand["conditions"]) else "not ") + "in plain view"
            views = [*view_groups(wrist), facing_group(hand["cam_m"], hand["side"]), plain]
            for view in [*views, visibility_group(hand["conditions"])]:
                by_view.setdefault(f"synthetic:{name} {view}", []).append((hand, score))
    real = []
    for hand in real_hands(args.real_dir, args.mmpose_data):
        score = score_hand(detector, hand)
        if score is not None:
            groups.setdefault(f"real:{hand['set']}", []).append((hand, score))
            real.append((hand, score))
    groups["real: all"] = real
    # COCO-WholeBody's hands are 10-25 px: their crops are mostly upsampling blur, not a look to match
    large = [(h, s) for h, s in real if s["rect"][1] >= MIN_REAL_CROP_PX]
    groups[f"real: crop >= {MIN_REAL_CROP_PX} px"] = large
    result = {
        "bench": "render_realism",
        "crop_px": CROP_PX,
        "landmark_model": "MediaPipe hand_landmark_full (0.10.21)",
        "synthetic_folders": {n: {"folder": str(f), "meta": _meta(f)} for n, f in args.synthetic},
        "fisheye_frames": bool(args.fisheye),
        "rectified_views": bool(args.rectify),
        "mmpose_data": str(args.mmpose_data) if args.mmpose_data else None,
        "sets": {name: summarise([s for _, s in items]) for name, items in groups.items()},
        "clear_by_grasp": {
            name: summarise([s for _, s in items]) for name, items in sorted(by_grasp.items())
        },
        "by_view": {name: summarise([s for _, s in items]) for name, items in sorted(by_view.items())},
        # the clear hands' presence against the look, the camera's effects and the geometry
        "presence_by_factor": {
            name: presence_by_factor(items)
            for name, items in groups.items()
            if name.startswith("synthetic:") and name.endswith("(clear)")
        },
        "paired": {
            f"{after} vs {before}": paired_differences(
                {h["name"]: s for h, s in groups.get(f"synthetic:{before}", [])},
                {h["name"]: s for h, s in groups.get(f"synthetic:{after}", [])},
            )
            for before, after in args.compare
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    result["targets"] = {
        "err2d_crop224_px_mean": "< 15",
        "presence_mean": "> 0.8",
        "world_pa_mpjpe_mm": "< 18",
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    for name, d in result["paired"].items():
        cells = [f"{k} {v['mean']:+} [{v['ci95'][0]:+}, {v['ci95'][1]:+}]" for k, v in d.items()
                 if isinstance(v, dict)]  # fmt: skip
        print(
            f"paired, {name} ({d['hands']} hands, {d['other_hands']} placed otherwise): " + "; ".join(cells)
        )
    print(f"wrote {args.results}")
    if not args.no_figure:
        rows = []
        for name, _ in args.synthetic:
            clear = groups.get(f"synthetic:{name} (clear)", [])
            rows.append(("render\n" + _wrap(name), _spread(clear, 8)))
        rows.append(("real photos", _spread(large, 8)))
        figure(rows, args.figure)
        print(f"wrote {args.figure}")
    return 0


def _meta(folder: Path) -> dict[str, Any]:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return {}
    meta = json.loads(meta_path.read_text())
    from wildhands.data.synthetic import SyntheticConfig

    keys = ("seed", "count", "generator_version")
    default = SyntheticConfig().to_dict()
    cfg = SyntheticConfig.from_dict(meta.get("config", {})).to_dict()
    # the config keys that differ from the defaults (the look options and anything else set)
    changed = {k: v for k, v in cfg.items() if default.get(k, None) != v}
    return {**{k: meta.get(k) for k in keys}, "config": changed}


if __name__ == "__main__":
    raise SystemExit(main())
