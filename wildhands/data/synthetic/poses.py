"""Hand poses for the synthetic generator: grasp templates for the 8 grasp classes, joint limits, shapes
and egocentric global orientations. All in MANO's parameter interface (axis-angle, radians).

Joint order of ``hand_pose`` (15, 3): MANO's -- index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3 (rows 0-14).
Axes are those of the right hand's model frame (``handmodel.open_hand``): fingers along −x, palm normal −y,
thumb side +z. For the four fingers, the three components of a row are anatomical: **flexion** (curling
towards the palm, component 2, positive), **abduction** (spreading in the palm plane about y, component 1;
positive moves a finger towards the thumb) and twist about the bone (component 0, kept small). Read as an
axis-angle, flexion is a rotation about +z: a finger fanned away from −x then keeps its fan's sideways
offset as it curls (a fist's fingertips ~2 cm wider apart than its knuckles). :func:`flex_in_finger_planes`
(which the generator applies since its version 6) turns them into the rotations a hand makes: each bone
flexes in its own plane, about an axis turned a little so that flexed fingers converge towards the base of
the thumb (``FLEXION_CONVERGENCE_DEG``). The thumb's bone is oblique to these axes, so its templates are
3-vectors found once by a small optimisation (below).

Joint limits (``POSE_LOWER``/``POSE_UPPER``, per component, applied by clipping after the noise):
fingers MCP flexion −20°..+97° (hyperextension allowed for pressing), abduction ±26°, twist ±9°;
PIP 0..+109°, DIP −6..+80°, both ±6° abduction/twist; thumb CMC ±0.9 rad per component, MCP/IP ±0.9 rad
per component. They follow the active ranges of motion in clinical tables (e.g. AAOS: MCP 0-90°, PIP
0-100°, DIP 0-80°), loosened a little.

Grasp taxonomy (``wildhands.model.grasp.GRASP_CLASSES``, the Hands23 coarsening of Feix et al.'s GRASP
taxonomy) and how each template is built. Every sample = template + per-joint Gaussian noise (``noise``
rad on finger flexion, a third of it on abduction, ``thumb_noise`` rad on each thumb component), clipped
to the limits:

0 ``non_prehensile_palm``: flat open hand pushing/holding with the palm -- all fingers almost straight
  (MCP ±0.1 rad, slight hyperextension possible), spread, thumb at rest abduction.
1 ``non_prehensile_fingers``: fingers extended pressing/touching with the pads -- MCP 0.5, PIP 0.25,
  DIP 0.1 rad, index and middle a bit straighter, thumb lightly flexed.
2 ``power_prismatic``: full wrap round a handle -- MCP 1.25, PIP 1.55, DIP 0.95 rad on all fingers, thumb
  wrapped over the middle phalanges of index/middle (opposed).
3 ``precision_prismatic``: pinch along a line (pen) -- index/middle half-flexed (MCP 0.75-0.8, PIP 0.55-0.6),
  ring/pinky tucked, thumb tip opposed to the index/middle tips (~1.7 cm apart: object thickness).
4 ``power_circular``: wrap round a ball/jar -- MCP 0.85, PIP 0.9, DIP 0.5 rad, fingers spread wide
  (index +0.25, ring −0.18, pinky −0.35 rad abduction), thumb opposed across the object (~7 cm).
5 ``precision_circular``: fingertips round a small disc/cap -- MCP 0.7, PIP 0.75, DIP 0.4, spread, thumb
  tip on the circle opposite the fingertips (~5 cm).
6 ``lateral``: key grip -- fingers flexed into a fist (index a little less), thumb adducted with its pad on
  the radial side of the index's middle phalanx.
7 ``other``: ``other_poses='random'`` (default): any pose within the limits: each finger an independent
  random curl (correlated across its three joints), random abduction, random thumb (+-0.35 rad on every
  component of its three joints: many of them poses no hand takes). ``other_poses='natural'``
  (:func:`natural_other_pose`): what hands do between grasps -- a relaxed hand (all fingers near one curl,
  neighbours coupled), a gesture (a set of fingers extended, the rest curled: pointing, V, three, pinky /
  horns, thumbs-up) or a blend of two grasp templates; the DIP bends with the PIP (DIP ~ 0.55-0.75 PIP, the
  coupling of the oblique retinacular ligament), fingers spread only as far as they are straight, and the
  thumb is a blend of the templates' thumbs (every one a thumb pose a hand takes) with a little noise.

The thumb vectors of templates 2-6 came from a gradient-descent fit (Adam on the open hand model, β = 0)
of the thumb's three axis-angles so that its tip reaches the contact described above, with a small
penalty on the angles and on the thumb tip crossing to the back of the hand. The numbers are rounded and
frozen here; the fit is not rerun at import.
"""

