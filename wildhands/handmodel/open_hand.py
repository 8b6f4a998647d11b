"""An open hand model with MANO's parameter interface, generated procedurally (no mesh files).

MANO (Romero et al. 2017) cannot be shipped: its licence forbids it. ``OpenHandModel`` is our own hand with
the same interface -- shape β (10), a global orientation and 15 joint rotations (axis-angle or rotation
matrices), 16 joints in MANO's order and kinematic tree, a skinned triangle mesh, a joint regressor,
shape and pose blend shapes -- so that everything above it (network, losses, ROS messages) works with
either model, and ``save_mano_pickle`` writes it in MANO's file format for ``smplx.MANO``.

Model frame (MANO's convention for the right hand, flat open hand as MANO's ``flat_hand_mean``):

* origin at the wrist joint (joint 0) -- for every β: shape changes scale about the wrist, so with an
  identity ``global_orient`` and ``transl`` t the wrist is at t. (Real MANO's wrist sits at about
  (0.096, 0.006, 0.006) m in its own frame and moves with β; code that needs the root must read
  ``joints[:, 0]`` rather than assume the origin.)
* −x: from the wrist towards the fingertips (fingers extended along −x);
* −y: the palm normal (palm faces −y, the back of the hand +y);
* +z: towards the thumb side (radial side) for the right hand.

Finger flexion (curling towards the palm) is then a positive rotation about +z for the four fingers of the
right hand. The left hand is the mirror image about the x = 0 plane: x -> −x, so its fingers point along +x
and its thumb is on +z as well; a left pose is the mirror of the right pose, axis-angle (x, y, z) ->
(x, −y, −z) (``mirror_pose_axis_angle``).

Anatomy (rest joints, adult average, both sexes pooled, rounded): hand length wrist crease to middle
fingertip about 18.6 cm and hand breadth at the metacarpal heads about 8.4 cm (anthropometric surveys
summarised in Pheasant and Haslegrave, *Bodyspace*, 3rd ed., hand dimensions tables: ~17-19 cm and
~7.5-9 cm for the 50th percentiles of women and men); phalanx lengths after Buryanov and Kotiuk (2010),
"Proportions of hand segments", Int. J. Morphol. 28(3), with the distal segment measured to the pulp of
the fingertip; finger breadths at the joints ~1.6-2.1 cm (same tables). The numbers are joint centre to
joint centre and are meant as a plausible average hand, not a measured individual.

Mesh: each finger and the thumb is a closed tapered tube (elliptic rings of vertices around the bone line,
a hemispherical fingertip cap ending in one vertex -- the fingertip keypoint) and the palm is a closed
tube of rounded-rectangle cross-section from the wrist to the knuckles; the thumb's metacarpal segment
bulges towards the palm (the thenar eminence). The finger tubes start inside the palm, so the surface is a
union of six watertight, consistently wound (outward normals) closed components that interpenetrate at
the knuckles, not a single 2-manifold. Every joint lies at the centre of one ring of vertices, and the
joint regressor is the mean of that ring, so ``J_regressor @ v_template`` is exactly the rest joints.

Skinning weights follow the arc length along each finger: rigid to one bone in the middle of a segment,
blended across each joint with a smoothstep over about one finger radius, summing to one. The palm is
rigid to the wrist. Pose-corrective blend shapes (``posedirs``) are zero: this model is plain linear blend
skinning (MANO learns them from scans; we have none).

Shape blend shapes: 10 documented directions (``SHAPE_DESCRIPTIONS``), each the central difference of the
generator for a change of one population standard deviation (roughly) of an anatomical measure, so β ~
N(0, I) gives plausible hands. They are linear in β like MANO's, but not orthogonal PCA directions.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import lbs

from wildhands.handmodel._pose import mirror_pose_axis_angle, mirror_pose_rotmat, prepare_inputs
from wildhands.handmodel.keypoints import MANO_JOINT_TO_KEYPOINT, MANO_PARENTS
from wildhands.handmodel.output import HandModelOutput

logger = logging.getLogger(__name__)

__all__ = [
    "SHAPE_DESCRIPTIONS",
    "OpenHandModel",
    "mirror_pose_axis_angle",
    "mirror_pose_rotmat",
    "signed_volume",
]

_NUM_JOINTS = 16
_RING_FINGER = 10  # vertices per finger ring
_RING_PALM = 24  # vertices per palm ring

# --------------------------------------------------------------------------------------------------
# Anatomy of the β = 0 right hand (metres, model frame, see the module docstring)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finger:
    """One digit at β = 0.

    Attributes:
        joints: its three MANO joint ids, base to tip (e.g. index1, index2, index3 = 1, 2, 3).
        base: (x, y, z) m of its first joint (MCP for fingers, CMC for the thumb).
        direction: unit-less (x, y, z), the bone line of the extended digit (normalised at use).
        lengths: m, first joint -> second -> third -> fingertip (the last includes the pulp).
        radii: m, half-breadth of the digit at its three joints and at the fingertip.
        base_length: m, how far the tube reaches back from the first joint into the palm.
        splay: rad, rest abduction of the digit in the palm plane (about −y), scaled by β6.
    """

    joints: tuple[int, int, int]
    base: tuple[float, float, float]
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float, float]
    base_length: float
    splay: float
    direction: tuple[float, float, float] = (-1.0, 0.0, 0.0)


# MCP joints: middle MCP 9.0 cm from the wrist joint; the knuckle line arches back towards the little
# finger. Proximal / middle / distal(+pulp) lengths after Buryanov & Kotiuk (2010), rounded.
_FINGERS: dict[str, _Finger] = {
    "index": _Finger(
        (1, 2, 3),
        (-0.086, 0.0, 0.027),
        (0.040, 0.024, 0.021),
        (0.0105, 0.0098, 0.0086, 0.0078),
        0.018,
        np.deg2rad(6.0),
    ),
    "middle": _Finger(
        (4, 5, 6),
        (-0.090, 0.0, 0.008),
        (0.045, 0.028, 0.023),
        (0.0105, 0.0100, 0.0088, 0.0080),
        0.018,
        np.deg2rad(1.0),
    ),
    "pinky": _Finger(
        (7, 8, 9),
        (-0.078, 0.0, -0.028),
        (0.033, 0.019, 0.020),
        (0.0088, 0.0082, 0.0072, 0.0066),
        0.016,
        np.deg2rad(-10.0),
    ),
    "ring": _Finger(
        (10, 11, 12),
        (-0.086, 0.0, -0.011),
        (0.042, 0.027, 0.022),
        (0.0098, 0.0092, 0.0082, 0.0075),
        0.018,
        np.deg2rad(-4.0),
    ),
    # Thumb: CMC (MANO's thumb1) ~3 cm distal and 2 cm radial of the wrist joint, slightly palmar;
    # metacarpal 4.4 cm, proximal phalanx 3.1 cm, distal + pulp 2.7 cm; in the flat hand the thumb lies
    # about 40 degrees from the fingers in the palm plane, tilted slightly palmar.
    "thumb": _Finger(
        (13, 14, 15),
        (-0.028, -0.006, 0.020),
        (0.044, 0.031, 0.027),
        (0.0150, 0.0115, 0.0105, 0.0090),
        0.024,
        0.0,
        (-0.766, -0.14, 0.643),
    ),
}
_FINGER_ORDER = ("index", "middle", "pinky", "ring", "thumb")  # MANO's joint order
_TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # keypoints.FINGERTIP_NAMES
_ARCH = {"index": 0.5, "middle": 0.0, "ring": 0.5, "pinky": 1.0, "thumb": 0.0}  # β9 pattern, × 3 mm

# Palm: (x m, half-width m, half-thickness m) along the palm's centre line from the back of the wrist
# (+x) to the knuckles; the ring at x = 0 is centred on the wrist joint. Wrist breadth ~5.8 cm, palm
# breadth 8.4 cm, palm thickness ~2.4-3 cm.
_PALM = np.array(
    [
        [0.012, 0.027, 0.0160],
        [0.000, 0.029, 0.0150],
        [-0.015, 0.034, 0.0142],
        [-0.030, 0.038, 0.0135],
        [-0.045, 0.041, 0.0130],
        [-0.060, 0.042, 0.0125],
        [-0.072, 0.042, 0.0120],
        [-0.084, 0.0415, 0.0115],
        [-0.092, 0.040, 0.0105],
    ]
)
# The finger webs lie ~1-1.5 cm distal of the knuckles and slant back towards the little finger: the front
# of the palm is sheared towards the wrist by _PALM_SLANT * (_PALM_SLANT_Z - z), ramping in from x = −3 cm.
_PALM_SLANT = 0.10
_PALM_SLANT_Z = 0.030
_PALM_WRIST_RING = 1  # index in _PALM of the ring centred on the wrist joint
_PALM_EXPONENT = 0.5  # superellipse exponent of the palm cross-section (1 = ellipse, smaller = boxier)
_FINGER_FLATNESS = 0.88  # finger thickness / breadth
_THENAR_BULGE = 0.004  # m, palmar shift of the thumb metacarpal's middle (thenar eminence)

# Generator parameters at β = 0 and the 10 shape directions (one population SD each, roughly).
_DEFAULT_PARAMS: dict[str, float] = {
    "scale": 1.0,
    "finger_len": 1.0,
    "palm_len": 1.0,
    "palm_width": 1.0,
    "finger_radius": 1.0,
    "thumb_len": 1.0,
    "palm_thick": 1.0,
    "splay": 1.0,
    "index_len": 1.0,
    "ring_len": 1.0,
    "pinky_len": 1.0,
    "arch": 0.0,
}
_SHAPE_DIRECTIONS: tuple[tuple[str, dict[str, float]], ...] = (
    ("β0 overall size: +5% uniform scale about the wrist (hand length SD ~ 1 cm)", {"scale": 0.05}),
    ("β1 fingers vs palm: fingers +4% longer, palm 2.5% shorter", {"finger_len": 0.04, "palm_len": -0.025}),
    ("β2 palm width: +5% knuckle spacing and palm breadth", {"palm_width": 0.05}),
    ("β3 digit thickness: +8% finger and thumb breadth", {"finger_radius": 0.08}),
    ("β4 thumb length: +5%", {"thumb_len": 0.05}),
    ("β5 palm thickness: +8% palm and thenar thickness", {"palm_thick": 0.08}),
    ("β6 rest finger spread: +30% rest abduction angles", {"splay": 0.3}),
    ("β7 digit ratio: index +3% longer, ring 3% shorter", {"index_len": 0.03, "ring_len": -0.03}),
    ("β8 little finger length: +5%", {"pinky_len": 0.05}),
    ("β9 knuckle arch: index/ring MCP 1.5 mm, pinky MCP 3 mm towards the wrist", {"arch": 1.0}),
)
SHAPE_DESCRIPTIONS: tuple[str, ...] = tuple(d for d, _ in _SHAPE_DIRECTIONS)
"""What each of the 10 shape coefficients β does (positive direction; one unit ~ one population SD)."""


# --------------------------------------------------------------------------------------------------
# Mesh generation (numpy, float64)
# --------------------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _signed_power(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


@dataclass
class _Part:
    """A closed tube: start pole, R rings of K vertices, end pole."""

    vertices: np.ndarray  # (2 + R*K, 3)
    faces: np.ndarray  # (F, 3) local indices
    weights: np.ndarray  # (2 + R*K, 16)
    ring_start: np.ndarray  # (R,) local index of each ring's first vertex


def _tube(
    centres: np.ndarray,
    side: np.ndarray,
    dorsal: np.ndarray,
    half_widths: np.ndarray,
    weights: np.ndarray,
    k: int,
    exponent: float,
    start_pole: np.ndarray,
    end_pole: np.ndarray,
) -> _Part:
    """Closed tube through rings; ``side × dorsal`` must point along the tube (start -> end).

    Args:
        centres: (R, 3) ring centres. side, dorsal: (R, 3) unit axes of each ring.
        half_widths: (R, 2) half-extent along ``side`` and ``dorsal``.
        weights: (R + 2, 16) skinning weights of start pole, rings, end pole.
    """
    r = len(centres)
    phi = 2.0 * np.pi * np.arange(k) / k
    cs = _signed_power(np.cos(phi), exponent)  # (K,)
    sn = _signed_power(np.sin(phi), exponent)
    rings = (
        centres[:, None, :]
        + half_widths[:, None, 0:1] * cs[None, :, None] * side[:, None, :]
        + half_widths[:, None, 1:2] * sn[None, :, None] * dorsal[:, None, :]
    )  # (R, K, 3); φ runs counter-clockwise about the tube direction
    vertices = np.concatenate([start_pole[None], rings.reshape(-1, 3), end_pole[None]])
    ring_start = 1 + k * np.arange(r)
    kk = np.arange(k)
    kn = (kk + 1) % k
    faces = []
    for i in range(r - 1):  # side quads: (i,k) (i,k+1) (i+1,k+1) and (i,k) (i+1,k+1) (i+1,k)
        a, b = ring_start[i] + kk, ring_start[i] + kn
        c, d = ring_start[i + 1] + kn, ring_start[i + 1] + kk
        faces += [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]
    faces.append(np.stack([ring_start[0] + kn, ring_start[0] + kk, np.zeros(k, int)], 1))  # start cap
    last = len(vertices) - 1
    faces.append(np.stack([ring_start[-1] + kk, ring_start[-1] + kn, np.full(k, last)], 1))  # end cap
    w = np.concatenate([weights[:1], np.repeat(weights[1:-1], k, axis=0), weights[-1:]])
    return _Part(vertices, np.concatenate(faces).astype(np.int64), w, ring_start)


def _cap_offsets(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hemispherical cap with n rings: (along-axis fraction, radius fraction) per ring, pole excluded."""
    alpha = np.linspace(0.0, np.pi / 2, n + 2)[1:-1]
    return np.sin(alpha), np.cos(alpha)


