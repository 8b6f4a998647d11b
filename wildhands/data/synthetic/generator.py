"""``generate_frame(config, seed, index)``: one synthetic egocentric image with its hands and all labels.

A frame is a pure function of ``(config, seed, index)``: its randomness comes from
``np.random.default_rng([seed, index])`` alone (no global RNG), and the hand model runs in float64 on the
CPU, so the same arguments give the same image bytes and labels on every run.

Steps: sample a camera (``scene.sample_camera``: size, log-uniform fx, principal point, distortion model); a
procedural background (or, ``backgrounds: photo_mix``, photo crops and desks: ``photo_textures``); 1 or 2
hands (two = one left + one right), each with a grasp class, a pose from that class's template (``poses``), a
shape β, an egocentric orientation; place each hand by drawing its **wrist pixel uniformly over the whole
image** (corners and edges included, ``wrist_margin_px`` inside) and a distance along that pixel's ray
(``depth_range_m``, raised for long lenses so the hand fits), then keep the placement only if the mesh is in
front of the camera within the lens model's valid region, at least ``min_in_image_fraction`` of it projects
into the image (truncation allowed), its size is within limits, it keeps clear of the other hand and (skin
look, ``max_arm_occlusion`` < 1) its own forearm does not hide it (``arm_hidden_share``); render
both hands in one painter's pass (so they occlude each other correctly) with a sampled skin tone and light;
draw occluders over hands (after the hands; ``occluders: objects``: held-looking mugs, cans, utensils and
boxes near the palm, ``held_objects``); degrade (white balance, blur, motion blur, noise) and JPEG-compress.

Labels of each ``HandRecord``: ``keypoints_cam_m`` = the hand model's 21 keypoints for the stored
``global_orient_aa``, ``hand_pose_aa``, ``betas`` plus ``extra['transl_m']`` (= ``extra['wrist_cam_m']`` for
the open model, whose wrist is its origin); ``keypoints_px = camera.project(keypoints_cam_m)`` (with
distortion); ``mask`` = the VISIBLE silhouette (minus the other hand where it is in front, minus occluders,
minus pixels outside a fisheye's image circle); ``extra['keypoints_visible']`` (21,) bool = inside the image
and not covered by an occluder or the other hand (self-occlusion is not modelled: a keypoint behind its
own palm counts as visible); ``box_xyxy_px`` = the tight box of the visible mask, or of the whole projected
silhouette (clipped to the image) when less than 30% of it is visible (``extra['box_source']`` says
which). Left hands use the left model with mirrored parameters (``mirror_axis_angle`` of a right-hand
sample), as ``handmodel`` defines the left hand.

Devices (``config.device``, see ``backends``): ``'cpu'`` renders with numpy/OpenCV -- ``render.raster``
rasterises all triangles of both hands at once (the painter's order of ``render.shaded.render_mesh`` as a
per-pixel priority, OpenCV's fill rule) and ``render.shaded.shade_faces`` gives the Lambert colours
(``hand_look: skin``: the render skin, Gouraud-filled per pixel over a z-buffer, ``raster.nearest_face``,
on the CPU for every device). A
frame takes ~55-85 ms on a 2-core machine (640x480 to 1280x720), mostly the procedural background and the
camera effects (``bench/train.py``). ``'torch-cpu'`` / ``'cuda[:N]'`` run those image-sized steps (background,
raster, shading, occluders, camera effects) in torch on that device; the random draws, the hand model's
skinning (~2.5 ms, float64, one torch thread), placement, labels and JPEG stay on the CPU, so the labels are
the same on every device and only the image pixels differ (by float rounding).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from wildhands.data.record import HandRecord
from wildhands.data.synthetic import poses
from wildhands.data.synthetic.backends import NumpyBackend, TorchBackend, backend_for, label_maps
from wildhands.data.synthetic.config import SyntheticConfig
from wildhands.data.synthetic.grasped_objects import GRASPED_SHAPES, grasped_object
from wildhands.data.synthetic.scene import SampledCamera, fisheye_valid_mask, sample_camera, sample_skin_style
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.rotations import mirror_axis_angle, rodrigues
from wildhands.handmodel import OpenHandModel
from wildhands.model.grasp import GRASP_CLASSES
from wildhands.render import raster
from wildhands.render.shaded import shade_faces

__all__ = ["GENERATOR_VERSION", "SyntheticFrame", "generate_frame", "hand_model", "hand_skin"]

# 2: the skin look is posed by dual-quaternion skinning (tubes frames of a seed are unchanged since 1)
# 3: the skin's fingers at adult breadths (render.hand_skin._FINGER_RADIUS_SCALE); option other_poses
# 4: the skin's palm side (flexion creases, the thumb's ball: render.hand_skin); option finger_fan
# 5: the skin's forearm at adult girth, 24 cm long, and a sleeve wide enough round it (render.hand_skin)
# 6: the fingers flex in their own planes, converging (poses.flex_in_finger_planes): fists close as fists
GENERATOR_VERSION = "wildhands-synthetic-6"
DATASET_NAME = "synthetic"
_BOX_FROM_VISIBLE_MIN = 0.3  # visible / in-image silhouette below this: box from the whole silhouette
_MIN_VISIBLE_FRACTION = 0.35  # occluders / the other hand may hide at most 65% of a hand

_MODELS: dict[str, OpenHandModel] = {}


def hand_model(side: str) -> OpenHandModel:
    """The float64 open hand model of ``side`` used for all labels (built once per process)."""
    if side not in _MODELS:
        _MODELS[side] = OpenHandModel(side=side, dtype=torch.float64)
    return _MODELS[side]


@functools.lru_cache(maxsize=1)
def rest_keypoints() -> np.ndarray:
    """(21, 3) m: the right open hand model's keypoints at zero pose (model frame), once."""
    with torch.no_grad():
        return hand_model("right")().keypoints[0].numpy()