from __future__ import annotations

import math

import numpy as np

from wildhands.model.grasp import GRASP_CLASS_IDS, NUM_GRASP_CLASSES

__all__ = [
    "FLEXION_CONVERGENCE_DEG",
    "POSE_LOWER",
    "POSE_UPPER",
    "GRASP_TEMPLATES",
    "OTHER_POSES",
    "finger_fan_rad",
    "flex_in_finger_planes",
    "finger_plane_axes",
    "POSE_CONVENTIONS",
    "natural_other_pose",
    "sample_hand_pose",
    "sample_grasp",
    "sample_betas",
    "sample_global_orient",
    "clip_to_limits",
]

_FINGER_ROWS = {"index": (0, 1, 2), "middle": (3, 4, 5), "pinky": (6, 7, 8), "ring": (9, 10, 11)}
_FINGER_ORDER = ("index", "middle", "pinky", "ring")
_THUMB_ROWS = (12, 13, 14)


def _limits() -> tuple[np.ndarray, np.ndarray]:
    lo = np.zeros((15, 3))
    hi = np.zeros((15, 3))
    d = math.radians
    for mcp, pip, dip in _FINGER_ROWS.values():
        lo[mcp], hi[mcp] = (-d(9), -d(26), -d(20)), (d(9), d(26), d(97))
        lo[pip], hi[pip] = (-d(6), -d(6), 0.0), (d(6), d(6), d(109))
        lo[dip], hi[dip] = (-d(6), -d(6), -d(6)), (d(6), d(6), d(80))
    lo[12], hi[12] = -0.9, 0.9
    lo[13:15], hi[13:15] = -0.9, 0.9
    return lo, hi


POSE_LOWER, POSE_UPPER = _limits()


def clip_to_limits(hand_pose: np.ndarray) -> np.ndarray:
    """(15, 3) axis-angle clipped component-wise to the joint limits."""
    return np.clip(hand_pose, POSE_LOWER, POSE_UPPER)


def finger_fan_rad(rest_keypoints: np.ndarray) -> np.ndarray:
    """(4,) how far each finger (index, middle, pinky, ring: MANO order) of a right hand model at zero pose
    points away from the wrist -> tip axis of a finger laid along -x, rad in the palm plane (about y,
    positive towards the thumb): the template's fan, which every pose adds to. The open hand model's:
    index +6.0, middle +1.0, ring -4.0, pinky -10.0 deg.

    Args:
        rest_keypoints: (21, 3) m, our keypoint order, the model frame (fingers along -x, palm normal -y).
    """
    from wildhands.handmodel.keypoints import FINGER_KEYPOINTS

    k = np.asarray(rest_keypoints, np.float64)
    out = []
    for name in _FINGER_ORDER:
        mcp, tip = k[FINGER_KEYPOINTS[name][0]], k[FINGER_KEYPOINTS[name][3]]
        out.append(math.atan2(tip[2] - mcp[2], -(tip[0] - mcp[0])))
    return np.array(out)


#: how a pose's finger rows are read: ``'components'``, the anatomical components taken as axis-angles
#: (generator version 5 and before), or ``'finger_planes'``, turned into flexion in each finger's plane
#: (:func:`flex_in_finger_planes`; version 6). The lifting network records the convention it was trained
#: on (``LiftingConfig.pose_convention``), and the fit's joint limits follow it (``RefineConfig``)
POSE_CONVENTIONS = ("components", "finger_planes")