@dataclass
class _Generated:
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    weights: np.ndarray  # (V, 16)
    j_regressor: np.ndarray  # (16, V)
    joints: np.ndarray  # (16, 3)
    tip_ids: np.ndarray  # (5,) thumb, index, middle, ring, pinky


def _digit(name: str, p: dict[str, float]) -> tuple[_Part, dict[int, int], np.ndarray]:
    """One digit's tube; returns the part, {joint id: ring index} and its 3 joint positions (3, 3)."""
    f = _FINGERS[name]
    s = p["scale"]
    is_thumb = name == "thumb"
    base = np.array(f.base, dtype=float)
    base[0] = base[0] * p["palm_len"] + 0.003 * _ARCH[name] * p["arch"]
    base[2] *= p["palm_width"]
    base *= s
    direction = np.asarray(f.direction, dtype=float)
    direction /= np.linalg.norm(direction)
    ang = f.splay * p["splay"]  # abduction in the palm plane: positive turns −x towards +z (thumb side)
    ca, sa = np.cos(ang), np.sin(ang)
    direction = np.array(
        [ca * direction[0] - sa * direction[2], direction[1], -sa * direction[0] + ca * direction[2]]
    )
    length_scale = s * (p["thumb_len"] if is_thumb else p["finger_len"] * p.get(f"{name}_len", 1.0))
    lengths = np.asarray(f.lengths) * length_scale
    radii = np.asarray(f.radii) * s * p["finger_radius"]
    base_len = f.base_length * s

    # Ring frame: dorsal = +y made orthogonal to the bone line, side = dorsal × direction.
    dorsal = np.array([0.0, 1.0, 0.0]) - direction[1] * direction
    dorsal /= np.linalg.norm(dorsal)
    side = np.cross(dorsal, direction)

    t_j = base_len + np.concatenate([[0.0], np.cumsum(lengths[:2])])  # arc length of the 3 joints
    tip_len = radii[3] * 0.9  # length of the fingertip cap
    t_tipc = base_len + lengths.sum() - tip_len  # arc length of the fingertip cap's centre ring
    t_rings = np.concatenate(
        [
            [0.0, 0.5 * t_j[0], t_j[0]],
            t_j[0] + lengths[0] * np.array([0.25, 0.5, 0.75]),
            [t_j[1]],
            t_j[1] + lengths[1] * np.array([1 / 3, 2 / 3]),
            [t_j[2], 0.5 * (t_j[2] + t_tipc), t_tipc],
        ]
    )
    joint_rings = {f.joints[0]: 2, f.joints[1]: 6, f.joints[2]: 9}
    r_rings = np.interp(t_rings, [0.0, *t_j, t_tipc], [radii[0] * 0.95, *radii])
    centres = base[None] + (t_rings - base_len)[:, None] * direction[None]
    hw = np.stack([r_rings, r_rings * _FINGER_FLATNESS], 1)
    if is_thumb:  # thenar eminence: the metacarpal segment bulges palmar and widens, zero at the joints
        bump = np.sin(np.pi * np.clip((t_rings - t_j[0]) / lengths[0], 0.0, 1.0))
        bump += np.where(t_rings < t_j[0], np.sin(np.pi * t_rings / t_j[0]) * 0.6, 0.0)  # and into the palm
        centres -= (_THENAR_BULGE * s * p["palm_thick"] * bump)[:, None] * dorsal[None]
        hw += (0.003 * s * p["palm_thick"] * bump)[:, None]

    # Caps: base (inside the palm) and fingertip (its pole is the fingertip keypoint).
    fa, fr = _cap_offsets(2)
    base_cap_len = 0.6 * r_rings[0]
    start_pole = centres[0] - base_cap_len * direction
    base_caps = centres[0][None] - (fa * base_cap_len)[:, None] * direction[None]
    tip_caps = centres[-1][None] + (fa * tip_len)[:, None] * direction[None]
    centres = np.concatenate([base_caps[::-1], centres, tip_caps])
    hw = np.concatenate([hw[0][None] * fr[::-1, None], hw, hw[-1][None] * fr[:, None]])
    t_all = np.concatenate([[-1.0, -1.0], t_rings, [t_tipc + 1.0] * 2])
    end_pole = base + lengths.sum() * direction  # fingertip

    # Skinning weights: parent (wrist) -> bone 1 -> bone 2 -> bone 3 along the arc length.
    t_w = np.concatenate([[-1.0], t_all, [t_tipc + 1.0]])
    half = np.minimum(0.55 * radii[:3], 0.4 * np.minimum(np.r_[base_len, lengths[:2]], lengths))
    ramps = np.stack([_smoothstep((t_w - t_j[i] + half[i]) / (2 * half[i])) for i in range(3)], 1)  # (R+2, 3)
    w = np.zeros((len(t_w), _NUM_JOINTS))
    w[:, 0] = 1.0 - ramps[:, 0]
    w[:, f.joints[0]] = ramps[:, 0] - ramps[:, 1]
    w[:, f.joints[1]] = ramps[:, 1] - ramps[:, 2]
    w[:, f.joints[2]] = ramps[:, 2]

    part = _tube(
        centres,
        np.repeat(side[None], len(centres), 0),
        np.repeat(dorsal[None], len(centres), 0),
        hw,
        w,
        _RING_FINGER,
        1.0,
        start_pole,
        end_pole,
    )
    joint_rings = {j: r + len(base_caps) for j, r in joint_rings.items()}
    joints = base[None] + (t_j - base_len)[:, None] * direction[None]
    return part, joint_rings, joints


