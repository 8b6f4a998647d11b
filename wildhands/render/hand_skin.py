"""A smooth single-surface render skin for the open hand, with a forearm and a sleeve (issue 22 item 2).

``OpenHandModel``'s mesh (six interpenetrating tapered tubes) defines the keypoints, the joint regressor and
the MANO interface and stays as it is. This module builds a second, render-only surface driven by the same
skeleton: for any (β, global orientation, hand pose) its joints' rigid transforms are exactly the model's
(``smplx.lbs.batch_rigid_transform`` of ``model.rest_joints(β)``), so the skin follows the labels. Nothing is
downloaded or shipped: the surface is generated procedurally, in about a second, once per process.

Construction (right hand, model frame, metres):

1. an implicit surface around the model's rest skeleton posed with the fingers spread (so that neighbouring
   fingers stay separate surfaces): round cones along every finger bone (radii = the tube model's rings x
   ``_FINGER_RADIUS_SCALE``: adult finger breadths; the last cone ending at the fingertip keypoint), a
   rounded palm slab over the knuckle polygon (thicker at the heel), a forearm (an elliptic cylinder, 24 cm,
   that widens from the wrist, 5.7 x 3.6 cm, to the muscles' girth, 7.8 x 6.2 cm, 14 cm up the arm:
   ``_FOREARM_*``) -- joined with a smooth minimum, so the webs and the wrist are one surface;
2. surface nets on a 2.5 mm grid (a watertight quad mesh), triangulated, Taubin-smoothed;
3. skinning weights: each vertex belongs to its nearest primitive (bone), blended with the parent / child
   bone across each joint with a smoothstep over ~0.6 finger radius, then smoothed over the mesh;
4. un-posed to the flat rest pose with the inverse of its blended spread-pose transform;
5. shape blend shapes transferred from the tube model's nearest vertices (inverse-distance, k = 4);
6. posed by dual-quaternion skinning (``dual_quaternion_skinning``): a finger flexed by 90 deg keeps its
   thickness across the joint, where linear blend skinning narrows it by up to ~2 mm. (Step 4 un-poses with
   the inverse linear blend: posing the result back to the spread pose by dual quaternions differs from
   the step-2 surface by a fraction of a millimetre.)

The sleeve is a separate closed elliptic tube around the forearm, rigid to the wrist, its cuff slid along
the arm per frame. Per-vertex attributes for shading: part (hand / arm / sleeve), nail, palmar side, joint
creases. Left hands mirror x as ``OpenHandModel`` does (winding reversed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from smplx.lbs import batch_rigid_transform, batch_rodrigues

from wildhands.geometry.rotations import matrix_to_quaternion_xyzw, quaternion_multiply_xyzw
from wildhands.handmodel import OpenHandModel

logger = logging.getLogger(__name__)

__all__ = [
    "HandSkin",
    "SkinMesh",
    "PART_HAND",
    "PART_ARM",
    "PART_SLEEVE",
    "SLEEVE_CUFF_RANGE_M",
    "surface_nets",
    "taubin_smooth",
]

PART_HAND, PART_ARM, PART_SLEEVE = 0, 1, 2
_GRID_M = 0.0025
# finger radii = the tube model's ring radii x this: at beta = 0 (a hand 186 mm long, wrist to middle tip: an
# average man's) the index finger is 21.2 mm broad at the PIP and 18.6 mm at the DIP, the little finger
# 17.8 / 15.5 mm: about the adult male averages of hand anthropometry surveys (index ~21 mm at the PIP,
# ~18-19 mm at the DIP), as the skeleton's length is. 0.94 until session 11 (fingers ~18 % thinner than
# that): MediaPipe's landmark network read those renders worse
# (docs/render-realism.md#finger-breadth-and-natural-other-poses)
_FINGER_RADIUS_SCALE = 1.15
#: fingertip radius / DIP radius (the pad of a distal phalanx: ~16.7 mm broad for the index at beta = 0)
_TIP_RADIUS_RATIO = 0.90
_SMOOTH_K = 0.006  # m, smooth-minimum width between palm, fingers and forearm
# The forearm (model frame: +x towards the elbow, y dorsal, z across the wrist): an elliptic cylinder from
# _FOREARM_START_X to _FOREARM_END_X whose half-axes (z, y) grow, smoothly, from _FOREARM_WRIST_M at the wrist
# to _FOREARM_FULL_M (the muscle bellies) _FOREARM_GROW_M further up the arm. Adult anthropometry: wrist
# ~5.5-6.5 x 3.5-4.5 cm (circumference ~16-18 cm), forearm ~15-26 cm round 10-15 cm above the wrist; ours
# 5.7 x 3.6 cm and 7.8 x 6.2 cm (~22 cm round). Until generator version 4 it was a round cone of wrist size
# (5.4 x 3.3 -> 6.0 x 3.6 cm) ending 12 cm up the arm: a thin stick, seen edge-on, with its end in view.
_FOREARM_START_X = 0.012
_FOREARM_END_X = 0.24
_FOREARM_GROW_M = 0.13
_FOREARM_WRIST_M = (0.0285, 0.018)
_FOREARM_FULL_M = (0.039, 0.031)
_SLEEVE_HIDES_M = 0.01  # forearm faces this far past the cuff lie inside the sleeve (tested): not drawn
#: where a sleeve's cuff may sit, m behind the wrist (HandSkin.skin's sleeve_x; the generator draws from it)
SLEEVE_CUFF_RANGE_M = (0.03, 0.11)
# the thenar eminence: centre at this fraction of the thumb's metacarpal and these m towards the palm's
# centre and palmar; semi-axes (a fraction of the metacarpal's length, m, m); merged into the palm
_THENAR_AT = (0.42, 0.007, 0.002)
_THENAR_RADII_M = (0.55, 0.015, 0.011)
_THENAR_SMOOTH_M = 0.008
_ARM_START_X = 0.012  # faces behind this (towards the elbow) are the arm, not the hand
# finger chains: (MANO joints base -> tip, index of the tip in fingertip_vertex_ids order thumb..pinky)
_CHAINS = {
    "index": ((1, 2, 3), 1),
    "middle": ((4, 5, 6), 2),
    "pinky": ((7, 8, 9), 4),
    "ring": ((10, 11, 12), 3),
    "thumb": ((13, 14, 15), 0),
}
_SPREAD_DEG = {"index": 9.0, "middle": 0.0, "ring": -9.0, "pinky": -18.0, "thumb": 0.0}


# ------------------------------------------------------------------------------------------- mesh tools


def surface_nets(values: np.ndarray, origin: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Naive surface nets of the zero level set of a sampled field (negative inside): one vertex per cell
    the surface crosses (the mean of its edges' crossings), one quad per crossed grid edge. Returns
    (vertices (V, 3), triangles (F, 3)) wound counter-clockwise seen from outside (normals along +grad)."""
    f = np.asarray(values, np.float64)
    nx, ny, nz = f.shape
    inside = f < 0
    corners = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    cnt = sum(inside[a : nx - 1 + a, b : ny - 1 + b, c : nz - 1 + c].astype(np.int8) for a, b, c in corners)
    active = (cnt > 0) & (cnt < 8)
    cell_id = np.full(active.shape, -1, np.int64)
    cells = np.argwhere(active)
    cell_id[active] = np.arange(len(cells))
    acc = np.zeros((len(cells), 3))
    num = np.zeros(len(cells))
    for a, b, c in corners:
        for d, (e0, e1, e2) in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
            if (a, b, c)[d] == 1:
                continue
            p0 = cells + np.array([a, b, c])
            p1 = p0 + np.array([e0, e1, e2])
            f0 = f[p0[:, 0], p0[:, 1], p0[:, 2]]
            f1 = f[p1[:, 0], p1[:, 1], p1[:, 2]]
            cross = (f0 < 0) != (f1 < 0)
            t = np.where(cross, f0 / np.where(cross, f0 - f1, 1.0), 0.0)
            acc += cross[:, None] * (p0 + t[:, None] * np.array([e0, e1, e2]))
            num += cross
    vertices = origin + spacing * acc / np.maximum(num, 1)[:, None]
    quads = []
    for d in range(3):
        e = np.eye(3, dtype=np.int64)[d]
        a, b = [i for i in range(3) if i != d]
        sl0 = [slice(None)] * 3
        sl1 = [slice(None)] * 3
        sl0[d], sl1[d] = slice(0, -1), slice(1, None)
        change = inside[tuple(sl0)] != inside[tuple(sl1)]
        idx = np.argwhere(change)  # edge from idx to idx + e
        ok = (idx[:, a] >= 1) & (idx[:, b] >= 1) & (idx[:, a] < f.shape[a] - 1) & (idx[:, b] < f.shape[b] - 1)
        idx = idx[ok]
        ea, eb = np.eye(3, dtype=np.int64)[a], np.eye(3, dtype=np.int64)[b]
        q = np.stack([idx - ea - eb, idx - eb, idx, idx - ea], 1)  # 4 cells around the edge
        ids = cell_id[q[..., 0], q[..., 1], q[..., 2]]
        flip = inside[idx[:, 0], idx[:, 1], idx[:, 2]]  # inside -> outside along +e: normal along +e
        ids = np.where(flip[:, None], ids, ids[:, ::-1])
        # orientation of (cells a-b, ...) about e: fix to the right-hand rule with a test below
        quads.append((ids, np.repeat(e[None], len(ids), 0) * np.where(flip, 1, -1)[:, None]))
    ids = np.concatenate([q for q, _ in quads])
    normal_dir = np.concatenate([n for _, n in quads]).astype(np.float64)
    tris = np.concatenate([ids[:, [0, 1, 2]], ids[:, [0, 2, 3]]])
    want = np.concatenate([normal_dir, normal_dir])
    v = vertices
    n = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    wrong = np.einsum("ij,ij->i", n, want) < 0
    tris[wrong] = tris[wrong][:, [0, 2, 1]]
    return vertices, tris