#: deg: how far each finger's flexion axis is turned in the palm plane (about the palm normal) so that the
#: flexed fingers converge towards the base of the thumb, as real ones do (their curled tips point at the
#: scaphoid): a fist of the ``lateral`` template at ``finger_fan: 0`` then has its index and little
#: fingertips 45 mm apart across the palm, its MCPs 55 mm (parallel flexion: 55, flexion about z: 77)
FLEXION_CONVERGENCE_DEG = {"index": 0.0, "middle": 2.0, "ring": 4.0, "pinky": 6.0}


def finger_plane_axes(rest_keypoints: np.ndarray) -> np.ndarray:
    """(15, 3, 3): per row of ``hand_pose``, the unit axes (as rows, right hand model frame) that its three
    anatomical components turn about in the finger-plane convention (:func:`flex_in_finger_planes`): the
    bone's direction (twist), the palm normal +y (abduction) and the axis across the bone in the palm plane,
    turned by ``FLEXION_CONVERGENCE_DEG`` (flexion). The thumb's rows are the identity (its components are
    plain axis-angle). ``rest_keypoints``: (21, 3) m, the right hand model's at zero pose."""
    from wildhands.geometry.rotations import rodrigues
    from wildhands.handmodel.keypoints import FINGER_KEYPOINTS

    k = np.asarray(rest_keypoints, np.float64)
    palm_normal = np.array([0.0, 1.0, 0.0])  # dorsal; abduction is about it
    rows = [row for name in _FINGER_ORDER for row in _FINGER_ROWS[name]]
    chains = [FINGER_KEYPOINTS[name] for name in _FINGER_ORDER]
    bone = np.concatenate([k[list(c[1:])] - k[list(c[:-1])] for c in chains])  # (12, 3), rows' order
    bone /= np.linalg.norm(bone, axis=1, keepdims=True)
    across = np.cross(palm_normal, bone)  # +z for a bone along -x
    across /= np.linalg.norm(across, axis=1, keepdims=True)
    converge = np.repeat([math.radians(FLEXION_CONVERGENCE_DEG[name]) for name in _FINGER_ORDER], 3)
    across = np.einsum("nij,nj->ni", rodrigues(-converge[:, None] * palm_normal), across)
    axes = np.tile(np.eye(3), (15, 1, 1))
    axes[rows] = np.stack([bone, np.broadcast_to(palm_normal, bone.shape), across], axis=1)
    return axes


def flex_in_finger_planes(hand_pose: np.ndarray, rest_keypoints: np.ndarray) -> np.ndarray:
    """(..., 15, 3) axis-angle (MANO's interface) of poses whose four fingers' rows hold anatomical
    components (twist, abduction, flexion; module docstring): per bone, R = R_y(abduction) R_across(flexion)
    R_bone(twist) about the axes of :func:`finger_plane_axes` (the bone's direction from ``rest_keypoints``,
    (21, 3), the right hand model at zero pose, model frame; ``across`` turned towards convergence by
    ``FLEXION_CONVERGENCE_DEG``). A finger without flexion and twist keeps its row unchanged; the thumb's
    rows are unchanged. Batched over leading dimensions."""
    from scipy.spatial.transform import Rotation

    from wildhands.geometry.rotations import rodrigues

    out = np.array(hand_pose, np.float64, copy=True)
    rows = [row for name in _FINGER_ORDER for row in _FINGER_ROWS[name]]
    axes = finger_plane_axes(rest_keypoints)[rows]  # (12, 3, 3)
    comp = out[..., rows, :]  # (..., 12, 3): twist, abduction, flexion
    rotation = (
        rodrigues(comp[..., 1:2] * axes[:, 1])
        @ rodrigues(comp[..., 2:3] * axes[:, 2])
        @ rodrigues(comp[..., 0:1] * axes[:, 0])
    )
    out[..., rows, :] = Rotation.from_matrix(rotation.reshape(-1, 3, 3)).as_rotvec().reshape(comp.shape)
    return out


def _template(
    flex: list[float] | tuple[float, ...], spread: tuple[float, float, float, float], thumb: list[list[float]]
) -> np.ndarray:
    """(15, 3) from finger flexions (MCP, PIP, DIP per finger in MANO order, or one triple for all),
    MCP abductions (index, middle, pinky, ring) and the thumb's three axis-angles."""
    flex = list(flex) * 4 if len(flex) == 3 else list(flex)
    pose = np.zeros((15, 3))
    pose[:12, 2] = flex
    for i, name in enumerate(_FINGER_ORDER):
        pose[_FINGER_ROWS[name][0], 1] = spread[i]
    pose[12:15] = thumb
    return pose