def _palm(p: dict[str, float], front_z: float) -> tuple[_Part, int]:
    """The palm tube from the back of the wrist to the knuckles; returns it and the wrist ring index."""
    s = p["scale"]
    x = _PALM[:, 0] * p["palm_len"] * s
    half_w = _PALM[:, 1] * p["palm_width"] * s
    half_t = _PALM[:, 2] * p["palm_thick"] * s
    z = np.clip(-x / (-_PALM[-1, 0] * p["palm_len"] * s), 0.0, 1.0) * front_z  # 0 at and behind the wrist
    centres = np.stack([x, np.zeros_like(x), z], 1)
    hw = np.stack([half_w, half_t], 1)
    fa, fr = _cap_offsets(2)
    back_len, front_len = 0.010 * s, 0.008 * s
    direction = np.array([-1.0, 0.0, 0.0])  # back of the wrist -> knuckles
    start_pole = centres[0] - back_len * direction
    end_pole = centres[-1] + front_len * direction
    back = centres[0][None] - (fa * back_len)[:, None] * direction[None]
    front = centres[-1][None] + (fa * front_len)[:, None] * direction[None]
    centres = np.concatenate([back[::-1], centres, front])
    hw = np.concatenate([hw[0][None] * fr[::-1, None], hw, hw[-1][None] * fr[:, None]])
    n = len(centres)
    dorsal = np.array([0.0, 1.0, 0.0])
    side = np.cross(dorsal, direction)  # +z
    w = np.zeros((n + 2, _NUM_JOINTS))
    w[:, 0] = 1.0
    part = _tube(
        centres,
        np.repeat(side[None], n, 0),
        np.repeat(dorsal[None], n, 0),
        hw,
        w,
        _RING_PALM,
        _PALM_EXPONENT,
        start_pole,
        end_pole,
    )
    # Slant the front: per ring (and pole) shear x += k (z_ref − z); k = 0 behind x = −3 cm (wrist untouched).
    x_front = x[-1]
    ring_x = np.concatenate([[start_pole[0]], centres[:, 0], [end_pole[0]]])
    k = _PALM_SLANT * np.clip((ring_x + 0.030 * s) / (x_front + 0.030 * s), 0.0, 1.0)
    k_v = np.concatenate([k[:1], np.repeat(k[1:-1], _RING_PALM), k[-1:]])
    part.vertices[:, 0] += k_v * (_PALM_SLANT_Z * s * p["palm_width"] - part.vertices[:, 2])
    return part, len(back) + _PALM_WRIST_RING