def _adjacency(faces: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    a = scipy.sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    a.data[:] = 1.0
    deg = np.asarray(a.sum(1)).ravel()
    return scipy.sparse.diags(1.0 / np.maximum(deg, 1)) @ a


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Taubin's λ|μ smoothing (0.5, -0.53): removes the grid's facets without shrinking the surface."""
    m = _adjacency(faces, len(vertices))
    v = vertices.copy()
    for _ in range(iterations):
        v = v + 0.5 * (m @ v - v)
        v = v - 0.53 * (m @ v - v)
    return v


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, incidence: scipy.sparse.csr_matrix) -> np.ndarray:
    """Area-weighted unit vertex normals; ``incidence`` is the (V, F) vertex-face matrix."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = incidence @ n
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------------------------ fields


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(distance to the segment a-b, unclamped parameter u in m along it from a, its length)."""
    d = b - a
    length = float(np.linalg.norm(d))
    u = (p - a) @ (d / length)
    t = np.clip(u / length, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * d), axis=1), u, length


def _round_cone(p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    dist, u, length = _segment(p, a, b)
    t = np.clip(u / length, 0.0, 1.0)
    return dist - (ra + (rb - ra) * t)


def _polygon_sdf(p2: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of 2D points to a simple polygon (Quilez's formula)."""
    d = np.sum((p2 - poly[0]) ** 2, axis=1)
    s = np.ones(len(p2))
    n = len(poly)
    for i in range(n):
        vi, vj = poly[i], poly[i - 1]
        e = vj - vi
        w = p2 - vi
        b = w - e * np.clip((w @ e) / (e @ e), 0.0, 1.0)[:, None]
        d = np.minimum(d, np.sum(b * b, axis=1))
        c1 = p2[:, 1] >= vi[1]
        c2 = p2[:, 1] < vj[1]
        c3 = e[0] * w[:, 1] > e[1] * w[:, 0]
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        s = np.where(flip, -s, s)
    return s * np.sqrt(d)


@dataclass
class _Primitives:
    """The implicit hand in the spread pose: per primitive (0 = palm + forearm, 1.. = the 15 finger bones
    in MANO joint order 1..15) its field over points."""

    joints: np.ndarray  # (16, 3) spread pose
    tips: np.ndarray  # (5, 3) thumb..pinky
    radii: np.ndarray  # (16,) bone radius at each joint
    tip_radii: np.ndarray  # (5,)
    palm_poly: np.ndarray  # (P, 2) in (x, z)
    bone_end: np.ndarray  # (16, 3) far end of each finger bone (child joint or tip)
    bone_end_radius: np.ndarray  # (16,)
    thenar_centre: np.ndarray  # (3,) the thumb's ball (an ellipsoid)
    thenar_axes: np.ndarray  # (3, 3) rows: its unit axes
    thenar_radii: np.ndarray  # (3,) m its semi-axes along them

    def palm(self, p: np.ndarray) -> np.ndarray:
        q = _polygon_sdf(p[:, [0, 2]], self.palm_poly)
        x_front = float(self.palm_poly[:, 0].min())
        heel = np.clip(p[:, 0] / x_front, 0.0, 1.0)  # 0 at the wrist, 1 at the knuckles
        t = 0.0055 - 0.0035 * heel  # inner half thickness (+ the rounding radius below)
        r = 0.0085
        y = p[:, 1] + 0.0015 * (1 - heel)  # the heel bulges palmar
        qy = np.abs(y) - t
        qq = np.stack([q, qy], 1)
        return np.linalg.norm(np.maximum(qq, 0), axis=1) + np.minimum(qq.max(1), 0) - r

    def thenar(self, p: np.ndarray) -> np.ndarray:
        q = (p - self.thenar_centre) @ self.thenar_axes.T / self.thenar_radii
        k0 = np.linalg.norm(q, axis=1)
        k1 = np.maximum(np.linalg.norm(q / self.thenar_radii, axis=1), 1e-9)
        return k0 * (k0 - 1.0) / k1  # Quilez's ellipsoid distance bound

    def forearm(self, p: np.ndarray) -> np.ndarray:
        """Field of the forearm (``_FOREARM_*``): an elliptic cylinder along +x, flat-capped, its half-axes
        growing with a smoothstep from the wrist's to the muscles' (an approximate distance: the ellipse's
        normalised radius times its smaller half-axis)."""
        x0, x1 = _FOREARM_START_X, _FOREARM_END_X
        grow = _smoothstep((p[:, 0] - x0) / _FOREARM_GROW_M)
        (wz, wy), (fz, fy) = _FOREARM_WRIST_M, _FOREARM_FULL_M
        rz, ry = wz + (fz - wz) * grow, wy + (fy - wy) * grow
        z = p[:, 2] + 0.002 * (1.0 + grow)  # the axis a little to the little finger's side, as the ulna
        radial = (np.sqrt((p[:, 1] / ry) ** 2 + (z / rz) ** 2) - 1.0) * np.minimum(ry, rz)
        q = np.stack([radial, np.maximum(x0 - p[:, 0], p[:, 0] - x1)], 1)
        return np.minimum(q.max(1), 0.0) + np.linalg.norm(np.maximum(q, 0.0), axis=1)

    def bone(self, j: int, p: np.ndarray) -> np.ndarray:
        return _round_cone(p, self.joints[j], self.bone_end[j], self.radii[j], self.bone_end_radius[j])

    def field(self, p: np.ndarray) -> np.ndarray:
        body = _smin(_smin(self.palm(p), self.thenar(p), _THENAR_SMOOTH_M), self.forearm(p), 0.012)
        fingers = {
            name: np.min([self.bone(j, p) for j in chain], axis=0) for name, (chain, _) in _CHAINS.items()
        }
        out = body
        for name, d in fingers.items():
            out = _smin(out, d, _SMOOTH_K if name != "thumb" else 1.6 * _SMOOTH_K)
        return out


def _thenar(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The thenar eminence (the ball of the thumb) as an ellipsoid (centre, axes, semi-axes) in the spread
    pose: along the thumb's metacarpal, filling the palm between it and the palm's centre, bulging palmar."""
    cmc, mcp = joints[13], joints[14]
    length = float(np.linalg.norm(mcp - cmc))
    along = (mcp - cmc) / length
    palmar = np.array([0.0, -1.0, 0.0]) - (-along[1]) * along
    palmar /= np.linalg.norm(palmar)
    inward = np.cross(palmar, along)
    palm_centre = 0.5 * (joints[0] + joints[4])
    if inward @ (palm_centre - cmc) < 0:
        inward = -inward
    centre = cmc + _THENAR_AT[0] * length * along + _THENAR_AT[1] * inward + _THENAR_AT[2] * palmar
    radii = np.array([_THENAR_RADII_M[0] * length, *_THENAR_RADII_M[1:]])
    return centre, np.stack([along, inward, palmar]), radii


def _ring_radius(model: OpenHandModel, j: int) -> float:
    reg = model.J_regressor[j].double().numpy()
    ring = model.v_template.double().numpy()[reg > 0]
    return float(np.linalg.norm(ring - model.joints_template[j].double().numpy(), axis=1).mean())


def _spread_pose() -> np.ndarray:
    pose = np.zeros((15, 3))
    for name, (chain, _) in _CHAINS.items():
        pose[chain[0] - 1] = [0.0, np.deg2rad(_SPREAD_DEG[name]), 0.0]
    return pose


def _transforms(rest_joints: torch.Tensor, full_pose: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """(B, 16, 4, 4) skinning transforms (rest -> posed) of axis-angle ``full_pose`` (B, 16, 3)."""
    b = full_pose.shape[0]
    rot = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(b, -1, 3, 3)
    _, a = batch_rigid_transform(rot, rest_joints.expand(b, -1, -1), parents, dtype=rest_joints.dtype)
    return a


# --------------------------------------------------------------------------------------------------- skin


@dataclass
class SkinMesh:
    """A posed skin in the model frame (no translation)."""

    vertices: np.ndarray  # (V, 3) m
    faces: np.ndarray  # (F, 3)
    part: np.ndarray  # (V,) PART_*
    face_part: np.ndarray  # (F,) PART_*: a face is arm / sleeve when its centre is
    nail: np.ndarray  # (V,) [0, 1]
    palmar: np.ndarray  # (V,) [0, 1]
    crease: np.ndarray  # (V,) [0, 1]
    along: np.ndarray  # (V,) m along the arm (+x in the rest frame), for sleeve folds
    normals: np.ndarray  # (V,) unit vertex normals
    spheres: np.ndarray  # (S, 3) m: occluder spheres along the posed skeleton (ambient occlusion)
    sphere_radii: np.ndarray  # (S,) m

    def occlusion(self) -> np.ndarray:
        """(V,) ambient occlusion in [0, 1] from the skeleton's spheres: sum of each sphere's solid-angle
        term ``r^2 / d^2 * max(0, n . (c - v) / d)`` (a vertex's own bone lies behind it and adds nothing);
        0 for the sleeve and for vertices of no face (the forearm hidden in the sleeve)."""
        used = np.zeros(len(self.vertices), bool)
        used[self.faces] = True
        used &= self.part != PART_SLEEVE
        d = self.spheres[None] - self.vertices[used][:, None]  # (V', S, 3)
        dist = np.maximum(np.linalg.norm(d, axis=2), 1e-4)
        cos = np.einsum("vsc,vc->vs", d, self.normals[used]) / dist
        dist = np.maximum(dist, self.sphere_radii[None])
        occ = np.zeros(len(self.vertices))
        occ[used] = (self.sphere_radii[None] ** 2 / dist**2 * np.clip(cos, 0.0, 1.0)).sum(1)
        return np.clip(occ, 0.0, 1.0)


@dataclass
class _SkinArrays:
    v_rest: np.ndarray
    faces: np.ndarray
    weights: np.ndarray  # (V, 16)
    shapedirs: np.ndarray  # (V, 3, 10)
    nail: np.ndarray
    palmar: np.ndarray
    crease: np.ndarray
    hand_part: np.ndarray  # (V,) PART_HAND / PART_ARM
    radii: np.ndarray  # (16,) m bone radius at each joint
    bone_child: np.ndarray  # (16,) the next joint of each finger bone, -1 for the last one / the wrist


def _build(model: OpenHandModel) -> _SkinArrays:
    start = time.perf_counter()
    parents = model.parents
    rest_j = model.joints_template.double()[None]
    spread = np.concatenate([np.zeros((1, 3)), _spread_pose()])[None]
    a_spread = _transforms(rest_j, torch.from_numpy(spread), parents)[0].numpy()  # (16, 4, 4)
    with torch.no_grad():
        out = model(hand_pose=torch.from_numpy(spread[:, 1:].reshape(1, 45)).to(model.v_template.dtype))
    joints = out.joints[0].double().numpy()
    tip_ids = model.fingertip_vertex_ids.numpy()
    tips = out.vertices[0].double().numpy()[tip_ids]
    radii = np.array([_ring_radius(model, j) for j in range(16)]) * _FINGER_RADIUS_SCALE
    tip_r = np.zeros(5)
    bone_end = np.zeros((16, 3))
    bone_end_r = np.zeros(16)
    for chain, tip_i in _CHAINS.values():
        tip_r[tip_i] = _TIP_RADIUS_RATIO * radii[chain[2]]
        for k, j in enumerate(chain):
            if k < 2:
                bone_end[j], bone_end_r[j] = joints[chain[k + 1]], radii[chain[k + 1]]
            else:
                d = tips[tip_i] - joints[j]
                bone_end[j] = tips[tip_i] - tip_r[tip_i] * d / np.linalg.norm(d)
                bone_end_r[j] = tip_r[tip_i]
    # thumb metacarpal: the thenar eminence, fat at the base
    radii[13] *= 1.15
    j = joints
    poly = np.array(
        [
            [0.010, -0.020],
            [0.010, 0.014],
            [j[13, 0] + 0.004, j[13, 2] + 0.002],
            [j[1, 0] + 0.002, j[1, 2] + 0.001],
            [j[4, 0] + 0.001, j[4, 2]],
            [j[10, 0] + 0.002, j[10, 2]],
            [j[7, 0] + 0.003, j[7, 2] - 0.002],
            [-0.040, -0.026],
        ]
    )
    prim = _Primitives(joints, tips, radii, tip_r, poly, bone_end, bone_end_r, *_thenar(joints))

    lo = np.minimum(np.r_[joints, tips].min(0), [0, 0, 0]) - 0.03
    hi = np.maximum(np.r_[joints, tips].max(0), [_FOREARM_END_X, 0, 0]) + 0.03
    axes = [np.arange(lo[d], hi[d] + _GRID_M, _GRID_M) for d in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    values = prim.field(grid.reshape(-1, 3)).reshape(grid.shape[:3])
    verts, faces = surface_nets(values, lo, _GRID_M)
    verts = taubin_smooth(verts, faces, 12)

    # ---- ownership + weights (spread pose)
    nv = len(verts)
    owner_d = [np.maximum(prim.palm(verts), 0) * 0 + np.minimum(prim.palm(verts), prim.forearm(verts))]
    owner_d += [prim.bone(jj, verts) for jj in range(1, 16)]
    owner = np.argmin(np.stack(owner_d, 1), axis=1)  # 0 = palm/forearm (wrist), k = joint k
    w = np.zeros((nv, 16))
    w[owner == 0, 0] = 1.0
    par = parents.numpy()
    child = {int(jj): int(np.nonzero(par == jj)[0][0]) for jj in range(1, 16) if np.any(par == jj)}
    for jj in range(1, 16):
        sel = owner == jj
        if not sel.any():
            continue
        _, u, length = _segment(verts[sel], joints[jj], bone_end[jj])
        h = 0.6 * radii[jj]
        wp = 0.5 * (1 - _smoothstep((u + h) / (2 * h)))
        wc = 0.5 * _smoothstep((u - length + h) / (2 * h)) if jj in child else np.zeros(sel.sum())
        w[sel, par[jj]] += wp
        if jj in child:
            w[sel, child[jj]] += wc
        w[sel, jj] += 1 - wp - wc
    # palm vertices near a finger base blend into it (mirror of the finger side's blend)
    sel = np.nonzero(owner == 0)[0]
    for chain, _ in _CHAINS.values():
        jj = chain[0]
        dist, u, _length = _segment(verts[sel], joints[jj], bone_end[jj])
        h = 0.6 * radii[jj]
        near = dist < 1.6 * radii[jj]
        wf = np.where(near, 0.5 * _smoothstep((u + h) / (2 * h)), 0.0)
        w[sel, jj] += wf
        w[sel, 0] -= wf
    adj = _adjacency(faces, nv)
    for _ in range(3):
        w = 0.5 * w + 0.5 * (adj @ w)
    w /= w.sum(1, keepdims=True)

    # ---- attributes (spread pose)
    nail = np.zeros(nv)
    crease = np.zeros(nv)
    for chain, tip_i in _CHAINS.values():
        d_j = chain[2]
        sel = owner == d_j
        a, b = joints[d_j], tips[tip_i]
        axis = (b - a) / np.linalg.norm(b - a)
        dorsal = np.array([0.0, 1.0, 0.0]) - axis[1] * axis
        dorsal /= np.linalg.norm(dorsal)
        side = np.cross(dorsal, axis)
        rel = verts[sel] - a
        u = rel @ axis
        length = np.linalg.norm(b - a)
        lat = np.abs(rel @ side) / radii[d_j]
        dor = (rel @ dorsal) / radii[d_j]
        nail[sel] = _smoothstep((u / length - 0.42) / 0.08) * _smoothstep((0.72 - lat) / 0.15)
        nail[sel] *= _smoothstep((dor - 0.35) / 0.15) * _smoothstep((0.97 - u / length) / 0.05)
        for jj in chain[1:]:  # creases at PIP / DIP (thumb MCP / IP), palmar and dorsal bands
            dist = np.abs(
                (verts - joints[jj])
                @ ((bone_end[jj] - joints[jj]) / np.linalg.norm(bone_end[jj] - joints[jj]))
            )
            near = np.linalg.norm(verts - joints[jj], axis=1) < 1.5 * radii[jj]
            crease = np.maximum(crease, near * _smoothstep((0.0018 - dist) / 0.0012))
    vn = vertex_normals(verts, faces, _incidence(faces, nv))
    palmar = _smoothstep((-vn[:, 1] - 0.1) / 0.5)
    crease = np.maximum(crease, _palm_creases(verts, owner, palmar, joints, bone_end))
    hand_part = np.where(verts[:, 0] > _ARM_START_X, PART_ARM, PART_HAND)

    # ---- un-pose to the flat rest pose
    blend = np.einsum("vj,jab->vab", w, a_spread)
    vh = np.concatenate([verts, np.ones((nv, 1))], 1)
    v_rest = np.einsum("vab,vb->va", np.linalg.inv(blend), vh)[:, :3]

    # ---- shape: transfer the tube model's blend shapes
    tube = model.v_template.double().numpy()
    dist, idx = cKDTree(tube).query(v_rest, k=4)
    iw = 1.0 / np.maximum(dist, 1e-4) ** 2
    iw /= iw.sum(1, keepdims=True)
    shapedirs = np.einsum("vk,vkcl->vcl", iw, model.shapedirs.double().numpy()[idx])
    shapedirs *= np.where(v_rest[:, 0] > 0.02, np.exp(-(v_rest[:, 0] - 0.02) / 0.03), 1.0)[:, None, None]
    logger.debug("hand skin: %d vertices, %d faces in %.2f s", nv, len(faces), time.perf_counter() - start)
    bone_child = np.array([child.get(jj, -1) if jj > 0 else -1 for jj in range(16)])
    return _SkinArrays(v_rest, faces, w, shapedirs, nail, palmar, crease, hand_part, radii, bone_child)


# The palm's flexion creases of a right hand in the rest frame (x, z) m: x from the wrist (0) towards the
# knuckles (negative), z towards the thumb. The distal transverse crease from the little finger's border
# to between the index and middle fingers, the proximal transverse crease across the palm from the radial
# border, the thenar crease around the thumb's ball down to the wrist, and two wrist creases.
_PALM_CREASES_M = (
    ((-0.062, -0.037), (-0.070, -0.021), (-0.075, -0.006), (-0.078, 0.007), (-0.082, 0.016)),
    ((-0.069, 0.034), (-0.061, 0.016), (-0.053, -0.004), (-0.047, -0.023)),
    ((-0.069, 0.034), (-0.056, 0.023), (-0.041, 0.015), (-0.026, 0.010), (-0.010, 0.008), (0.000, 0.006)),
    ((0.004, -0.030), (0.004, 0.026)),
    ((0.012, -0.030), (0.012, 0.026)),
)
_PALM_CREASE_HALF_WIDTH_M = 0.0012
#: a finger's palmar base crease (the palmodigital crease, at the web) as a fraction of the proximal phalanx
_BASE_CREASE_AT = 0.33


def _palm_creases(
    verts: np.ndarray, owner: np.ndarray, palmar: np.ndarray, joints: np.ndarray, bone_end: np.ndarray
) -> np.ndarray:
    """(V,) [0, 1] the palmar side's creases (``_PALM_CREASES_M`` on the palm, the base crease of each
    finger) on the spread-pose surface: what, with the thenar and hypothenar shapes, tells a palm from the
    back of a hand (MediaPipe's landmark network read palm-side renders as the other hand 27 % of the time
    without them: docs/render-realism.md#the-palm-side)."""
    out = np.zeros(len(verts))
    xz = verts[:, [0, 2]]
    for line in _PALM_CREASES_M:
        pts = np.asarray(line)
        dist = np.min([_segment(xz, a, b)[0] for a, b in zip(pts[:-1], pts[1:], strict=True)], axis=0)
        out = np.maximum(out, _smoothstep((2 * _PALM_CREASE_HALF_WIDTH_M - dist) / _PALM_CREASE_HALF_WIDTH_M))
    out *= owner == 0
    for name, (chain, _) in _CHAINS.items():
        if name == "thumb":  # its base is the metacarpal: its creases are the thenar crease and the MCP's
            continue
        j = chain[0]
        axis = (bone_end[j] - joints[j]) / np.linalg.norm(bone_end[j] - joints[j])
        u = (verts - joints[j]) @ axis
        at = _BASE_CREASE_AT * np.linalg.norm(bone_end[j] - joints[j])
        band = _smoothstep((2 * _PALM_CREASE_HALF_WIDTH_M - np.abs(u - at)) / _PALM_CREASE_HALF_WIDTH_M)
        out = np.maximum(out, band * (owner == j))
    return out * _smoothstep((palmar - 0.3) / 0.4)


def _incidence(faces: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
    rows = faces.ravel()
    cols = np.repeat(np.arange(len(faces)), 3)
    return scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(faces)))


def _sleeve(k: int = 28, n: int = 14, length: float = 0.40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed elliptic tube along +x from x = 0 (the cuff), rest frame; (vertices, faces, x along)."""
    phi = 2 * np.pi * np.arange(k) / k
    xs = np.linspace(0.0, length, n)
    # half-axes (dorsal y, across z) 3.2 x 4.4 cm at the cuff, 3.8 x 5.0 cm from 10 cm on: round the forearm
    # wherever the cuff is slid (SLEEVE_CUFF_RANGE_M; tested)
    ry = 0.032 + 0.006 * np.clip(xs / 0.1, 0, 1)
    rz = 0.044 + 0.006 * np.clip(xs / 0.1, 0, 1)
    ring = np.stack(
        [
            np.repeat(xs, k),
            (ry[:, None] * np.sin(phi)[None]).ravel(),
            (rz[:, None] * np.cos(phi)[None]).ravel(),
        ],
        1,
    )
    # the cuff: fold the first ring inwards a little so the sleeve has a visible edge thickness
    verts = np.concatenate([ring, [[0.006, 0.0, 0.0]], [[length, 0.0, 0.0]]])
    faces = []
    kk = np.arange(k)
    kn = (kk + 1) % k
    for i in range(n - 1):
        a, b = i * k + kk, i * k + kn
        c, d = (i + 1) * k + kn, (i + 1) * k + kk
        faces += [np.stack([a, c, b], 1), np.stack([a, d, c], 1)]
    start, end = n * k, n * k + 1
    faces.append(np.stack([kk, kn, np.full(k, start)], 1))
    faces.append(np.stack([(n - 1) * k + kn, (n - 1) * k + kk, np.full(k, end)], 1))
    f = np.concatenate(faces)
    # make the winding outward (normals away from the x axis)
    v = verts
    nrm = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    centre = v[f].mean(1)
    radial = centre - np.stack([centre[:, 0], np.zeros(len(f)), np.zeros(len(f))], 1)
    radial[:, 0] = np.where(centre[:, 0] < 0.01, -1.0, np.where(centre[:, 0] > length - 0.01, 1.0, 0.0))
    wrong = np.einsum("ij,ij->i", nrm, radial) < 0
    f[wrong] = f[wrong][:, [0, 2, 1]]
    return verts, f, verts[:, 0].copy()


_ARRAYS: dict[str, _SkinArrays] = {}


def dual_quaternion_skinning(weights: np.ndarray, transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (V, 3) moved by the ``weights`` (V, J) blend of rigid ``transforms`` (J, 4, 4), blended as unit
    dual quaternions (Kavan et al. 2007): a joint bent by 90 deg keeps its thickness, where a linear blend
    of the matrices (linear blend skinning) shrinks it to ~0.7 in the middle of the blend."""
    q = matrix_to_quaternion_xyzw(transforms[:, :3, :3])  # (J, 4)
    t = np.concatenate([transforms[:, :3, 3], np.zeros((len(transforms), 1))], 1)
    d = 0.5 * quaternion_multiply_xyzw(t, q)
    # blend in one hemisphere: each joint's quaternion signed to agree with the vertex's heaviest joint
    pivot = q[np.argmax(weights, 1)]  # (V, 4)
    sign = np.sign(pivot @ q.T)  # (V, J)
    sign[sign == 0] = 1.0
    w = weights * sign
    qb, db = w @ q, w @ d
    norm = np.linalg.norm(qb, axis=1, keepdims=True)
    qb, db = qb / norm, db / norm
    conj = qb * np.array([-1.0, -1.0, -1.0, 1.0])
    trans = 2.0 * quaternion_multiply_xyzw(db, conj)[:, :3]
    rot = Rotation.from_quat(qb).as_matrix()
    return np.einsum("vab,vb->va", rot, points) + trans


class HandSkin:
    """The render skin of one side, driven by ``OpenHandModel`` parameters (see the module docstring).

    ``skin(betas, global_orient, hand_pose, sleeve_x=...)`` -> :class:`SkinMesh` in the model frame. Built
    once per process and side (about a second).
    """

    def __init__(self, side: str = "right") -> None:
        if side not in ("right", "left"):
            raise ValueError(f"side: {side!r} not in {{'right', 'left'}}")
        self.side = side
        self.model = OpenHandModel(side=side, dtype=torch.float64)
        if "right" not in _ARRAYS:
            _ARRAYS["right"] = _build(OpenHandModel(side="right", dtype=torch.float64))
        a = _ARRAYS["right"]
        mirror = np.array([-1.0, 1.0, 1.0]) if side == "left" else np.ones(3)
        self.v_rest = a.v_rest * mirror
        self.faces = a.faces[:, [0, 2, 1]] if side == "left" else a.faces
        self.shapedirs = a.shapedirs * mirror[None, :, None]
        self.weights = a.weights
        self.nail, self.palmar, self.crease, self.hand_part = a.nail, a.palmar, a.crease, a.hand_part
        sv, sf, s_along = _sleeve()
        self.sleeve_v = sv * mirror
        self.sleeve_f = sf[:, [0, 2, 1]] if side == "left" else sf
        self.sleeve_along = s_along
        self.arm_x = a.v_rest[:, 0].copy()  # along the arm, the same for both sides
        self.radii, self.bone_child = a.radii, a.bone_child
        self._incidence: dict[bool, scipy.sparse.csr_matrix] = {}

    @property
    def num_vertices(self) -> int:
        return len(self.v_rest)

    def transforms(self, betas: np.ndarray, global_orient: np.ndarray, hand_pose: np.ndarray) -> np.ndarray:
        """(16, 4, 4) the model's joint transforms (rest -> posed) for these parameters."""
        b = torch.as_tensor(np.asarray(betas, np.float64).reshape(1, -1))
        rest = self.model.rest_joints(b)
        pose = np.concatenate([np.asarray(global_orient, np.float64).reshape(1, 3),
                               np.asarray(hand_pose, np.float64).reshape(15, 3)])[None]  # fmt: skip
        return _transforms(rest, torch.from_numpy(pose), self.model.parents)[0].numpy()

    def skin(
        self,
        betas: np.ndarray,
        global_orient: np.ndarray,
        hand_pose: np.ndarray,
        sleeve_x: float | None = 0.08,
    ) -> SkinMesh:
        """The posed skin (+ the sleeve with its cuff ``sleeve_x`` m behind the wrist, or none)."""
        a = self.transforms(betas, global_orient, hand_pose)
        beta = np.asarray(betas, np.float64).ravel()
        shaped = self.v_rest + np.einsum("vcl,l->vc", self.shapedirs[..., : beta.size], beta)
        v = dual_quaternion_skinning(self.weights, a, shaped)
        faces, part = self.faces, self.hand_part
        nail, palmar, crease, along = self.nail, self.palmar, self.crease, self.arm_x
        if sleeve_x is not None:
            sv = self.sleeve_v + np.array([sleeve_x * (1 if self.side == "right" else -1), 0, 0])
            sv = sv @ a[0, :3, :3].T + a[0, :3, 3]
            faces = np.concatenate([faces, self.sleeve_f + len(v)])
            z = np.zeros(len(sv))
            part = np.concatenate([part, np.full(len(sv), PART_SLEEVE)])
            nail, palmar, crease = np.r_[nail, z], np.r_[palmar, z], np.r_[crease, z]
            along = np.r_[along, self.sleeve_along + sleeve_x]
            v = np.concatenate([v, sv])
        key = sleeve_x is not None
        if key not in self._incidence:
            self._incidence[key] = _incidence(faces, len(v))
        normals = vertex_normals(v, faces, self._incidence[key])
        if sleeve_x is not None:  # the forearm's faces inside the sleeve are never seen: not drawn
            hidden = (self.hand_part == PART_ARM) & (self.arm_x > sleeve_x + _SLEEVE_HIDES_M)
            hidden = np.r_[hidden, np.zeros(len(v) - len(hidden), bool)]
            faces = faces[~hidden[faces].all(1)]
        # occluder spheres: the posed joints and bone midpoints (finger radius), three in the palm
        rest = self.model.rest_joints(torch.as_tensor(beta[None]))[0].numpy()
        joints = np.einsum("jab,jb->ja", a[:, :3, :3], rest) + a[:, :3, 3]
        mids = [(joints[j] + joints[c]) / 2 for j, c in enumerate(self.bone_child) if c >= 0]
        mid_r = [self.radii[j] for j, c in enumerate(self.bone_child) if c >= 0]
        palm = [joints[0] + 0.25 * (joints[4] - joints[0]) * (k + 1) for k in range(3)]
        spheres = np.concatenate([joints[1:], np.array(mids), np.array(palm)])
        radii = np.concatenate([self.radii[1:], mid_r, [0.016] * 3])
        face_part = part[faces].max(1)  # a face touching the arm / sleeve is not hand
        return SkinMesh(v, faces, part, face_part, nail, palmar, crease, along, normals, spheres, radii)


# ------------------------------------------------------------------------------------------- appearance


@dataclass(frozen=True)
class SkinAppearance:
    """Albedo of one hand: skin tone (sRGB), how much lighter the palm is, crease darkening, the sleeve's
    cloth colour and fold phase, the skin's specular strength."""

    tone_rgb: tuple[float, float, float]
    palm_lighten: float = 0.3
    crease_dark: float = 0.18
    sleeve_rgb: tuple[float, float, float] = (60.0, 70.0, 90.0)
    fold_phase: float = 0.0
    specular: float = 0.08


def sample_appearance(rng: np.random.Generator, tone_rgb: tuple[float, float, float]) -> SkinAppearance:
    """Random palm lightening, sleeve colour (muted cloth: dark, grey, blue, earth tones or white),
    fold phase and skin specular for a hand of ``tone_rgb``."""
    cloth = np.array(
        [(35, 35, 40), (70, 72, 78), (150, 150, 155), (225, 225, 220), (40, 55, 95), (95, 110, 140),
         (110, 40, 40), (60, 85, 60), (150, 120, 85), (190, 160, 120)][int(rng.integers(10))],
        np.float64,
    )  # fmt: skip
    cloth = np.clip(cloth * rng.uniform(0.85, 1.15, 3), 0, 255)
    return SkinAppearance(
        tuple(float(c) for c in tone_rgb),
        palm_lighten=float(rng.uniform(0.15, 0.45)),
        crease_dark=float(rng.uniform(0.1, 0.25)),
        sleeve_rgb=tuple(float(c) for c in cloth),
        fold_phase=float(rng.uniform(0, 2 * np.pi)),
        specular=float(rng.uniform(0.03, 0.12)),
    )


def albedo(mesh: SkinMesh, look: SkinAppearance) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) albedo RGB and (V,) specular strength: skin tone, lighter and pinker palm, darker creases,
    pale nails with a stronger highlight, the sleeve's cloth with soft folds."""
    tone = np.asarray(look.tone_rgb, np.float64)
    palm_rgb = tone + look.palm_lighten * (np.array([235.0, 190.0, 170.0]) - tone)
    rgb = tone[None] + mesh.palmar[:, None] * (palm_rgb - tone)[None]
    rgb *= (1.0 - look.crease_dark * mesh.crease)[:, None]
    nail_rgb = 0.55 * tone + 0.45 * np.array([240.0, 205.0, 195.0])
    rgb += mesh.nail[:, None] * (nail_rgb[None] - rgb)
    spec = look.specular + mesh.nail * 0.25
    sleeve = mesh.part == PART_SLEEVE
    folds = 0.88 + 0.12 * np.sin(mesh.along[sleeve] * 2 * np.pi / 0.035 + look.fold_phase)
    rgb[sleeve] = np.asarray(look.sleeve_rgb)[None] * folds[:, None]
    spec[sleeve] = 0.01
    return rgb, spec