#: grasp id -> (template (15, 3), finger noise rad, thumb noise rad)
GRASP_TEMPLATES: dict[int, tuple[np.ndarray, float, float]] = {
    GRASP_CLASS_IDS["non_prehensile_palm"]: (
        _template([0.02, 0.04, 0.02], (0.12, 0.0, -0.18, -0.08), [[0.0, 0.0, 0.0]] * 3),
        0.08,
        0.08,
    ),
    GRASP_CLASS_IDS["non_prehensile_fingers"]: (
        _template(
            [0.4, 0.2, 0.08, 0.45, 0.22, 0.1, 0.6, 0.35, 0.15, 0.55, 0.3, 0.12],
            (0.05, 0.0, -0.08, -0.04),
            [[0.1, -0.1, 0.1], [0.1, -0.1, 0.1], [0.05, -0.05, 0.05]],
        ),
        0.1,
        0.08,
    ),
    GRASP_CLASS_IDS["power_prismatic"]: (
        _template(
            [1.25, 1.55, 0.95],
            (0.05, 0.0, -0.05, -0.02),
            [[0.013, -0.094, -0.13], [0.516, -0.523, 0.493], [0.69, -0.663, 0.667]],
        ),
        0.1,
        0.06,
    ),
    GRASP_CLASS_IDS["precision_prismatic"]: (
        _template(
            [0.75, 0.55, 0.25, 0.8, 0.6, 0.3, 1.2, 1.3, 0.8, 1.0, 1.1, 0.6],
            (0.0, 0.0, -0.1, -0.05),
            [[0.358, -0.388, 0.293], [0.149, -0.18, 0.1], [0.036, -0.06, 0.013]],
        ),
        0.08,
        0.05,
    ),
    GRASP_CLASS_IDS["power_circular"]: (
        _template(
            [0.85, 0.9, 0.5],
            (0.25, 0.02, -0.35, -0.18),
            [[0.297, 0.038, 0.313], [0.083, 0.007, 0.091], [0.0, 0.001, 0.003]],
        ),
        0.1,
        0.06,
    ),
    GRASP_CLASS_IDS["precision_circular"]: (
        _template(
            [0.7, 0.75, 0.4],
            (0.2, 0.0, -0.3, -0.15),
            [[0.229, -0.137, 0.258], [0.137, -0.062, 0.165], [0.069, -0.023, 0.087]],
        ),
        0.08,
        0.05,
    ),
    GRASP_CLASS_IDS["lateral"]: (
        _template(
            [1.0, 1.5, 0.9, 1.3, 1.6, 1.0, 1.4, 1.6, 1.0, 1.35, 1.6, 1.0],
            (0.0, 0.0, 0.0, 0.0),
            [[-0.029, -0.02, -0.07], [0.32, -0.326, 0.289], [0.452, -0.461, 0.426]],
        ),
        0.08,
        0.05,
    ),
}
_OTHER = GRASP_CLASS_IDS["other"]
#: how grasp class ``other`` is drawn (``SyntheticConfig.other_poses``)
OTHER_POSES = ("random", "natural")


def sample_grasp(rng: np.random.Generator, weights: tuple[float, ...] | None = None) -> int:
    """A grasp class id drawn with relative ``weights`` (8 numbers; uniform when None)."""
    w = np.ones(NUM_GRASP_CLASSES) if weights is None else np.asarray(weights, dtype=np.float64)
    return int(rng.choice(NUM_GRASP_CLASSES, p=w / w.sum()))


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    """Grasp class 'other': each finger an independent curl, random spread, random thumb."""
    pose = np.zeros((15, 3))
    for mcp, pip, dip in _FINGER_ROWS.values():
        curl = rng.uniform(-0.1, 1.0)
        pose[mcp, 2] = curl * 1.5 + rng.normal(0, 0.2)
        pose[pip, 2] = curl * 1.7 + rng.normal(0, 0.2)
        pose[dip, 2] = curl * 1.0 + rng.normal(0, 0.15)
        pose[mcp, 1] = rng.normal(0, 0.15)
        pose[[mcp, pip, dip], 0] = rng.normal(0, 0.05, 3)
    pose[12:15] = rng.normal(0, 0.35, (3, 3))
    return pose


