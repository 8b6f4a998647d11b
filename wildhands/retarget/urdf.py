"""A minimal URDF reader and batched forward kinematics (numpy), enough for robot hands.

    model = load_urdf("wildhands/assets/urdf/wildhands_example_hand.urdf")
    model.actuated                  # names of the joints that q drives, in file order
    model.lower, model.upper        # (n,) rad or m; continuous joints: -inf / +inf
    poses = model.link_poses(q)     # (B, L, 4, 4): each link's frame in the root link's frame (m)
    p, J = model.link_positions_jacobian(q, ["index_tip", "thumb_tip"])   # (B, 2, 3) m, (B, 2, 3, n)

What is read (everything else -- inertia, geometry, transmissions, gazebo tags -- is ignored): ``<link
name>``; ``<joint name type>`` of type ``revolute``, ``continuous``, ``prismatic`` or ``fixed`` with
``<parent link>``, ``<child link>``, ``<origin xyz rpy>`` (defaults 0; ``rpy`` = fixed-axis roll about x,
then pitch about y, then yaw about z: ``R = Rz(yaw) Ry(pitch) Rx(roll)``), ``<axis xyz>`` (default
(1, 0, 0), normalised), ``<limit lower upper>`` (required for revolute and prismatic) and ``<mimic joint
multiplier offset>`` (a mimic joint follows ``multiplier * q[joint] + offset`` and is not actuated).
``floating`` and ``planar`` joints, a link with two parents, cycles, or several root links raise
ValueError naming the element.

Kinematics: the child frame of a joint is ``T_parent_child(q) = T_origin @ motion(q)``, with ``motion`` a
rotation by ``q`` rad about ``axis`` (revolute, continuous) or a translation by ``q`` m along it
(prismatic), both in the joint frame -- the URDF specification's convention. Poses are relative to the root
link. The position Jacobian is analytic: for a revolute joint with world axis ``w`` through point ``o``,
``dp/dq = w x (p - o)``; prismatic: ``w``; mimic joints add ``multiplier`` times their column to the column
of the joint they follow.
"""

from __future__ import annotations

import functools
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Joint", "RobotModel", "load_urdf", "parse_urdf", "rpy_to_matrix"]

JOINT_TYPES = ("revolute", "continuous", "prismatic", "fixed")
_MOVING = ("revolute", "continuous", "prismatic")


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF's fixed-axis roll, pitch, yaw (rad) -> rotation (3, 3): ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


