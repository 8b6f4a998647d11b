"""Refinement: fit the hand model to one frame's landmark evidence, through the real camera model.

Per hand the landmark network gives 21 2D landmarks (image pixels, distorted: what the lens made) and 21
"world" landmarks (metres, its own hand-centred frame). The fit finds the hand model's shape β, wrist
rotation, 15 joint rotations and translation (camera optical frame, metres) so that

- its keypoints seen from the camera point along the landmarks' rays. The rays come from the real camera
  model (``CameraModel.pixels_to_rays``, distortion included, any field of view), and the residual is the
  angle between ray and keypoint direction, in pixels (angle x focal length), on the ray's tangent plane;
- its wrist-relative keypoints match the world landmarks up to a rotation (fitted too: the landmark
  network's frame is not the camera's); this carries the depth structure and the hand's size;
- priors hold: joint rotations near the initial ones and within the joint limits, β near 0, the wrist
  depth near the initial depth (a soft prior; the initial answer is the lifting head's or PnP's).

Solver: Levenberg-Marquardt, batched over the hands of a frame (no Python loop over points or hands), with
the exact Jacobian (:class:`HandSkeleton` gives the keypoints' derivatives in its forward pass), a fixed
number of iterations, a Cauchy-robust 2D term (iteratively reweighted), per-hand step acceptance. numpy
float64: the problem is small (64 parameters, 203 residuals per hand), so per-call overhead is the cost.
Units: metres, radians, pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from wildhands.data.synthetic.poses import POSE_CONVENTIONS, POSE_LOWER, POSE_UPPER, finger_plane_axes
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.rotations import rodrigues, skew, so3_left_jacobian
from wildhands.handmodel.keypoints import NUM_KEYPOINTS
from wildhands.handmodel.skeleton import HandSkeleton
from wildhands.model.lifting import unit_rays

__all__ = [
    "RefineConfig",
    "HandFit",
    "LandmarkEvidence",
    "refine",
    "initial_fit_from_pnp",
    "STEPS_RANGE",
    "check_steps",
]

#: allowed numbers of Levenberg-Marquardt steps (``RefineConfig.iterations``, a tracked start's steps)
STEPS_RANGE = (0, 100)

# the 64 parameters of one hand: wrist rotation, joint rotations, β, translation, world-frame rotation
_ORIENT, _POSE, _BETAS, _TRANSL, _WORLD = (
    slice(0, 3),
    slice(3, 48),
    slice(48, 58),
    slice(58, 61),
    slice(61, 64),
)


@dataclass(frozen=True)
class RefineConfig:
    """Weights of the fit's terms. A residual of 1 counts as 1 pixel of reprojection error.

    The defaults were chosen on the real-image bench (``bench/real_hands.py``, issue 18) from the lifting
    head's answer: the landmark network's world landmarks are coarse on real hands (a weak term), and the
    head's depth is better than what the world landmarks' size implies (a strong depth prior).

    iterations: Levenberg-Marquardt steps (fixed budget).
    world_px_per_mm: weight of the world-landmark term, pixels per millimetre of wrist-relative error.
    pose_prior_px_per_rad: pull of each joint rotation towards its initial value.
    limit_px_per_rad: penalty per radian outside the joint limits (``poses.POSE_LOWER/UPPER``).
    joint_limits: what the limits bound, in the pose convention of the initial answer
        (``poses.POSE_CONVENTIONS``): ``'components'``, each axis-angle component of a joint (the pose
        templates read as axis-angles, generator version 5 and before), or ``'finger_planes'``, a finger
        joint's rotation vector read on its bone's twist, abduction and flexion axes
        (``poses.finger_plane_axes`` of the fitted model: fingers that flex in their own planes, version 6),
        where a curled little finger's axis-angle has an x component of ~0.5 rad that the first pushes
        back. None: the lifting head's convention (``LiftingConfig.pose_convention``, set by
        ``LandmarkHands``), ``'components'`` without one.
    shape_prior_px: pull of each β towards 0 (per unit β).
    depth_prior_px: pull of the wrist depth towards its initial value, per 100 % relative change.
    shape_track_px: pull of each β towards the hand's known shape (``refine(shape_priors=...)``: its
        track's running mean), per unit β; replaces ``shape_prior_px`` for such hands.
    robust_px: scale of the Cauchy weight of the 2D residuals (outlier landmarks count less).
    damping: initial Levenberg-Marquardt damping (relative to the diagonal).
    """

    iterations: int = 5
    world_px_per_mm: float = 0.05
    pose_prior_px_per_rad: float = 5.0
    limit_px_per_rad: float = 50.0
    joint_limits: str | None = None
    shape_prior_px: float = 2.0
    depth_prior_px: float = 300.0
    shape_track_px: float = 30.0
    robust_px: float = 12.0
    damping: float = 1e-2

    def __post_init__(self) -> None:
        check_steps("iterations", self.iterations)
        for name in (
            "world_px_per_mm", "pose_prior_px_per_rad", "limit_px_per_rad", "shape_prior_px",
            "depth_prior_px", "robust_px", "damping", "shape_track_px",
        ):  # fmt: skip
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value!r} must be a finite number >= 0")
        if self.robust_px <= 0:
            raise ValueError(f"robust_px={self.robust_px!r} must be > 0")
        if self.joint_limits is not None and self.joint_limits not in POSE_CONVENTIONS:
            raise ValueError(
                f"joint_limits: need one of {POSE_CONVENTIONS} or None, got {self.joint_limits!r}"
            )


@dataclass
class LandmarkEvidence:
    """One hand's landmark-network output, in what the fit needs.

    landmarks_px: (21, 2) image pixels (distorted image, pixel-centre convention of ``CameraModel``).
    world_m: (21, 3) metres in the landmark network's hand frame (any origin, any rotation), or None.
    visible: (21,) weights in [0, 1] of the 2D landmarks (0: ignore).
    rays: (21, 3) unit rays of the landmarks through the fit's camera (``lifting.unit_rays``), or None:
        computed by the fit. Given when the caller has them already (the lifting head's inputs).
    """

    landmarks_px: np.ndarray
    world_m: np.ndarray | None = None
    visible: np.ndarray = field(default_factory=lambda: np.ones(NUM_KEYPOINTS))
    rays: np.ndarray | None = None


def check_steps(name: str, value) -> None:
    """ValueError naming ``name`` unless ``value`` is a whole number of steps in :data:`STEPS_RANGE`."""
    lo, hi = STEPS_RANGE
    if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
        raise ValueError(f"{name}={value!r} must be an integer in [{lo}, {hi}]")


@dataclass
class HandFit:
    """A fitted (or initial) hand: hand-model parameters in the camera optical frame.

    global_orient: (3,) axis-angle rad, hand-model frame -> camera. hand_pose: (15, 3) axis-angle rad.
    betas: (10,). transl: (3,) m. world_rotation: (3,) axis-angle of the world landmarks' frame -> camera.
    keypoints_cam_m: (21, 3). residual_px: mean distance (px) of the projected keypoints (through the
    camera model, distortion included) to the 2D landmarks, over the visible ones.
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    world_rotation: np.ndarray
    keypoints_cam_m: np.ndarray | None = None
    residual_px: float = float("nan")

    def vector(self) -> np.ndarray:
        return np.concatenate(
            [self.global_orient, self.hand_pose.reshape(-1), self.betas, self.transl, self.world_rotation]
        ).astype(np.float64)

    @classmethod
    def from_vector(cls, p: np.ndarray) -> HandFit:
        return cls(
            p[_ORIENT].copy(), p[_POSE].reshape(15, 3).copy(), p[_BETAS].copy(), p[_TRANSL].copy(),
            p[_WORLD].copy(),
        )  # fmt: skip


def _tangent_bases(rays: np.ndarray) -> np.ndarray:
    """(N, 2, 3) two unit vectors perpendicular to each unit ray (N, 3) and to each other."""
    helper = np.where(np.abs(rays[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(rays, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(rays, e1)
    return np.stack([e1, e2], axis=1)


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) minimising sum |R src_i - dst_i|^2 (both centred by the caller or not)."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def initial_fit_from_pnp(
    evidence: LandmarkEvidence,
    camera: CameraModel,
    skeleton: HandSkeleton,
    hand_pose: np.ndarray | None = None,
) -> HandFit:
    """Initial answer without a lifting head: cv2.solvePnP of the world landmarks on the (undistorted) 2D
    landmarks places and turns them in the camera frame; the hand model (mean shape, ``hand_pose`` or the
    flat hand) is then turned onto them (Kabsch on wrist-relative keypoints) and its wrist put at theirs."""
    if evidence.world_m is None:
        raise ValueError("initial_fit_from_pnp needs world landmarks")
    world = np.asarray(evidence.world_m, dtype=np.float64)
    rays = camera.pixels_to_rays(np.asarray(evidence.landmarks_px, dtype=np.float64))
    front = rays[:, 2] > 1e-3
    norm = np.where(front[:, None], rays[:, :2] / np.where(front, rays[:, 2], 1.0)[:, None], 0.0)
    use = front & (np.asarray(evidence.visible) > 0)
    ok, rvec, tvec = cv2.solvePnP(
        world[use], norm[use], np.eye(3), None, flags=cv2.SOLVEPNP_SQPNP
    ) if use.sum() >= 4 else (False, None, None)  # fmt: skip
    if not ok:
        raise ValueError("solvePnP failed on these landmarks")
    r_world = cv2.Rodrigues(rvec)[0]
    world_cam = world @ r_world.T + tvec.reshape(1, 3)
    pose = np.zeros((15, 3)) if hand_pose is None else np.asarray(hand_pose, dtype=np.float64)
    zero = np.zeros((1, 3))
    kp = skeleton(np.zeros((1, skeleton.num_betas)), zero, pose.reshape(1, 45), zero)[0]
    r0 = kabsch(kp - kp[0], world_cam - world_cam[0])
    # the skeleton turns about its rest wrist joint: wrist = joints0[0] + transl
    wrist_rest = skeleton.joints0[0]
    transl = world_cam[0] - wrist_rest
    return HandFit(
        global_orient=cv2.Rodrigues(r0)[0].ravel(),
        hand_pose=pose,
        betas=np.zeros(skeleton.num_betas),
        transl=transl,
        world_rotation=rvec.ravel(),
    )


class _Problem:
    """Residuals of N hands (and their exact Jacobian) as a function of their parameters (N, 64).

    Data per hand, set once per frame (``set_data``): bases (N, 21, 2, 3), focal (N,), world (N, 21, 3),
    w3d (N,), pose0 (N, 45), depth0 (N,), betas0 (N, 10) and shape_w (N,) (the β prior's centre and
    weight); the 2D weights w2d (N, 21) change with the robust reweighting and are passed per call.
    """

    def __init__(self, skeleton: HandSkeleton, config: RefineConfig) -> None:
        self.skeleton = skeleton
        self.c = config
        self.lower, self.upper = POSE_LOWER.reshape(-1), POSE_UPPER.reshape(-1)
        # (45, 45): pose -> the values the limits bound
        self.limit_axes = _limit_axes(skeleton, config.joint_limits or "components")

    def set_data(self, bases, focal, world, w3d, pose0, depth0, betas0, shape_w) -> None:
        self.bases, self.focal, self.pose0, self.depth0, self.betas0 = bases, focal, pose0, depth0, betas0
        self.world_rel = world[:, 1:] - world[:, :1]  # (N, 20, 3)
        self.s3d = 1000.0 * self.c.world_px_per_mm * w3d  # (N,)
        self.shape_w = shape_w

    def __call__(self, p: np.ndarray, w2d: np.ndarray, jacobian: bool = False):
        """(N, R) residuals in pixel units at ``p`` and, with ``jacobian``, (N, R, 64) their derivatives."""
        c, n = self.c, p.shape[0]
        out = self.skeleton(p[:, _BETAS], p[:, _ORIENT], p[:, _POSE], p[:, _TRANSL], jacobian=jacobian)
        kp, d_kp = out if jacobian else (out, None)  # (N, 21, 3), (N, 21, 3, 61)
        dist = np.linalg.norm(kp, axis=-1, keepdims=True)
        direction = kp / dist
        scale2d = self.focal[:, None, None] * w2d[..., None]  # (N, 21, 1)
        r2d = np.einsum("nkij,nkj->nki", self.bases, direction) * scale2d
        rot_world = rodrigues(p[:, _WORLD])  # (N, 3, 3)
        target = self.world_rel @ rot_world.transpose(0, 2, 1)
        rel = kp[:, 1:] - kp[:, :1]
        r3d = (rel - target) * self.s3d[:, None, None]
        pose = p[:, _POSE]
        r_pose = (pose - self.pose0) * c.pose_prior_px_per_rad
        limited = pose @ self.limit_axes.T
        below, above = limited < self.lower, limited > self.upper
        r_limit = np.where(below, self.lower - limited, 0.0) + np.where(above, limited - self.upper, 0.0)
        r_limit *= c.limit_px_per_rad
        r_shape = (p[:, _BETAS] - self.betas0) * self.shape_w[:, None]
        r_depth = ((kp[:, 0, 2] - self.depth0) / self.depth0 * c.depth_prior_px)[:, None]
        r = np.concatenate(
            [r2d.reshape(n, -1), r3d.reshape(n, -1), r_pose, r_limit, r_shape, r_depth], axis=1
        )  # fmt: skip
        if not jacobian:
            return r
        hand = slice(0, d_kp.shape[-1])  # the skeleton's 61 parameters come first
        J = np.zeros((n, r.shape[1], p.shape[1]))
        # 2D: d(bases . kp/|kp|) = bases (I - d d^T) / |kp| d kp
        proj = (np.eye(3) - direction[..., :, None] * direction[..., None, :]) / dist[..., None]
        d2d = np.einsum("nkij,nkjl->nkil", self.bases, proj) * scale2d[..., None]
        J[:, : 2 * NUM_KEYPOINTS, hand] = (d2d @ d_kp).reshape(n, -1, d_kp.shape[-1])
        rows = 2 * NUM_KEYPOINTS
        # world landmarks: d(-R w)/d aa = skew(R w) J_l(aa)
        s = self.s3d[:, None, None, None]
        d3d = (d_kp[:, 1:] - d_kp[:, :1]) * s
        J[:, rows : rows + 3 * (NUM_KEYPOINTS - 1), hand] = d3d.reshape(n, -1, d_kp.shape[-1])
        d_world = skew(target) @ so3_left_jacobian(p[:, _WORLD])[:, None] * s
        J[:, rows : rows + 3 * (NUM_KEYPOINTS - 1), _WORLD] = d_world.reshape(n, -1, 3)
        rows += 3 * (NUM_KEYPOINTS - 1)
        k = np.arange(_POSE.stop - _POSE.start)
        J[:, rows + k, _POSE.start + k] = c.pose_prior_px_per_rad
        rows += k.size
        sign = (above.astype(float) - below) * c.limit_px_per_rad
        J[:, rows : rows + k.size, _POSE] = sign[:, :, None] * self.limit_axes
        rows += k.size
        k = np.arange(_BETAS.stop - _BETAS.start)
        J[:, rows + k, _BETAS.start + k] = self.shape_w[:, None]
        rows += k.size
        J[:, rows, hand] = d_kp[:, 0, 2] * (c.depth_prior_px / self.depth0)[:, None]
        return r, J


@functools.lru_cache(maxsize=8)  # per skeleton (hashed by identity) and frame: ~1 ms, once
def _limit_axes(skeleton: HandSkeleton, frame: str) -> np.ndarray:
    """(45, 45) linear map from a hand pose of ``skeleton`` (45 axis-angle components, its side) to the values
    the joint limits bound (``RefineConfig.joint_limits``), in the right hand's convention: a left pose is
    the mirror (x, -y, -z) of a right one, and for ``'finger_planes'`` each finger joint is read on the axes
    of ``poses.finger_plane_axes`` of the skeleton's own rest keypoints (β = 0, zero pose; mirrored to a
    right hand). Block-diagonal, one 3 x 3 block per joint."""
    mirror = np.diag([1.0, -1.0, -1.0]) if skeleton.side == "left" else np.eye(3)
    if frame == "components":
        axes = np.tile(np.eye(3), (15, 1, 1))
    else:
        zero = np.zeros((1, 3))
        rest = skeleton(np.zeros((1, skeleton.num_betas)), zero, np.zeros((1, 45)), zero)[0]
        axes = finger_plane_axes(rest * ([-1.0, 1.0, 1.0] if skeleton.side == "left" else 1.0))
        # the coordinates of the rotation vector on those axes (not orthogonal: the flexion axis is turned
        # for convergence), exact for a joint turned about one of them alone
        axes = np.linalg.inv(axes.transpose(0, 2, 1))
    out = np.zeros((45, 45))
    for j in range(15):
        out[3 * j : 3 * j + 3, 3 * j : 3 * j + 3] = axes[j] @ mirror
    out.flags.writeable = False  # shared by every fit of this skeleton
    return out


def _robust_weights(r: np.ndarray, w2d: np.ndarray, scale_px: float) -> np.ndarray:
    """sqrt of the Cauchy IRLS weight (N, 21) of each landmark from residuals ``r`` (N, R) computed with
    the 2D weights ``w2d`` (N, 21) (divided out to get the landmark's plain error in px)."""
    r2d = r[:, : 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2)
    err = np.linalg.norm(r2d, axis=-1) / np.maximum(w2d, 1e-9)
    return 1.0 / np.sqrt(1.0 + (err / scale_px) ** 2)


def _hand_size(skeleton: HandSkeleton, betas: np.ndarray) -> np.ndarray:
    """(N,) m: mean distance of the rest keypoints (joints and tips) from the wrist, shapes ``betas``."""
    joints, tips = skeleton.rest(betas)
    points = np.concatenate([joints, tips], axis=1)
    return np.linalg.norm(points - joints[:, :1], axis=-1).mean(1)


def refine(
    evidence: list[LandmarkEvidence],
    cameras: list[CameraModel],
    skeleton: HandSkeleton,
    initial: list[HandFit],
    config: RefineConfig | None = None,
    shape_priors: list[np.ndarray | None] | None = None,
) -> list[HandFit]:
    """Fit every hand of ``evidence`` (all of one side: one ``skeleton``), from ``initial``.

    ``shape_priors``: per hand its known β (a track's shared shape, pulled with ``shape_track_px``) or
    None (β pulled towards 0 with ``shape_prior_px``); a known β is also the fit's starting shape.

    Returns one :class:`HandFit` per hand with its keypoints and reprojection residual (px). With
    ``config.iterations == 0`` the initial parameters come back unchanged (keypoints and residual filled).
    """
    config = config or RefineConfig()
    if not (len(evidence) == len(cameras) == len(initial)):
        raise ValueError(f"{len(evidence)} evidence, {len(cameras)} cameras, {len(initial)} initial fits")
    if not evidence:
        return []
    priors = shape_priors if shape_priors is not None else [None] * len(evidence)
    if len(priors) != len(evidence):
        raise ValueError(f"{len(priors)} shape priors for {len(evidence)} hands")
    num_betas = skeleton.num_betas
    p = np.stack([f.vector() for f in initial])
    known = np.array([b is not None for b in priors])
    betas0 = np.stack([np.zeros(num_betas) if b is None else np.asarray(b, np.float64) for b in priors])
    if config.iterations and known.any():
        # a known shape is also where the fit starts; the hand keeps its angular size, so its distance
        # scales with its size (wrist position along its ray x size ratio)
        ratio = np.where(known, _hand_size(skeleton, betas0) / _hand_size(skeleton, p[:, _BETAS]), 1.0)
        wrist, wrist0 = (skeleton.rest(b)[0][:, 0] for b in (p[:, _BETAS], betas0))
        p[:, _TRANSL] = (wrist + p[:, _TRANSL]) * ratio[:, None] - np.where(known[:, None], wrist0, wrist)
        p[:, _BETAS] = np.where(known[:, None], betas0, p[:, _BETAS])
    if config.iterations:
        p = _levenberg_marquardt(p, evidence, cameras, skeleton, config, betas0, known)
    kp = skeleton(p[:, _BETAS], p[:, _ORIENT], p[:, _POSE], p[:, _TRANSL])
    out = []
    for i, (e, cam) in enumerate(zip(evidence, cameras)):
        fit = HandFit.from_vector(p[i])
        fit.keypoints_cam_m = kp[i]
        fit.residual_px = reprojection_residual_px(fit.keypoints_cam_m, e, cam)
        out.append(fit)
    return out


def _levenberg_marquardt(p, evidence, cameras, skeleton, config, betas0, known) -> np.ndarray:
    """``config.iterations`` damped Gauss-Newton steps on all hands at once; a step is kept per hand
    where it lowers that hand's cost."""
    rays = [
        unit_rays(cam, np.asarray(e.landmarks_px, dtype=np.float64)[:, :2]) if e.rays is None else e.rays
        for e, cam in zip(evidence, cameras)
    ]
    bases = np.stack([_tangent_bases(r) for r in rays])
    focal = np.array([0.5 * (cam.fx + cam.fy) for cam in cameras])
    vis = np.stack([np.asarray(e.visible, dtype=np.float64) for e in evidence])
    world = np.stack(
        [np.zeros((NUM_KEYPOINTS, 3)) if e.world_m is None else np.asarray(e.world_m) for e in evidence]
    )
    w3d = np.array([0.0 if e.world_m is None else 1.0 for e in evidence])
    shape_w = np.where(known, config.shape_track_px, config.shape_prior_px)
    depth0 = np.maximum(skeleton(p[:, _BETAS], p[:, _ORIENT], p[:, _POSE], p[:, _TRANSL])[:, 0, 2], 0.05)
    problem = _Problem(skeleton, config)
    problem.set_data(bases, focal, world, w3d, p[:, _POSE].copy(), depth0, betas0, shape_w)
    lam = np.full(p.shape[0], config.damping)
    r, J, w2d = _reweighted(*problem(p, vis, jacobian=True), vis, vis, config.robust_px)
    for step in range(config.iterations):
        Jt = J.transpose(0, 2, 1)
        JtJ = Jt @ J
        g = (Jt @ r[..., None])[..., 0]
        diag = np.diagonal(JtJ, axis1=1, axis2=2)
        A = JtJ + (lam[:, None] * diag + 1e-9)[:, :, None] * np.eye(p.shape[1])
        trial = p - np.linalg.solve(A, g[..., None])[..., 0]
        last = step == config.iterations - 1
        # the trial's Jacobian comes with its residuals (one skeleton pass): reused when the step is kept
        r_trial, J_trial = (problem(trial, w2d), None) if last else problem(trial, w2d, jacobian=True)
        better = (r_trial**2).sum(-1) < (r * r).sum(-1)
        p = np.where(better[:, None], trial, p)
        if last:
            break
        lam = np.clip(np.where(better, lam / 3.0, lam * 4.0), 1e-7, 1e7)
        r = np.where(better[:, None], r_trial, r)
        J = np.where(better[:, None, None], J_trial, J)
        r, J, w2d = _reweighted(r, J, w2d, vis, config.robust_px)  # for the next step, one step of lag
    return p


def _reweighted(r, J, w2d, vis, scale_px):
    """The robust 2D weights from residuals ``r`` made with weights ``w2d``, and ``r``, ``J`` with their
    2D rows rescaled to them (those rows are linear in the weights): (r, J, new weights)."""
    w_new = vis * _robust_weights(r, w2d, scale_px)
    ratio = np.repeat(w_new / np.maximum(w2d, 1e-12), 2, axis=1)  # (N, 42): x and y rows of each landmark
    r, J = r.copy(), J.copy()
    r[:, : 2 * NUM_KEYPOINTS] *= ratio
    J[:, : 2 * NUM_KEYPOINTS] *= ratio[..., None]
    return r, J, w_new


def reprojection_residual_px(
    keypoints_cam_m: np.ndarray, evidence: LandmarkEvidence, camera: CameraModel
) -> float:
    """Mean distance (px) between the keypoints projected through ``camera`` and the visible 2D landmarks."""
    uv = camera.project(np.asarray(keypoints_cam_m, dtype=np.float64))
    d = np.linalg.norm(uv - np.asarray(evidence.landmarks_px, dtype=np.float64)[:, :2], axis=1)
    w = np.asarray(evidence.visible, dtype=np.float64)
    ok = np.isfinite(d) & (w > 0)
    return float((d[ok] * w[ok]).sum() / max(w[ok].sum(), 1e-9)) if ok.any() else float("nan")