@functools.lru_cache(maxsize=1)
def _rest_finger_fan() -> np.ndarray:
    """(4,) rad: the right open hand model's finger fan at zero pose (``poses.finger_fan_rad``), once."""
    return poses.finger_fan_rad(rest_keypoints())


@dataclass
class SyntheticFrame:
    """One generated image.

    image: (H, W, 3) uint8 RGB, after JPEG compression (decoded ``jpeg_bytes``).
    camera: its intrinsics and distortion.
    hands: one ``HandRecord`` per hand (they share ``image``).
    masks: (H, W) bool visible silhouette per hand (same objects as ``hands[k].mask``).
    jpeg_bytes: the encoded image; ``io.write_dataset`` writes exactly these bytes.
    info: scene settings (background, lights, blur, ...), for debugging and statistics.
    """

    index: int
    seed: int
    frame_id: str
    image: np.ndarray
    camera: CameraModel
    hands: list[HandRecord]
    masks: list[np.ndarray]
    jpeg_bytes: bytes
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Hand:
    side: str
    grasp: int
    global_orient: np.ndarray  # (3,) for this side's model
    hand_pose: np.ndarray  # (15, 3) for this side's model
    betas: np.ndarray
    vertices: np.ndarray  # (V, 3) model frame, no translation
    keypoints: np.ndarray  # (21, 3)
    faces: np.ndarray
    transl: np.ndarray | None = None


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """The hand model's ops are tiny; with OpenCV's worker threads busy, two OpenMP threads can wait on each
    other (measured: ~30 ms per call instead of ~2.5 ms on a 2-core machine). Restores the caller's
    setting."""
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def _sample_hand(rng: np.random.Generator, cfg: SyntheticConfig, side: str) -> _Hand:
    grasp = poses.sample_grasp(rng, cfg.grasp_weights)
    unfan = None if cfg.finger_fan == 1.0 else (1.0 - cfg.finger_fan) * _rest_finger_fan()
    pose = poses.sample_hand_pose(rng, grasp, cfg.other_poses, unfan, rest_keypoints())
    orient = poses.sample_global_orient(rng)
    betas = poses.sample_betas(rng)
    if side == "left":
        pose, orient = mirror_axis_angle(pose), mirror_axis_angle(orient)
    model = hand_model(side)
    with torch.no_grad(), _one_torch_thread():
        out = model(
            betas=torch.from_numpy(betas[None]),
            global_orient=torch.from_numpy(orient[None]),
            hand_pose=torch.from_numpy(pose[None]),
        )
    return _Hand(
        side,
        grasp,
        orient,
        pose,
        betas,
        out.vertices[0].numpy(),
        out.keypoints[0].numpy(),
        out.faces.numpy(),
    )