def _generate(params: dict[str, float]) -> _Generated:
    """Build the whole hand for one set of generator parameters (right hand, model frame)."""
    p = dict(_DEFAULT_PARAMS)
    p.update(params)
    digits = {name: _digit(name, p) for name in _FINGER_ORDER}
    front_z = 0.5 * (digits["index"][2][0, 2] + digits["pinky"][2][0, 2])
    palm, wrist_ring = _palm(p, front_z)

    parts = [palm] + [digits[n][0] for n in _FINGER_ORDER]
    offsets = np.cumsum([0] + [len(q.vertices) for q in parts])
    vertices = np.concatenate([q.vertices for q in parts])
    faces = np.concatenate([q.faces + o for q, o in zip(parts, offsets)])
    weights = np.concatenate([q.weights for q in parts])

    num_v = len(vertices)
    j_reg = np.zeros((_NUM_JOINTS, num_v))
    joints = np.zeros((_NUM_JOINTS, 3))
    j_reg[0, offsets[0] + palm.ring_start[wrist_ring] + np.arange(_RING_PALM)] = 1.0 / _RING_PALM
    for part_i, name in enumerate(_FINGER_ORDER, start=1):
        part, rings, pos = digits[name]
        for (j, ring), xyz in zip(rings.items(), pos):
            j_reg[j, offsets[part_i] + part.ring_start[ring] + np.arange(_RING_FINGER)] = 1.0 / _RING_FINGER
            joints[j] = xyz
    tip_ids = np.array(
        [offsets[1 + _FINGER_ORDER.index(n)] + len(digits[n][0].vertices) - 1 for n in _TIP_ORDER]
    )
    return _Generated(vertices, faces, weights, j_reg, joints, tip_ids)