def sample_hand_pose(
    rng: np.random.Generator,
    grasp: int,
    other: str = "random",
    unfan_rad: np.ndarray | None = None,
    rest_keypoints: np.ndarray | None = None,
) -> np.ndarray:
    """(15, 3) right-hand pose (axis-angle, rad, MANO joint order) of grasp class ``grasp``, its components
    within limits. ``other``: how class ``other`` is drawn (:data:`OTHER_POSES`; module docstring).
    ``unfan_rad`` (4,): MCP abduction (index, middle, pinky, ring) taken off every pose before clipping,
    e.g. a share of the model's rest fan (:func:`finger_fan_rad`; ``SyntheticConfig.finger_fan``).
    ``rest_keypoints`` ((21, 3), the right hand model's at zero pose): given, the clipped components are
    turned into each bone's flexion in its own plane (:func:`flex_in_finger_planes`). Neither changes the
    random draws."""
    if not 0 <= grasp < NUM_GRASP_CLASSES:
        raise ValueError(f"grasp: {grasp!r} not in [0, {NUM_GRASP_CLASSES - 1}]")
    if other not in OTHER_POSES:
        raise ValueError(f"other: need one of {OTHER_POSES}, got {other!r}")
    if grasp == _OTHER:
        pose = _random_pose(rng) if other == "random" else natural_other_pose(rng)
    else:
        template, noise, thumb_noise = GRASP_TEMPLATES[grasp]
        pose = template.copy()
        finger_noise = rng.normal(0.0, noise, (12,))
        pose[:12, 2] += finger_noise
        pose[:12, 1] += rng.normal(0.0, noise / 3, (12,))
        pose[:12, 0] += rng.normal(0.0, noise / 4, (12,))
        pose[12:15] += rng.normal(0.0, thumb_noise, (3, 3))
    if unfan_rad is not None:
        pose[[_FINGER_ROWS[name][0] for name in _FINGER_ORDER], 1] -= np.asarray(unfan_rad, np.float64)
    pose = clip_to_limits(pose)
    return pose if rest_keypoints is None else flex_in_finger_planes(pose, rest_keypoints)


#: natural 'other' poses: fingers extended in the gestures (the rest curled), and whether the thumb is
#: extended (thumbs-up, open hand) or tucked over the curled fingers
_GESTURES = (
    (("index",), False),  # pointing
    (("index", "middle"), False),  # V
    (("index", "middle", "ring"), False),  # three
    (("index", "pinky"), False),  # horns
    (("pinky",), False),
    ((), True),  # thumbs-up
    (("index",), True),  # L / gun
    (("index", "middle"), True),
    (("middle", "ring", "pinky"), False),  # OK-like: index curled, the others out
)
#: MCP abduction (rad) of a fully spread straight finger; positive towards the thumb (index, middle,
#: pinky, ring: ``_FINGER_ORDER``)
_SPREAD = {"index": 0.22, "middle": 0.0, "pinky": -0.35, "ring": -0.15}


def _finger(pose: np.ndarray, name: str, curl: float, rng: np.random.Generator, spread: float) -> None:
    """Finger ``name`` of ``pose`` bent by ``curl`` (0 straight .. 1 fist): MCP and PIP share the curl with
    some independence (hook and table-top postures), DIP follows the PIP, spread shrinks as it bends."""
    mcp, pip, dip = _FINGER_ROWS[name]
    c_mcp = curl + rng.normal(0.0, 0.12)
    c_pip = curl + rng.normal(0.0, 0.12)
    pose[mcp, 2] = 1.45 * c_mcp
    pose[pip, 2] = 1.65 * max(c_pip, 0.0)
    pose[dip, 2] = rng.uniform(0.55, 0.75) * pose[pip, 2] + rng.normal(0.0, 0.05)
    pose[mcp, 1] = spread * _SPREAD[name] * (1.0 - min(max(curl, 0.0), 1.0)) + rng.normal(0.0, 0.04)
    pose[[mcp, pip, dip], 0] = rng.normal(0.0, 0.03, 3)


