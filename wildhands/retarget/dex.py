"""Dexterous-hand retargeting by vector matching: human keypoints -> robot hand joint targets.

The method of the dex-retargeting literature ("vector retargeting": Qin et al., "AnyTeleop", RSS 2023;
Handa et al., "DexPilot", ICRA 2020): choose pairs of human keypoints (wrist -> each fingertip, thumb tip ->
each other fingertip, ...) and the robot links that correspond to them, and find the joint values ``q``
whose link-to-link vectors match the human vectors::

    minimise  sum_i w_i || v_i(q) - s * R h_i ||^2  +  lambda || q - q_prev ||^2     over  lower <= q <= upper

``v_i(q) = p_task_i(q) - p_origin_i(q)`` (m, robot base frame, forward kinematics of the URDF);
``h_i`` (m) the same vector between human keypoints in the hand frame (:func:`keypoints_in_hand_frame`);
``s`` the human -> robot ``scale`` (1 for a robot hand of human size); ``R`` the fixed rotation from the
hand frame into the robot's base link (``hand_rpy``); ``lambda`` (m²/rad², ``smoothness``) keeps ``q``
near the previous solution (temporal smoothness, and it picks one solution where the hand is redundant).
It is a bounded nonlinear least-squares problem: solved with SciPy's trust-region-reflective
``least_squares`` (box constraints = joint limits) on the analytic Jacobian of the residuals
(``sqrt(w_i) (J_task_i - J_origin_i)`` from :meth:`RobotModel.link_positions_jacobian`, and
``sqrt(lambda) I``), warm-started from the previous solution. The result always lies within the limits.

Frames: the hand frame is the hand model's (origin at the wrist, fingers along −x, palm normal −y, thumb
towards +z for a right hand; ``Hand.wrist_pose`` rotates it into the camera frame). A left hand is mirrored
(x -> −x) into a right hand first, so one right-hand URDF serves both sides; for a left robot hand that is
the mirror image of the right one, the same joint values apply.

    retargeter = VectorRetargeter(load_urdf(EXAMPLE_HAND_URDF), VectorRetargetConfig())
    kp_hand = keypoints_in_hand_frame(hand.keypoints_cam_m, hand.wrist_rotation, hand.side)
    result = retargeter(kp_hand)             # result.q (n,) rad, in retargeter.joint_names order
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from wildhands.handmodel.keypoints import FINGER_NAMES, KEYPOINT_NAMES, NUM_KEYPOINTS
from wildhands.retarget.example_hand import EXAMPLE_HAND_LINK_MAP
from wildhands.retarget.urdf import RobotModel, rpy_to_matrix

__all__ = [
    "DEFAULT_VECTORS",
    "RetargetResult",
    "VectorRetargetConfig",
    "VectorRetargeter",
    "keypoints_in_hand_frame",
]

_TIPS = tuple(f"{f}_tip" for f in FINGER_NAMES)
DEFAULT_VECTORS: tuple[tuple[str, str], ...] = tuple(("wrist", t) for t in _TIPS) + tuple(
    ("thumb_tip", t) for t in _TIPS[1:]
)
"""Wrist -> each fingertip (5) and thumb tip -> each other fingertip (4), as human keypoint names."""

_MIRROR = np.array([-1.0, 1.0, 1.0])


def keypoints_in_hand_frame(keypoints_cam_m, wrist_rotation, side: str = "right") -> np.ndarray:
    """(21, 3) m in the hand frame (origin at the wrist, right-hand model axes) from camera-frame keypoints.

    keypoints_cam_m: (21, 3) m, camera optical frame. wrist_rotation: (3, 3), hand frame -> camera frame
    (``HandEstimate.wrist_rotation``, the rotation of ``Hand.wrist_pose``). side: 'right' or 'left'; a left
    hand is mirrored (x -> −x) into a right hand.
    """
    kp = np.asarray(keypoints_cam_m, dtype=np.float64)
    R = np.asarray(wrist_rotation, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints_cam_m must have shape (21, 3), got {kp.shape}")
    if R.shape != (3, 3):
        raise ValueError(f"wrist_rotation must have shape (3, 3), got {R.shape}")
    if not (np.all(np.isfinite(kp)) and np.all(np.isfinite(R))):
        raise ValueError("keypoints_cam_m and wrist_rotation must be finite")
    if side not in ("left", "right"):
        raise ValueError(f"side={side!r} not in {{'left', 'right'}}")
    local = (kp - kp[0]) @ R  # row-wise R^T (p - wrist)
    return local * _MIRROR if side == "left" else local


@dataclass(frozen=True)
class VectorRetargetConfig:
    """What to match and how (ValueError naming a bad field).

    link_map: (human keypoint name, robot link name) pairs for every keypoint used in ``vectors``.
    vectors: (origin, task) human keypoint names; each vector runs origin -> task.
    weights: one weight per vector (> 0), or empty for all 1.
    scale: human -> robot length ratio (> 0); 1 for a robot hand of human size.
    hand_rpy: rad, fixed roll, pitch, yaw (URDF convention) of the hand frame in the robot base link.
    smoothness: m²/rad², weight of ``||q - q_prev||²`` (>= 0).
    max_iterations: most residual evaluations per solve (>= 1; ``least_squares``' ``max_nfev``).
    """

    link_map: tuple[tuple[str, str], ...] = tuple(EXAMPLE_HAND_LINK_MAP.items())
    vectors: tuple[tuple[str, str], ...] = DEFAULT_VECTORS
    weights: tuple[float, ...] = ()
    scale: float = 1.0
    hand_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    smoothness: float = 1e-6
    max_iterations: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "link_map", tuple((str(a), str(b)) for a, b in self.link_map))
        object.__setattr__(self, "vectors", tuple((str(a), str(b)) for a, b in self.vectors))
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        object.__setattr__(self, "hand_rpy", tuple(float(v) for v in self.hand_rpy))
        mapped = dict(self.link_map)
        for name in mapped:
            if name not in KEYPOINT_NAMES:
                raise ValueError(
                    f"link_map: {name!r} is not a keypoint name (one of {', '.join(KEYPOINT_NAMES)})"
                )
        if not self.vectors:
            raise ValueError("vectors: at least one vector is needed")
        for a, b in self.vectors:
            if a == b:
                raise ValueError(f"vectors: ({a!r}, {b!r}) has the same start and end")
            for name in (a, b):
                if name not in mapped:
                    raise ValueError(f"vectors: keypoint {name!r} has no robot link in link_map")
        if self.weights and (len(self.weights) != len(self.vectors) or not all(
            math.isfinite(w) and w > 0 for w in self.weights
        )):  # fmt: skip
            raise ValueError(f"weights: need {len(self.vectors)} finite values > 0, got {self.weights}")
        if len(self.hand_rpy) != 3 or not all(math.isfinite(v) for v in self.hand_rpy):
            raise ValueError(f"hand_rpy={self.hand_rpy} must be 3 finite angles")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale={self.scale} must be > 0")
        if not (math.isfinite(self.smoothness) and self.smoothness >= 0):
            raise ValueError(f"smoothness={self.smoothness} must be >= 0")
        if (
            isinstance(self.max_iterations, bool)
            or not isinstance(self.max_iterations, int)
            or self.max_iterations < 1
        ):
            raise ValueError(f"max_iterations={self.max_iterations!r} must be an integer >= 1")


@dataclass
class RetargetResult:
    """q (n,) rad/m within the limits, in ``VectorRetargeter.joint_names`` order; ``vector_errors`` (V,) m:
    ``||v_i(q) - s R h_i||``; ``evaluations``: residual evaluations of the solver."""

    q: np.ndarray
    vector_errors: np.ndarray
    evaluations: int
    targets: np.ndarray = field(repr=False)  # (V, 3) m, robot base frame


class VectorRetargeter:
    """Vector retargeting onto one robot hand (see the module docstring). Keeps the previous solution."""

    def __init__(self, model: RobotModel, config: VectorRetargetConfig | None = None) -> None:
        self.model = model
        self.config = c = config or VectorRetargetConfig()
        if model.num_actuated == 0:
            raise ValueError(f"URDF {model.name!r} has no actuated joints")
        mapped = dict(c.link_map)
        for link in mapped.values():
            model.link_index(link)  # ValueError naming a missing link
        links = sorted({mapped[n] for pair in c.vectors for n in pair})
        self._links = tuple(links)
        self._origin = np.array([links.index(mapped[a]) for a, _ in c.vectors])
        self._task = np.array([links.index(mapped[b]) for _, b in c.vectors])
        self._human_origin = np.array([KEYPOINT_NAMES.index(a) for a, _ in c.vectors])
        self._human_task = np.array([KEYPOINT_NAMES.index(b) for _, b in c.vectors])
        self._rotation = rpy_to_matrix(*c.hand_rpy)  # hand frame -> robot base
        # cold start: the middle of each joint's range (q = 0 for continuous joints); from there the solver
        # reaches every target of the bundled hand, while q = 0 sits on many lower limits
        self.q_start = np.where(np.isfinite(model.lower + model.upper), (model.lower + model.upper) / 2, 0.0)
        self._bounds = (model.lower, model.upper)  # ±inf for continuous joints
        self._sqrt_w = np.sqrt(np.array(c.weights) if c.weights else np.ones(len(c.vectors)))
        self._sqrt_lam = math.sqrt(c.smoothness)
        self.q_prev: np.ndarray | None = None
        self._cache: tuple | None = None

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.model.actuated

    def reset(self) -> None:
        """Forget the previous solution (a new hand): the next solve starts from ``q_start``."""
        self.q_prev = None

    def target_vectors(self, keypoints_hand_m) -> np.ndarray:
        """(V, 3) m in the robot base frame: ``scale * R (kp[task] - kp[origin])``."""
        kp = np.asarray(keypoints_hand_m, dtype=np.float64)
        if kp.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints_hand_m must have shape (21, 3), got {kp.shape}")
        if not np.all(np.isfinite(kp)):
            raise ValueError("keypoints_hand_m must be finite")
        h = kp[self._human_task] - kp[self._human_origin]
        return self.config.scale * h @ self._rotation.T

    def keypoints_at(self, q) -> np.ndarray:
        """(21, 3) m, hand frame: human keypoints that the robot at ``q`` matches exactly (the mapped links'
        positions taken back through ``hand_rpy`` and ``scale``; unmapped keypoints are 0, unused by the fit).
        A target the solver can reach: for tests and benchmarks."""
        mapped = dict(self.config.link_map)
        names = [n for n in KEYPOINT_NAMES if n in mapped]
        p = self.model.link_positions_jacobian(q, [mapped[n] for n in names])[0]  # (K, 3) base frame
        kp = np.zeros((NUM_KEYPOINTS, 3))
        kp[[KEYPOINT_NAMES.index(n) for n in names]] = p @ self._rotation / self.config.scale
        return kp

    def robot_vectors(self, q) -> np.ndarray:
        """(V, 3) m: the robot's vectors at ``q`` (n,)."""
        p = self.model.link_positions_jacobian(q, self._links)[0]
        return p[self._task] - p[self._origin]

    def _kinematics(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Link positions and Jacobian at ``q``; the solver asks for residuals and Jacobian at the same q."""
        key = q.tobytes()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, *self.model.link_positions_jacobian(q, self._links))
        return self._cache[1], self._cache[2]

    def _residuals(self, q: np.ndarray, targets: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
        """(3V + n,): ``sqrt(w_i) r_i`` (m) then ``sqrt(lambda) (q - q_ref)``."""
        p = self._kinematics(q)[0]
        r = (p[self._task] - p[self._origin] - targets) * self._sqrt_w[:, None]
        return np.concatenate([r.ravel(), self._sqrt_lam * (q - q_ref)])

    def _jacobian(self, q: np.ndarray, targets: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
        """(3V + n, n): d residuals / d q."""
        J = self._kinematics(q)[1]  # (T, 3, n)
        Jv = (J[self._task] - J[self._origin]) * self._sqrt_w[:, None, None]  # (V, 3, n)
        return np.concatenate([Jv.reshape(-1, J.shape[-1]), self._sqrt_lam * np.eye(J.shape[-1])])

    def cost(self, q, keypoints_hand_m, q_ref=None) -> float:
        """The objective at ``q``: ``sum_i w_i ||v_i(q) - s R h_i||^2 + lambda ||q - q_ref||^2`` (m²)."""
        q = np.asarray(q, dtype=np.float64)
        ref = q if q_ref is None else np.asarray(q_ref, dtype=np.float64)
        r = self._residuals(q, self.target_vectors(keypoints_hand_m), ref)
        return float(r @ r)

    def __call__(self, keypoints_hand_m, q_init=None) -> RetargetResult:
        """Solve for ``keypoints_hand_m`` (21, 3) m, hand frame (:func:`keypoints_in_hand_frame`).

        Warm start: ``q_init`` if given, else the previous solution, else ``q_start`` (the middle of the
        joint ranges). The smoothness term pulls towards the same point. Stores the result as the next
        warm start.
        """
        targets = self.target_vectors(keypoints_hand_m)
        if q_init is not None:
            q0 = np.asarray(q_init, dtype=np.float64)
            if q0.shape != (self.model.num_actuated,) or not np.all(np.isfinite(q0)):
                raise ValueError(f"q_init must be {self.model.num_actuated} finite values")
        else:
            q0 = self.q_prev if self.q_prev is not None else self.q_start
        q0 = self.model.clamp(q0)
        res = least_squares(
            self._residuals,
            q0,
            jac=self._jacobian,
            bounds=self._bounds,
            method="trf",
            x_scale=1.0,
            ftol=None,  # at a joint limit trf's scaled steps are tiny: relative-change tests stop it early
            xtol=None,
            gtol=1e-10,
            max_nfev=self.config.max_iterations,
            args=(targets, q0.copy()),
        )
        q = self.model.clamp(res.x)
        if not np.all(np.isfinite(q)):  # never hand out NaN: keep the start
            q = q0
        self.q_prev = q
        v = self.robot_vectors(q)
        return RetargetResult(
            q=q,
            vector_errors=np.linalg.norm(v - targets, axis=1),
            evaluations=int(res.nfev),
            targets=targets,
        )

    @property
    def vectors(self) -> Sequence[tuple[str, str]]:
        return self.config.vectors