_ARM_LENGTH_M = 0.30  # arm_hidden_share's forearm + sleeve capsule (skin: 24 cm forearm, 40 cm sleeve)
_ARM_RADIUS_M = 0.04  # about the sleeve's half-width (render.hand_skin._sleeve: 3.2-3.8 x 4.4-5.0 cm)
_ARM_START_M = 0.03  # the capsule starts this far behind the wrist, past the wrist's own skin


def arm_hidden_share(hand: _Hand, transl: np.ndarray) -> float:
    """Share of ``hand``'s model vertices (placed at ``transl``, camera frame, m) that its own forearm hides
    from the camera at the origin: the arm is a capsule of radius ``_ARM_RADIUS_M`` along the model's wrist
    axis (+x of a right hand's model frame, -x of a left one's), from ``_ARM_START_M`` to ``_ARM_LENGTH_M``
    behind the wrist; a vertex is hidden when its line of sight, up to ``_ARM_RADIUS_M`` short of the vertex,
    passes through the capsule. (Stopping short keeps the wrist's and the heel's own vertices, which lie
    within a radius of the capsule's end, from hiding themselves when the arm points elsewhere.)

    Vertices are not pixels: a bound of 0.05 here keeps the rendered hand pixels behind the arm to about a
    tenth or less (test_synthetic_looks checks it on frames; docs/render-realism.md has the realism bench)."""
    axis = rodrigues(np.asarray(hand.global_orient, np.float64))[:, 0]
    axis = axis if hand.side == "right" else -axis
    wrist = hand.keypoints[0] + transl
    a, b = wrist + _ARM_START_M * axis, wrist + _ARM_LENGTH_M * axis
    verts = hand.vertices + transl
    depth = np.linalg.norm(verts, axis=1, keepdims=True)
    short = verts * np.clip(1.0 - _ARM_RADIUS_M / np.maximum(depth, 1e-9), 0.0, 1.0)
    sight, _ = segments_distance(short, a, b)
    return float(np.mean(sight < _ARM_RADIUS_M))