@dataclass(frozen=True)
class Joint:
    """One URDF joint. ``origin`` (4, 4): the joint frame in the parent link's frame (m); ``axis`` (3,) unit,
    in the joint frame; ``lower``/``upper`` rad (m for prismatic), ±inf for continuous and fixed joints;
    ``mimic``: (followed joint, multiplier, offset) or None."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    mimic: tuple[str, float, float] | None = None


def _floats(text: str | None, n: int, default: tuple[float, ...], what: str) -> tuple[float, ...]:
    if text is None:
        return default
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not {n} numbers") from None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what}: {text!r} is not {n} finite numbers")
    return values


def _attr_float(el: ET.Element, name: str, what: str, default: float | None = None) -> float:
    text = el.get(name)
    if text is None:
        if default is None:
            raise ValueError(f"{what}: missing attribute {name!r}")
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {name}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what}: {name}={text!r} is not finite")
    return value


def _parse_joint(el: ET.Element) -> Joint:
    name = el.get("name")
    if not name:
        raise ValueError("URDF <joint> without a name")
    what = f"joint {name!r}"
    jtype = el.get("type")
    if jtype not in JOINT_TYPES:
        raise ValueError(f"{what}: type {jtype!r} not supported (one of {', '.join(JOINT_TYPES)})")
    links = {}
    for tag in ("parent", "child"):
        sub = el.find(tag)
        if sub is None or not sub.get("link"):
            raise ValueError(f"{what}: missing <{tag} link=...>")
        links[tag] = sub.get("link")
    origin_el = el.find("origin")
    xyz = _floats(
        None if origin_el is None else origin_el.get("xyz"), 3, (0.0, 0.0, 0.0), f"{what} origin xyz"
    )
    rpy = _floats(
        None if origin_el is None else origin_el.get("rpy"), 3, (0.0, 0.0, 0.0), f"{what} origin rpy"
    )
    origin = np.eye(4)
    origin[:3, :3] = rpy_to_matrix(*rpy)
    origin[:3, 3] = xyz
    axis_el = el.find("axis")
    axis = np.array(
        _floats(None if axis_el is None else axis_el.get("xyz"), 3, (1.0, 0.0, 0.0), f"{what} axis")
    )
    if jtype in _MOVING:
        norm = float(np.linalg.norm(axis))
        if norm < 1e-9:
            raise ValueError(f"{what}: zero axis")
        axis = axis / norm
    lower, upper = -math.inf, math.inf
    if jtype in ("revolute", "prismatic"):
        limit = el.find("limit")
        if limit is None:
            raise ValueError(f"{what}: a {jtype} joint needs <limit lower=... upper=...>")
        lower = _attr_float(limit, "lower", f"{what} limit", 0.0)
        upper = _attr_float(limit, "upper", f"{what} limit", 0.0)
        if lower > upper:
            raise ValueError(f"{what}: limit lower={lower} > upper={upper}")
    mimic = None
    mimic_el = el.find("mimic")
    if mimic_el is not None and jtype in _MOVING:
        source = mimic_el.get("joint")
        if not source:
            raise ValueError(f"{what}: <mimic> without joint")
        mimic = (
            source,
            _attr_float(mimic_el, "multiplier", f"{what} mimic", 1.0),
            _attr_float(mimic_el, "offset", f"{what} mimic", 0.0),
        )
    return Joint(name, jtype, links["parent"], links["child"], origin, axis, lower, upper, mimic)


def parse_urdf(text: str) -> RobotModel:
    """A :class:`RobotModel` from URDF XML text; ValueError naming the bad element."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"URDF is not valid XML: {exc}") from None
    if root.tag != "robot":
        raise ValueError(f"URDF root element is <{root.tag}>, expected <robot>")
    links = [el.get("name") for el in root.findall("link")]
    if not links or not all(links):
        raise ValueError("URDF has no links, or a <link> without a name")
    if len(set(links)) != len(links):
        raise ValueError("URDF has two links of the same name")
    joints = []
    for el in root.findall("joint"):
        if el.get("type") in ("floating", "planar"):
            raise ValueError(f"joint {el.get('name')!r}: type {el.get('type')!r} not supported")
        joints.append(_parse_joint(el))
    return RobotModel(root.get("name", ""), tuple(links), tuple(joints))