def signed_volume(vertices: np.ndarray | torch.Tensor, faces: np.ndarray | torch.Tensor) -> float:
    """Signed volume (m³) enclosed by a triangle mesh; positive when the faces wind outward."""
    v = np.asarray(vertices.detach().cpu() if torch.is_tensor(vertices) else vertices, dtype=np.float64)
    f = np.asarray(faces.detach().cpu() if torch.is_tensor(faces) else faces)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@dataclass
class _Arrays:
    v_template: np.ndarray
    shapedirs: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    j_regressor: np.ndarray
    joints: np.ndarray
    tip_ids: np.ndarray


def _build_arrays() -> _Arrays:
    """Right-hand template, shape directions (central differences of the generator), topology."""
    rest = _generate({})
    shapedirs = np.zeros(rest.vertices.shape + (len(_SHAPE_DIRECTIONS),))
    for k, (_, delta) in enumerate(_SHAPE_DIRECTIONS):
        plus = _generate({key: _DEFAULT_PARAMS[key] + d for key, d in delta.items()}).vertices
        minus = _generate({key: _DEFAULT_PARAMS[key] - d for key, d in delta.items()}).vertices
        shapedirs[:, :, k] = 0.5 * (plus - minus)
    return _Arrays(
        rest.vertices, shapedirs, rest.faces, rest.weights, rest.j_regressor, rest.joints, rest.tip_ids
    )