def natural_other_pose(rng: np.random.Generator) -> np.ndarray:
    """(15, 3) a natural pose of grasp class ``other`` (before clipping; module docstring): relaxed (40 %),
    a gesture (35 %) or a blend of two grasp templates (25 %)."""
    pose = np.zeros((15, 3))
    u = rng.random()
    if u < 0.4:  # relaxed: one curl for the hand, neighbours coupled, the ulnar fingers a little more bent
        base = rng.uniform(-0.05, 0.8)
        spread = rng.uniform(0.0, 1.0)
        offsets = {"index": -0.05, "middle": 0.0, "ring": 0.05, "pinky": 0.1}
        for name in _FINGER_ORDER:
            _finger(pose, name, base + offsets[name] + rng.normal(0.0, 0.08), rng, spread)
        a, b = rng.choice(list(GRASP_TEMPLATES), 2, replace=False)  # a thumb between two templates'
        w = rng.random()
        pose[12:15] = w * GRASP_TEMPLATES[a][0][12:15] + (1 - w) * GRASP_TEMPLATES[b][0][12:15]
    elif u < 0.75:  # a gesture
        extended, thumb_out = _GESTURES[rng.integers(len(_GESTURES))]
        spread = rng.uniform(0.0, 1.0)
        for name in _FINGER_ORDER:
            curl = rng.uniform(-0.05, 0.15) if name in extended else rng.uniform(0.75, 1.0)
            _finger(pose, name, curl, rng, spread)
        # thumb out: the open hand's; tucked: the key grip's (pad on the curled index)
        thumb_grasp = GRASP_CLASS_IDS["non_prehensile_palm" if thumb_out else "lateral"]
        pose[12:15] = GRASP_TEMPLATES[thumb_grasp][0][12:15]
    else:  # between two grasps
        a, b = rng.choice(list(GRASP_TEMPLATES), 2, replace=False)
        w = rng.random()
        pose = w * GRASP_TEMPLATES[a][0] + (1 - w) * GRASP_TEMPLATES[b][0]
        pose[:12, 2] += rng.normal(0.0, 0.08, 12)
    pose[12:15] += rng.normal(0.0, 0.08, (3, 3))
    return pose


def sample_betas(rng: np.random.Generator, std: float = 1.0, limit: float = 2.5) -> np.ndarray:
    """(10,) shape coefficients ~ N(0, std²), clipped to ±limit (one unit ~ one population SD)."""
    return np.clip(rng.normal(0.0, std, 10), -limit, limit)


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


# Model -> camera for a right hand seen from the eyes: fingers (model −x) forward (+z cam), palm normal
# (model −y) down (+y cam), thumb (model +z) towards −x cam (the left of the image), as in make_sample.py.
_BASE = np.stack([[0, 0, -1], [0, -1, 0], [-1, 0, 0]], axis=1).astype(np.float64)


def sample_global_orient(rng: np.random.Generator) -> np.ndarray:
    """(3,) axis-angle (rad) of a **right** hand's model frame in the camera optical frame.

    Egocentric prior: roll about the finger axis mostly palm down (60%, ±30°), sideways (25%, 50-110°
    either way) or palm up (15%, 150-210°); pitch −25..80° (fingers pointing away and up in the image);
    yaw ±65° (fingers towards the left/right); an in-image rotation ±40°; and 8% of samples uniformly
    random rotations. For a left hand, mirror it (``geometry.rotations.mirror_axis_angle``).
    """
    import cv2

    if rng.random() < 0.08:
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        R = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
    else:
        u = rng.random()
        if u < 0.6:
            roll = rng.normal(0.0, math.radians(30))
        elif u < 0.85:
            roll = rng.choice([-1.0, 1.0]) * math.radians(rng.uniform(50, 110))
        else:
            roll = math.radians(rng.uniform(150, 210))
        pitch = math.radians(rng.uniform(-25, 80))
        yaw = math.radians(rng.uniform(-65, 65))
        spin = math.radians(rng.uniform(-40, 40))
        # roll about the model's finger axis (x), then pitch (cam x), yaw (cam y), spin (cam z)
        R = _rot(2, spin) @ _rot(1, yaw) @ _rot(0, pitch) @ _BASE @ _rot(0, roll)
    return cv2.Rodrigues(R)[0].ravel()