def load_urdf(path: str | os.PathLike) -> RobotModel:
    """:func:`parse_urdf` of a file; ValueError if it cannot be read."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read URDF {p}: {exc}") from None
    return parse_urdf(text)


class RobotModel:
    """A kinematic tree read from URDF (see the module docstring). Immutable after construction."""

    def __init__(self, name: str, links: Sequence[str], joints: Sequence[Joint]) -> None:
        self.name = name
        self.links: tuple[str, ...] = tuple(links)
        self.joints: tuple[Joint, ...] = tuple(joints)
        link_set = set(self.links)
        by_child: dict[str, Joint] = {}
        for j in self.joints:
            for end in (j.parent, j.child):
                if end not in link_set:
                    raise ValueError(f"joint {j.name!r}: link {end!r} is not defined")
            if j.child in by_child:
                raise ValueError(
                    f"link {j.child!r} has two parent joints: {by_child[j.child].name!r}, {j.name!r}"
                )
            by_child[j.child] = j
        if len({j.name for j in self.joints}) != len(self.joints):
            raise ValueError("URDF has two joints of the same name")
        roots = [link for link in self.links if link not in by_child]
        if len(roots) != 1:
            raise ValueError(f"URDF must have exactly one root link, found {roots}")
        self.root: str = roots[0]
        # joints in topological order (parents first); a cycle leaves some unreached
        order: list[Joint] = []
        frontier = [self.root]
        children: dict[str, list[Joint]] = {}
        for j in self.joints:
            children.setdefault(j.parent, []).append(j)
        while frontier:
            link = frontier.pop(0)
            for j in children.get(link, []):
                order.append(j)
                frontier.append(j.child)
        if len(order) != len(self.joints):
            raise ValueError("URDF joints form a cycle or a part not connected to the root link")
        self._order: tuple[Joint, ...] = tuple(order)
        names = {j.name: j for j in self.joints}
        self.actuated: tuple[str, ...] = tuple(
            j.name for j in self.joints if j.type in _MOVING and j.mimic is None
        )
        index = {n: i for i, n in enumerate(self.actuated)}
        for j in self.joints:
            if j.mimic is not None:
                source = names.get(j.mimic[0])
                if source is None or source.name not in index:
                    raise ValueError(
                        f"joint {j.name!r} mimics {j.mimic[0]!r}, which is not an actuated joint"
                    )
        # per joint in topological order: (index of the q entry driving it or -1, multiplier, offset)
        self._drive = tuple(
            (index[j.name], 1.0, 0.0)
            if j.name in index
            else ((index[j.mimic[0]], j.mimic[1], j.mimic[2]) if j.mimic is not None else (-1, 0.0, 0.0))
            for j in self._order
        )
        self.lower = np.array([names[n].lower for n in self.actuated], dtype=np.float64)
        self.upper = np.array([names[n].upper for n in self.actuated], dtype=np.float64)
        self._link_index = {link: i for i, link in enumerate(self.links)}
        self._parent_joint = {j.child: k for k, j in enumerate(self._order)}  # link -> index in _order
        # vectorised tables over the joints in topological order
        nj = len(self._order)
        self._origins = np.stack([j.origin for j in self._order]) if nj else np.zeros((0, 4, 4))  # (J, 4, 4)
        self._axes = np.stack([j.axis for j in self._order]) if nj else np.zeros((0, 3))  # (J, 3)
        self._skew = np.zeros((nj, 3, 3))  # cross-product matrices of the axes
        for k, a in enumerate(self._axes):
            self._skew[k] = [[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]]
        self._drive_matrix = np.zeros((nj, self.num_actuated))  # joint value = q @ D.T + offset
        self._drive_offset = np.zeros(nj)
        for k, (qi, mult, off) in enumerate(self._drive):
            if qi >= 0:
                self._drive_matrix[k, qi] = mult
                self._drive_offset[k] = off
        self._revolute = np.array([j.type in ("revolute", "continuous") for j in self._order], dtype=bool)
        self._prismatic = np.array([j.type == "prismatic" for j in self._order], dtype=bool)
        # joints grouped by depth in the tree: one vectorised step per level (a hand is 5 levels deep)
        depth = {self.root: 0}
        for j in self._order:
            depth[j.child] = depth[j.parent] + 1
        levels: dict[int, list[int]] = {}
        for k, j in enumerate(self._order):
            levels.setdefault(depth[j.parent], []).append(k)
        self._levels = [
            (
                np.array(ks),
                np.array([self._link_index[self._order[k].parent] for k in ks]),
                np.array([self._link_index[self._order[k].child] for k in ks]),
            )
            for _, ks in sorted(levels.items())
        ]

    @property
    def num_actuated(self) -> int:
        return len(self.actuated)

    def joint(self, name: str) -> Joint:
        for j in self.joints:
            if j.name == name:
                return j
        raise KeyError(f"no joint {name!r} in URDF {self.name!r}")

    def link_index(self, link: str) -> int:
        try:
            return self._link_index[link]
        except KeyError:
            raise ValueError(
                f"link {link!r} not in URDF {self.name!r} (links: {', '.join(self.links)})"
            ) from None

    def clamp(self, q: np.ndarray) -> np.ndarray:
        """``q`` (..., n) clipped to the joint limits."""
        return np.clip(q, self.lower, self.upper)

    def _check_q(self, q) -> tuple[np.ndarray, bool]:
        qa = np.asarray(q, dtype=np.float64)
        single = qa.ndim == 1
        qa = np.atleast_2d(qa)
        if qa.ndim != 2 or qa.shape[1] != self.num_actuated:
            raise ValueError(
                f"q must have shape (n,) or (B, n) with n={self.num_actuated}, got {np.shape(q)}"
            )
        if not np.all(np.isfinite(qa)):
            raise ValueError("q must be finite")
        return qa, single

    def _joint_frames(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, L, 4, 4) link poses and (B, J, 4, 4) joint frames (after the origin, before the motion)."""
        B, nj = q.shape[0], len(self._order)
        value = q @ self._drive_matrix.T + self._drive_offset  # (B, J) rad or m
        motion = np.zeros((B, nj, 4, 4))
        s, c = np.sin(value)[..., None, None], np.cos(value)[..., None, None]
        rot = np.eye(3) + s * self._skew + (1.0 - c) * (self._skew @ self._skew)  # Rodrigues, (B, J, 3, 3)
        motion[..., :3, :3] = np.where(self._revolute[:, None, None], rot, np.eye(3))
        motion[..., :3, 3] = self._prismatic[:, None] * self._axes * value[..., None]
        motion[..., 3, 3] = 1.0
        local = self._origins @ motion  # (B, J, 4, 4): child link in the parent link's frame
        links = np.empty((B, len(self.links), 4, 4))
        links[:, self._link_index[self.root]] = np.eye(4)
        frames = np.empty((B, nj, 4, 4))
        for ks, parents, children in self._levels:
            parent = links[:, parents]  # (B, K, 4, 4)
            frames[:, ks] = parent @ self._origins[ks]
            links[:, children] = parent @ local[:, ks]
        return links, frames

    @functools.lru_cache(maxsize=32)  # noqa: B019 - the model is immutable and lives as long as its users
    def _ancestors(self, links: tuple[str, ...]) -> np.ndarray:
        """(T, J) 1.0 where joint k (topological order) moves link t, else 0.0."""
        mask = np.zeros((len(links), len(self._order)))
        for t, link in enumerate(links):
            k = self._parent_joint.get(link)
            while k is not None:
                mask[t, k] = 1.0
                k = self._parent_joint.get(self._order[k].parent)
        return mask

    def link_poses(self, q) -> np.ndarray:
        """Poses of every link (order of ``self.links``) in the root link's frame: (B, L, 4, 4), or (L, 4, 4)
        for ``q`` of shape (n,). ``q`` rad / m, in ``self.actuated`` order."""
        qa, single = self._check_q(q)
        links, _ = self._joint_frames(qa)
        return links[0] if single else links

    def link_positions_jacobian(self, q, links: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions (B, T, 3) m of ``links`` in the root frame and their Jacobian (B, T, 3, n) with respect
        to ``q`` (m/rad or m/m). ``q`` of shape (n,) drops the batch axis of both."""
        qa, single = self._check_q(q)
        idx = [self.link_index(link) for link in links]
        poses, frames = self._joint_frames(qa)
        p = poses[:, idx][:, :, :3, 3]  # (B, T, 3)
        world_axes = np.einsum("bjkl,jl->bjk", frames[:, :, :3, :3], self._axes)  # (B, J, 3)
        lever = p[:, :, None, :] - frames[:, None, :, :3, 3]  # (B, T, J, 3)
        cols = np.where(
            self._prismatic[None, None, :, None],
            np.broadcast_to(world_axes[:, None], lever.shape),
            np.cross(np.broadcast_to(world_axes[:, None], lever.shape), lever),
        )  # (B, T, J, 3): d p_t / d joint value
        cols = cols * self._ancestors(tuple(links))[None, :, :, None]
        J = np.einsum("btjk,jn->btkn", cols, self._drive_matrix)  # (B, T, 3, n)
        if single:
            return p[0], J[0]
        return p, J