def segments_distance(ends: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest distance between each segment from the origin to ``ends[i]`` (N, 3) and the segment ``a``-``b``
    (3,), and the parameter s in [0, 1] of the closest point along origin -> ``ends[i]`` (Ericson, Real-Time
    Collision Detection, 5.1.9; ``b != a``)."""
    d1 = np.asarray(ends, np.float64)
    d2 = b - a
    r = -a
    aa, e, f = (d1 * d1).sum(1), float(d2 @ d2), float(d2 @ r)
    c, bb = d1 @ r, d1 @ d2
    den = aa * e - bb * bb
    s = np.clip(np.where(den > 1e-12, (bb * f - c * e) / np.maximum(den, 1e-12), 0.0), 0.0, 1.0)
    t = np.clip((bb * s + f) / e, 0.0, 1.0)
    s = np.clip((bb * t - c) / np.maximum(aa, 1e-12), 0.0, 1.0)
    gap = d1 * s[:, None] - (a + d2 * t[:, None])
    return np.linalg.norm(gap, axis=1), s


def _place(
    rng: np.random.Generator, cfg: SyntheticConfig, scam: SampledCamera, hand: _Hand, others: list[_Hand]
) -> bool:
    """Try to put ``hand`` in view (sets ``hand.transl``); False when 25 tries fail."""
    cam = scam.camera
    w, h = cam.width, cam.height
    m = cfg.wrist_margin_px
    extent = float(np.linalg.norm(np.ptp(hand.vertices, axis=0)))
    size_px_per_m = max(cam.fx, cam.fy)
    min_side = min(w, h)
    for _ in range(25):
        uv_w = rng.uniform([m, m], [w - 1 - m, h - 1 - m])
        ray = cam.pixels_to_rays(uv_w[None])[0]
        if not np.all(np.isfinite(ray)) or ray[2] < math.cos(scam.max_theta_rad):
            continue
        lo, hi = cfg.depth_range_m
        lo = max(lo, size_px_per_m * extent / (cfg.max_hand_fraction * min_side))
        hi = max(min(hi, size_px_per_m * extent / cfg.min_hand_px), lo)
        dist = rng.uniform(lo, hi)
        transl = ray * dist - hand.keypoints[0]
        verts = hand.vertices + transl
        if np.any(verts[:, 2] < 0.03):
            continue
        norm_r = np.linalg.norm(verts[:, :2], axis=1) / verts[:, 2]
        if np.any(np.arctan(norm_r) > scam.max_theta_rad) or np.any(norm_r > scam.max_norm_radius):
            continue
        uv = cam.project(verts)
        if not np.all(np.isfinite(uv)):
            continue
        inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
        if inside.mean() < cfg.min_in_image_fraction:
            continue
        if np.ptp(uv, axis=0).max() < cfg.min_hand_px:
            continue
        clash = False
        for other in others:
            wrist_other = other.keypoints[0] + other.transl
            if np.linalg.norm(wrist_other - (hand.keypoints[0] + transl)) < cfg.min_wrist_distance_m:
                clash = True
                break
            a, b = verts[::3], (other.vertices + other.transl)[::3]
            # min pairwise distance < 1.5 cm, as |a|^2 + |b|^2 - 2 a.b (no (N, M, 3) difference array)
            d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * (a @ b.T)
            if d2.min() < 0.015**2:
                clash = True
                break
        if clash:
            continue
        if cfg.max_arm_occlusion < 1.0 and arm_hidden_share(hand, transl) > cfg.max_arm_occlusion:
            continue
        hand.transl = transl
        return True
    return False


def _box(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """Tight (x0, y0, x1, y1) box of a bool mask (exclusive ends), shifted by ``offset`` (x, y) (the mask's
    place in the image); None when empty."""
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    if bw == 0:
        return None
    x, y = x + offset[0], y + offset[1]
    return np.array([x, y, x + bw, y + bh], dtype=np.float64)


def _keypoints_visible(
    uv: np.ndarray, w: int, h: int, k: int, label: np.ndarray, occ: np.ndarray, valid: np.ndarray | None
) -> np.ndarray:
    """(21,) bool: inside the image and not on a blocked pixel -- an occluder's, the other hand's (in front)
    or one outside a fisheye's image circle."""
    vis = (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
    ij = np.round(np.nan_to_num(uv)).astype(np.int64)
    cols, rows = ij[:, 0].clip(0, w - 1), ij[:, 1].clip(0, h - 1)
    lab = label[rows, cols]
    blocked = occ[rows, cols] | ((lab > 0) & (lab != k + 1))
    if valid is not None:
        blocked |= ~valid[rows, cols]
    return vis & ~blocked


_SKINS: dict[str, Any] = {}


def hand_skin(side: str):
    """The render skin (``render.hand_skin.HandSkin``) of ``side``, built once per process (~1 s)."""
    if side not in _SKINS:
        from wildhands.render.hand_skin import HandSkin

        _SKINS[side] = HandSkin(side)
    return _SKINS[side]


@dataclass
class _SkinScene:
    vertices: np.ndarray  # (V, 3) camera frame, all hands
    faces: np.ndarray  # (F, 3) drawable faces (in front of the camera, inside the lens's valid region)
    face_hand: np.ndarray  # (F,) k for hand k's hand faces, n + k for its forearm / sleeve (and object)
    uv: np.ndarray  # (V, 2) px (0 where the vertex cannot be projected; no drawn face uses it)
    vertex_rgb: np.ndarray  # (V, 3) shaded colour


def _skin_scene(
    rng: np.random.Generator,
    scam: SampledCamera,
    hands: list[_Hand],
    style: Any,
    grasped_objects: float = 0.0,
) -> _SkinScene:
    """The hands' render skins posed as their labels, with forearms and sleeves, shaded per vertex; a hand in
    a power grasp holds a 3D object with probability ``grasped_objects`` (``grasped_objects.py``: no random
    draws at 0)."""
    from wildhands.render.hand_skin import PART_HAND, SLEEVE_CUFF_RANGE_M, albedo, sample_appearance
    from wildhands.render.shaded import shade_vertices

    cam = scam.camera
    n = len(hands)
    verts, faces, face_hand, rgb = [], [], [], []
    offset = 0
    for k, hd in enumerate(hands):
        look = sample_appearance(rng, style.color_rgb)
        sleeve_x = float(rng.uniform(*SLEEVE_CUFF_RANGE_M)) if rng.random() < 0.8 else None
        mesh = hand_skin(hd.side).skin(hd.betas, hd.global_orient, hd.hand_pose, sleeve_x=sleeve_x)
        v = mesh.vertices + hd.transl
        base, spec = albedo(mesh, look)
        rgb.append(shade_vertices(v, mesh.normals, base, style, occlusion=mesh.occlusion(), specular=spec))
        verts.append(v)
        faces.append(mesh.faces + offset)
        face_hand.append(np.where(mesh.face_part == PART_HAND, k, n + k))
        offset += len(v)
        if grasped_objects > 0 and hd.grasp in GRASPED_SHAPES and rng.random() < grasped_objects:
            obj = grasped_object(rng, hd.grasp, hd.keypoints + hd.transl)
            if obj is not None:  # drawn as the hand's non-hand part: it occludes the hand like the arm
                shaded = shade_vertices(obj.vertices, obj.normals, obj.albedo, style, specular=obj.specular)
                rgb.append(shaded)
                verts.append(obj.vertices)
                faces.append(obj.faces + offset)
                face_hand.append(np.full(len(obj.faces), n + k))
                offset += len(obj.vertices)
    v = np.concatenate(verts)
    f = np.concatenate(faces)
    fh = np.concatenate(face_hand)
    norm_r = np.linalg.norm(v[:, :2], axis=1) / np.maximum(v[:, 2], 1e-9)
    ok = (v[:, 2] > 0.03) & (np.arctan(norm_r) < scam.max_theta_rad) & (norm_r < scam.max_norm_radius)
    uv = np.zeros((len(v), 2))
    uv[ok] = cam.project(v[ok])
    ok &= np.isfinite(uv).all(1)
    uv[~ok] = 0.0
    keep = ok[f].all(1)
    return _SkinScene(v, f[keep], fh[keep], uv, np.concatenate(rgb))


def _paint_skin(
    backend: NumpyBackend | TorchBackend,
    image: Any,
    skin: _SkinScene,
    spans: Any,
    top: np.ndarray,
    skin_grid: np.ndarray,
) -> Any:
    """Gouraud-fill the skins' nearest faces (``top``: the z-buffer over numpy ``spans``' window) and
    multiply the smooth skin texture."""
    from wildhands.render.shaded import gouraud_fill

    img = backend.to_numpy(image)
    if not img.flags.writeable or isinstance(backend, TorchBackend):
        img = img.copy()
    h, w = img.shape[:2]
    tex = cv2.resize(skin_grid, (w, h), interpolation=cv2.INTER_CUBIC)[spans.slices]
    gouraud_fill(img, spans, top, skin.uv, skin.faces, skin.vertex_rgb, gain=tex)
    if isinstance(backend, TorchBackend):
        return torch.from_numpy(img).permute(2, 0, 1).contiguous().to(backend.torch_device)
    return img


def _sides(rng: np.random.Generator, cfg: SyntheticConfig) -> list[str]:
    if rng.random() < cfg.two_hands_prob:
        return ["left", "right"]
    return ["left" if rng.random() < cfg.left_prob else "right"]


def generate_frame(config: SyntheticConfig, seed: int, index: int) -> SyntheticFrame:
    """Generate image ``index`` of the synthetic set ``seed`` (deterministic; see the module docstring)."""
    backend = backend_for(config.device)
    if backend.device == "cpu":
        return _generate_frame(config, seed, index, backend)
    # the torch backends' CPU ops are short: as for the hand model (see _one_torch_thread), two OpenMP
    # threads on a busy machine mostly wait on each other, so the frame runs with one
    with _one_torch_thread():
        return _generate_frame(config, seed, index, backend)


def _generate_frame(
    config: SyntheticConfig, seed: int, index: int, backend: NumpyBackend | TorchBackend
) -> SyntheticFrame:
    cfg = config
    rng = np.random.default_rng([int(seed), int(index)])
    scam = sample_camera(rng, cfg)
    cam = scam.camera
    w, h = cam.width, cam.height
    if cfg.backgrounds == "procedural":
        image = backend.background(rng, w, h, cfg.clutter_range)
    else:
        image = backend.background(rng, w, h, cfg.clutter_range, cfg.backgrounds)
    style = sample_skin_style(rng)

    # ---- hands: sample, place (retrying with new poses), reject heavy mutual occlusion
    sides = _sides(rng, cfg)
    for _attempt in range(8):
        hands: list[_Hand] = []
        for side in sides:
            for _try in range(40):
                hand = _sample_hand(rng, cfg, side)
                if _place(rng, cfg, scam, hand, hands):
                    hands.append(hand)
                    break
        if not hands:
            continue
        verts = np.concatenate([hd.vertices + hd.transl for hd in hands])
        offsets = np.cumsum([0] + [len(hd.vertices) for hd in hands])
        faces = np.concatenate([hd.faces + o for hd, o in zip(hands, offsets)])
        face_hand = np.concatenate([np.full(len(hd.faces), k) for k, hd in enumerate(hands)])
        uv_all = cam.project(verts)
        if cfg.hand_look == "skin":
            # the skin is shaded and filled on the CPU (numpy spans whatever the backend), nearest face per
            # pixel (z-buffer): a sleeve over its arm and a curled finger on the palm overlap correctly
            skin = _skin_scene(rng, scam, hands, style, cfg.grasped_objects)
            faces, face_hand = skin.faces, skin.face_hand
            spans = raster.triangle_spans(skin.uv, faces, w, h)
            top = raster.nearest_face(spans, skin.uv, faces, np.maximum(skin.vertices[:, 2], 1e-6))
            label, full = label_maps(spans, top, face_hand, len(hands))
        else:
            spans = backend.spans(uv_all, faces, w, h)
            colors, facing, centers = shade_faces(verts, faces, style)
            priority = np.empty(len(faces), np.int64)  # painter's order: far to near, as render_mesh
            priority[np.argsort(-centers[:, 2])] = np.arange(len(faces))
            label, full = backend.labels(spans, priority, face_hand, len(hands))
        label_w = label[spans.slices]
        full_counts = [int(np.count_nonzero(f)) for f in full]
        if all(
            np.count_nonzero(label_w == k + 1) >= _MIN_VISIBLE_FRACTION * max(fc, 1)
            for k, fc in enumerate(full_counts)
        ):
            break
    if not hands:
        raise RuntimeError(f"could not place any hand in frame seed={seed} index={index}; check the config")

    # shaded front faces (back faces are not painted, as render_mesh), times a smooth skin texture on every
    # hand pixel; all within the hands' window
    skin_grid = 1.0 + 0.12 * (rng.random((max(2, h // 8), max(2, w // 8))).astype(np.float32) - 0.5)
    if cfg.hand_look == "skin":
        image = _paint_skin(backend, image, skin, spans, top, skin_grid)
    else:
        image = backend.paint_hands(image, spans, priority, facing, colors, label_w, skin_grid)
    win = spans.slices
    offset = spans.window[:2]

    # ---- occluders (after the hands), each kept only if the hand stays >= 35% visible
    occ = np.zeros((h, w), bool)
    n_occluders = 0
    for k in range(len(hands)):
        if rng.random() >= cfg.occluder_prob:
            continue
        own = label_w == k + 1
        box = _box(own, offset)
        if box is None:
            continue
        held = None
        if cfg.occluders == "objects":  # around the palm: wrist and the four finger MCPs
            palm = cam.project((hands[k].keypoints + hands[k].transl)[[0, 5, 9, 13, 17]]).mean(0)
            held = (np.nan_to_num(palm), style.light_dir, style.ambient)
        for _ in range(3):
            trial, m = (
                backend.occluder(rng, image, box) if held is None else backend.occluder(rng, image, box, held)
            )
            if np.count_nonzero(own & ~occ[win] & ~m[win]) >= _MIN_VISIBLE_FRACTION * full_counts[k]:
                image, occ = trial, occ | m
                n_occluders += 1
                break

    valid = fisheye_valid_mask(cam)
    if valid is not None:
        image = backend.keep(image, valid)  # black outside the image circle
    image, degrade_info = backend.degrade(rng, image, cfg)
    if valid is not None:
        image = backend.keep(image, valid)
    image = backend.to_numpy(image)
    quality = int(rng.integers(cfg.jpeg_quality_range[0], cfg.jpeg_quality_range[1] + 1))
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    jpeg_bytes = buf.tobytes()
    image = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    # ---- labels
    frame_id = f"synthetic_s{int(seed)}_{int(index):06d}"
    records: list[HandRecord] = []
    masks: list[np.ndarray] = []
    for k, hd in enumerate(hands):
        kp_cam = hd.keypoints + hd.transl
        kp_px = cam.project(kp_cam)
        # masks live in the hands' window: nothing of either hand lies outside it
        visible_w = (label_w == k + 1) & ~occ[win]
        if valid is not None:
            visible_w &= valid[win]
        visible = spans.paste(visible_w)
        kp_vis = _keypoints_visible(kp_px, w, h, k, label, occ, valid)
        full_count = full_counts[k]
        vis_count = int(np.count_nonzero(visible_w))
        box = _box(visible_w, offset) if vis_count >= _BOX_FROM_VISIBLE_MIN * full_count else None
        box_source = "visible_mask" if box is not None else "silhouette"
        if box is None:
            box = _box(full[k], offset)
        if box is None:  # cannot happen for a placed hand (>= 40% of its vertices are in view)
            box = np.array([0.0, 0.0, w, h])
        uv_v = uv_all[offsets[k] : offsets[k + 1]]
        inside = (uv_v[:, 0] >= -0.5) & (uv_v[:, 0] < w - 0.5) & (uv_v[:, 1] >= -0.5) & (uv_v[:, 1] < h - 0.5)
        extra = {
            "keypoints_visible": kp_vis,
            "wrist_cam_m": kp_cam[0].copy(),
            "transl_m": hd.transl.copy(),
            "hand_model": OpenHandModel.name,
            "grasp_name": GRASP_CLASSES[hd.grasp],
            "box_source": box_source,
            "visible_fraction": vis_count / max(full_count, 1),
            "in_image_fraction": float(inside.mean()),
            "skin_rgb": list(style.color_rgb),
            "index": int(index),
            "seed": int(seed),
        }
        records.append(
            HandRecord(
                dataset=DATASET_NAME,
                frame_id=frame_id,
                camera=cam,
                box_xyxy_px=box,
                side=hd.side,
                image=image,
                keypoints_cam_m=kp_cam,
                keypoints_px=kp_px,
                keypoints_valid=np.ones(21, bool),
                mask=visible,
                grasp=hd.grasp,
                global_orient_aa=hd.global_orient,
                hand_pose_aa=hd.hand_pose,
                betas=hd.betas,
                extra=extra,
            )
        )
        masks.append(visible)
    info = {
        "jpeg_quality": quality,
        "occluders": n_occluders,
        "light_dir": list(style.light_dir),
        "ambient": style.ambient,
        **degrade_info,
    }
    return SyntheticFrame(int(index), int(seed), frame_id, image, cam, records, masks, jpeg_bytes, info)