_CACHE: dict[str, _Arrays] = {}


def _arrays() -> _Arrays:
    """The generated right-hand arrays, built once per process (about 0.1 s)."""
    if "right" not in _CACHE:
        start = time.perf_counter()
        _CACHE["right"] = _build_arrays()
        logger.debug("generated %s in %.3f s", OpenHandModel.name, time.perf_counter() - start)
    return _CACHE["right"]


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


class OpenHandModel(torch.nn.Module):
    """Our open hand model with MANO's parameter interface (see the module docstring for frame and anatomy).

    Args:
        side: ``'right'`` or ``'left'`` (the left hand is the mirror image about the model's x = 0 plane).
        dtype: floating-point type of the buffers and outputs.

    Buffers: ``v_template`` (V, 3) m, ``shapedirs`` (V, 3, 10) m per unit β, ``posedirs`` (135, V*3)
    (zeros), ``J_regressor`` (16, V), ``parents`` (16,), ``lbs_weights`` (V, 16), ``faces`` (F, 3),
    ``fingertip_vertex_ids`` (5,) in thumb, index, middle, ring, pinky order, ``joints_template`` (16, 3) m,
    ``keypoint_index`` (21,) (``keypoints.MANO_JOINT_TO_KEYPOINT``).
    """

    NUM_JOINTS = 16
    NUM_BETAS = 10
    NUM_POSE_JOINTS = 15
    NUM_FINGERTIPS = 5
    name = "open_hand_v1"

    def __init__(self, side: str = "right", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side: {side!r} not in {{'right', 'left'}}")
        self.side = side
        a = _arrays()
        v_template, shapedirs, joints, faces = a.v_template, a.shapedirs, a.joints, a.faces
        if side == "left":  # mirror about x = 0; reverse the winding so normals still point outward
            mirror = np.array([-1.0, 1.0, 1.0])
            v_template = v_template * mirror
            shapedirs = shapedirs * mirror[None, :, None]
            joints = joints * mirror
            faces = faces[:, [0, 2, 1]]
        num_v = len(v_template)
        self.register_buffer("v_template", torch.tensor(v_template, dtype=dtype))
        self.register_buffer("shapedirs", torch.tensor(shapedirs, dtype=dtype))
        self.register_buffer("posedirs", torch.zeros(self.NUM_POSE_JOINTS * 9, num_v * 3, dtype=dtype))
        self.register_buffer("J_regressor", torch.tensor(a.j_regressor, dtype=dtype))
        self.register_buffer("parents", torch.tensor(MANO_PARENTS, dtype=torch.long))
        self.register_buffer("lbs_weights", torch.tensor(a.weights, dtype=dtype))
        self.register_buffer("faces", torch.tensor(faces, dtype=torch.long))
        self.register_buffer("fingertip_vertex_ids", torch.tensor(a.tip_ids, dtype=torch.long))
        self.register_buffer("joints_template", torch.tensor(joints, dtype=dtype))
        self.register_buffer("keypoint_index", torch.tensor(MANO_JOINT_TO_KEYPOINT, dtype=torch.long))

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def extra_repr(self) -> str:
        return f"name={self.name}, side={self.side}, vertices={self.num_vertices}, faces={self.num_faces}"

    def forward(
        self,
        betas: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        hand_pose: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandModelOutput:
        """Pose and shape the hand.

        Args:
            betas: (B, 10) shape coefficients (``SHAPE_DESCRIPTIONS``), or None for the mean shape.
            global_orient: (B, 3) axis-angle rad or (B, 3, 3) rotation matrix of the wrist, in the model
                frame; None for identity.
            hand_pose: (B, 45) or (B, 15, 3) axis-angle rad, or (B, 15, 3, 3) rotation matrices, of the 15
                finger joints in MANO's order (index1..3, middle1..3, pinky1..3, ring1..3, thumb1..3),
                relative to their parents; None (or zeros) is the flat open hand.
            transl: (B, 3) m added to every output point, or None.

        Returns:
            ``HandModelOutput`` in the model frame + ``transl``.

        Raises:
            ValueError: bad shapes, batch sizes, NaN/inf, or matrices that are not rotations.
        """
        x = prepare_inputs(betas, global_orient, hand_pose, transl, like=self.v_template)
        vertices, joints = lbs(
            x.betas,
            x.full_pose,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.lbs_weights,
            pose2rot=x.pose2rot,
        )
        if x.transl is not None:
            vertices = vertices + x.transl[:, None]
            joints = joints + x.transl[:, None]
        tips = vertices[:, self.fingertip_vertex_ids]  # (B, 5, 3)
        keypoints = torch.cat([joints, tips], dim=1)[:, self.keypoint_index]  # (B, 21, 3)
        return HandModelOutput(vertices, joints, keypoints, self.faces, self.name, self.side)

    def rest_joints(self, betas: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 16, 3) m: the joints of the shaped hand in the flat rest pose (``J_regressor @ shaped``)."""
        if betas is None:
            return self.joints_template[None]
        x = prepare_inputs(betas, None, None, None, like=self.v_template)
        shaped = self.v_template + torch.einsum("bl,vkl->bvk", x.betas, self.shapedirs)
        return torch.einsum("jv,bvk->bjk", self.J_regressor, shaped)

    def to_mano_dict(self) -> dict[str, object]:
        """This model as the dictionary stored in a MANO pickle (the keys ``smplx.MANO`` reads).

        ``J_regressor`` is a ``scipy.sparse.csc_matrix`` as in MANO's files; ``hands_components`` is the
        identity (PCA coefficients = axis-angle) and ``hands_mean`` is zero (the flat hand).
        """
        import scipy.sparse

        num_v = self.num_vertices
        posedirs = self.posedirs.detach().cpu().double().numpy().T.reshape(num_v, 3, -1)  # (V, 3, 135)
        kintree = np.stack([np.array(MANO_PARENTS, dtype=np.int64), np.arange(self.NUM_JOINTS)])
        return {
            "v_template": self.v_template.detach().cpu().double().numpy(),
            "shapedirs": self.shapedirs.detach().cpu().double().numpy(),
            "posedirs": posedirs,
            "J_regressor": scipy.sparse.csc_matrix(self.J_regressor.detach().cpu().double().numpy()),
            "J": self.joints_template.detach().cpu().double().numpy(),
            "kintree_table": kintree,
            "weights": self.lbs_weights.detach().cpu().double().numpy(),
            "f": self.faces.detach().cpu().numpy().astype(np.uint32),
            "hands_components": np.eye(3 * self.NUM_POSE_JOINTS),
            "hands_coeffs": np.zeros((1, 3 * self.NUM_POSE_JOINTS)),
            "hands_mean": np.zeros(3 * self.NUM_POSE_JOINTS),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
            "model_name": self.name,
            "side": self.side,
            "fingertip_vertex_ids": self.fingertip_vertex_ids.cpu().numpy(),
            "notice": f"{self.name}: procedurally generated open hand model from wildhands (not MANO).",
        }

    def save_mano_pickle(self, path: str | os.PathLike) -> Path:
        """Write ``to_mano_dict()`` as a MANO-format pickle; returns the file written.

        A directory gets ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (the names ``smplx.MANO`` looks for).
        Load with ``smplx.MANO(model_path=file, is_rhand=..., use_pca=False, flat_hand_mean=True)``.
        """
        path = Path(path)
        if path.is_dir():
            path = path / f"MANO_{self.side.upper()}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(self.to_mano_dict(), fh, protocol=2)
        logger.info("wrote %s (%s, %s) to %s", self.name, self.side, "MANO format", path)
        return path
