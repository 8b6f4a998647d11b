"""Refinement: the hand model fitted to exact synthetic landmarks through the real lens (issue 18, item 6)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from wildhands.data.synthetic.poses import sample_betas, sample_global_orient, sample_hand_pose
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.rotations import axis_angle_to_matrix, rodrigues, so3_left_jacobian
from wildhands.handmodel.open_hand import OpenHandModel
from wildhands.handmodel.skeleton import HandSkeleton
from wildhands.runtime.refine import (
    HandFit,
    LandmarkEvidence,
    RefineConfig,
    initial_fit_from_pnp,
    refine,
)

# priors nearly off: exact data, the fit should land on the truth
EXACT = RefineConfig(
    iterations=30, pose_prior_px_per_rad=0.01, shape_prior_px=0.01, depth_prior_px=0.0, world_px_per_mm=0.5
)


@pytest.fixture(scope="module")
def skeleton():
    return HandSkeleton(OpenHandModel("right"))


def _pinhole():
    return CameraModel.from_K([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]], 640, 480)


def _fisheye():
    f = 640 / math.radians(190.0)
    return CameraModel.from_K(
        [[f, 0, 319.5], [0, f, 239.5], [0, 0, 1]], 640, 480, D=[0.05, -0.01, 0.0, 0.0],
        distortion_model="equidistant",
    )  # fmt: skip


def _hand(skeleton, rng, lateral=0.08):
    truth = HandFit(
        global_orient=sample_global_orient(rng),
        hand_pose=sample_hand_pose(rng, int(rng.integers(8))),
        betas=sample_betas(rng, std=0.7),
        transl=np.array(
            [rng.uniform(-lateral, lateral), rng.uniform(-lateral, lateral), rng.uniform(0.3, 0.45)]
        ),
        world_rotation=np.zeros(3),
    )
    kp = skeleton(truth.betas[None], truth.global_orient[None], truth.hand_pose[None], truth.transl[None])[0]
    return truth, kp


def _evidence(kp, camera, rng):
    rot = cv2.Rodrigues(rng.normal(size=3))[0]  # the landmark network's own frame: any rotation/origin
    world = (kp - kp.mean(0)) @ rot.T + 0.01
    return LandmarkEvidence(landmarks_px=camera.project(kp), world_m=world)


def _perturbed(truth: HandFit, rng, scale: float = 1.0) -> HandFit:
    return HandFit(
        global_orient=truth.global_orient + rng.normal(0, 0.15 * scale, 3),
        hand_pose=truth.hand_pose + rng.normal(0, 0.15 * scale, (15, 3)),
        betas=np.zeros(10),
        transl=truth.transl * np.array([1.0, 1.0, 1.0 + 0.1 * scale]),
        world_rotation=np.zeros(3),
    )


def test_skeleton_equals_the_hand_models_keypoints():
    torch.manual_seed(0)
    for side in ("right", "left"):
        model = OpenHandModel(side)
        sk = HandSkeleton(model)
        b, go, hp, t = torch.randn(5, 10), torch.randn(5, 3), torch.randn(5, 45) * 0.6, torch.randn(5, 3)
        truth = model(b, go, hp, t).keypoints
        assert torch.allclose(truth, sk.torch_keypoints(b, go, hp, t), atol=1e-6)
        as_numpy = sk(*(x.double().numpy() for x in (b, go, hp, t)))
        assert np.abs(truth.double().numpy() - as_numpy).max() < 1e-6


@pytest.mark.parametrize("zero_pose", [False, True])
def test_skeleton_jacobian_equals_finite_differences(skeleton, zero_pose):
    """The analytic Jacobian (joint rotations via the SO(3) left Jacobian, β down the chain) against central
    differences, at a random pose and at the zero pose (where axis-angle derivatives are special)."""
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.normal(size=(2, 3)),
            rng.normal(size=(2, 45)) * 0.5,
            rng.normal(size=(2, 10)),
            rng.normal(size=(2, 3)),
        ],
        axis=1,
    )
    if zero_pose:
        x[:, :48] = 0.0

    def keypoints(v):
        return skeleton(v[:, 48:58], v[:, :3], v[:, 3:48], v[:, 58:61])

    kp, jac = skeleton(x[:, 48:58], x[:, :3], x[:, 3:48], x[:, 58:61], jacobian=True)
    assert np.allclose(kp, keypoints(x))
    numeric = np.stack([(keypoints(x + h) - keypoints(x - h)) / 2e-6 for h in np.eye(61) * 1e-6], axis=-1)
    assert np.abs(jac - numeric).max() < 1e-7, np.abs(jac - numeric).max()
    assert np.abs(jac[..., 3:48]).max() > 0.01  # the pose columns are not trivially zero


def test_rotations_numpy_match_roma_and_are_smooth_at_zero():
    aa = np.random.default_rng(0).normal(size=(50, 3)) * 2
    assert np.allclose(rodrigues(aa), axis_angle_to_matrix(torch.as_tensor(aa)).numpy(), atol=1e-10)
    assert np.allclose(rodrigues(np.zeros((1, 3))), np.eye(3))
    # left Jacobian: exp(aa + d) ~ exp(J_l d) exp(aa)
    d = np.array([1e-6, -2e-6, 0.5e-6])
    for a in (aa[0], np.zeros(3), np.full(3, 1e-5)):
        lhs = rodrigues(a + d)
        rhs = rodrigues(so3_left_jacobian(a) @ d) @ rodrigues(a)
        assert np.abs(lhs - rhs).max() < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refine_recovers_a_known_hand_from_exact_landmarks(skeleton, seed):
    rng = np.random.default_rng(seed)
    cam = _pinhole()
    truth, kp = _hand(skeleton, rng)
    ev = _evidence(kp, cam, rng)
    init = _perturbed(truth, rng)
    fit = refine([ev], [cam], skeleton, [init], EXACT)[0]
    err_mm = np.linalg.norm(fit.keypoints_cam_m - kp, axis=1) * 1000
    assert err_mm.mean() < 2.0, err_mm
    assert np.linalg.norm(fit.keypoints_cam_m[0] - kp[0]) * 1000 < 2.0
    assert fit.residual_px < 0.5


def test_refine_lowers_the_reprojection_error_from_a_perturbed_start(skeleton):
    rng = np.random.default_rng(5)
    cam = _pinhole()
    truth, kp = _hand(skeleton, rng)
    ev = _evidence(kp, cam, rng)
    init = _perturbed(truth, rng, scale=2.0)
    before = refine([ev], [cam], skeleton, [init], RefineConfig(iterations=0))[0]
    after = refine([ev], [cam], skeleton, [init], RefineConfig())[0]
    assert before.residual_px > 10.0
    assert after.residual_px < 0.2 * before.residual_px


def test_refine_off_returns_the_initial_answer(skeleton):
    rng = np.random.default_rng(3)
    cam = _pinhole()
    truth, kp = _hand(skeleton, rng)
    init = _perturbed(truth, rng)
    fit = refine([_evidence(kp, cam, rng)], [cam], skeleton, [init], RefineConfig(iterations=0))[0]
    assert np.array_equal(fit.vector(), init.vector())


def test_refine_fits_through_the_lens(skeleton):
    """A wide fisheye hand: through the fisheye model the fit lands on the truth; through a pinhole with
    the same K (the lens ignored) it cannot."""
    rng = np.random.default_rng(11)
    fisheye = _fisheye()
    truth, kp = _hand(skeleton, rng, lateral=0.25)
    ev = _evidence(kp, fisheye, rng)
    init = _perturbed(truth, rng, scale=0.5)
    good = refine([ev], [fisheye], skeleton, [init], EXACT)[0]
    pinhole = CameraModel.from_K(fisheye.K, fisheye.width, fisheye.height)
    bad = refine([ev], [pinhole], skeleton, [init], EXACT)[0]
    good_mm = np.linalg.norm(good.keypoints_cam_m - kp, axis=1).mean() * 1000
    bad_mm = np.linalg.norm(bad.keypoints_cam_m - kp, axis=1).mean() * 1000
    assert good_mm < 2.0 and bad_mm > 10.0, (good_mm, bad_mm)


def test_refine_is_batched_over_hands(skeleton):
    rng = np.random.default_rng(7)
    cam = _pinhole()
    hands = [_hand(skeleton, rng) for _ in range(3)]
    evidence = [_evidence(kp, cam, rng) for _, kp in hands]
    inits = [_perturbed(t, rng) for t, _ in hands]
    together = refine(evidence, [cam] * 3, skeleton, inits, EXACT)
    alone = refine(evidence[1:2], [cam], skeleton, inits[1:2], EXACT)[0]
    assert np.allclose(together[1].keypoints_cam_m, alone.keypoints_cam_m, atol=1e-6)


def test_pnp_initial_fit_places_the_hand(skeleton):
    rng = np.random.default_rng(4)
    cam = _pinhole()
    _, kp = _hand(skeleton, rng)
    init = initial_fit_from_pnp(_evidence(kp, cam, rng), cam, skeleton)
    wrist = init.transl + skeleton.joints0[0]
    assert np.linalg.norm(wrist - kp[0]) < 0.01  # exact world landmarks: PnP puts the wrist within 1 cm


def test_refine_config_refuses_bad_values():
    with pytest.raises(ValueError, match="iterations"):
        RefineConfig(iterations=-1)
    with pytest.raises(ValueError, match="robust_px"):
        RefineConfig(robust_px=0.0)


def test_a_known_shape_fixes_the_depth(skeleton):
    """β sharing within a track: the landmarks and world landmarks of a hand 15 % larger at 15 % more
    distance look the same (2D) and nearly so (world scale) as the true hand; with the track's β the fit
    finds the true depth (measured 0.1 mm wrist error), without it the initial (wrong) depth stays (21 mm)."""
    rng = np.random.default_rng(21)
    cam = _pinhole()
    truth, kp = _hand(skeleton, rng)
    wrong = truth.betas + np.array([1.5, 1.0, 0, 0, 0, 0, 0, 0, 0, 0])
    size = []
    for b in (truth.betas, wrong):
        joints, tips = skeleton.rest(b[None])
        pts = np.concatenate([joints, tips], 1)[0]
        size.append(float(np.linalg.norm(pts - joints[0, :1], axis=-1).mean()))
    ratio = size[1] / size[0]
    ev = _evidence(kp, cam, rng)
    ev.world_m = ev.world_m * ratio  # the landmark network's size estimate is off too
    init = HandFit(truth.global_orient, truth.hand_pose, wrong, truth.transl * ratio, np.zeros(3))
    free = refine([ev], [cam], skeleton, [init], RefineConfig())[0]
    shared = refine([ev], [cam], skeleton, [init], RefineConfig(), shape_priors=[truth.betas])[0]
    err_free = np.linalg.norm(free.keypoints_cam_m[0] - kp[0]) * 1000
    err_shared = np.linalg.norm(shared.keypoints_cam_m[0] - kp[0]) * 1000
    assert abs(ratio - 1) > 0.05, ratio
    assert err_shared < 10.0 and err_free > 2 * err_shared, (err_free, err_shared)


def _rest_keypoints(skeleton) -> np.ndarray:
    zero = np.zeros((1, 3))
    return skeleton(np.zeros((1, skeleton.num_betas)), zero, np.zeros((1, 45)), zero)[0]


def _limit_residual(problem, pose) -> np.ndarray:
    """The limit rows of the fit's residual for one hand of ``pose`` (15, 3)."""
    from wildhands.runtime.refine import NUM_KEYPOINTS

    p = np.zeros((1, 64))
    p[0, 3:48] = np.ravel(pose)
    p[0, 58:61] = (0.0, 0.0, 0.4)
    problem.set_data(
        np.zeros((1, 21, 2, 3)), np.ones(1), np.zeros((1, 21, 3)), np.zeros(1), p[:, 3:48], np.full(1, 0.4),
        np.zeros((1, 10)), np.zeros(1),
    )  # fmt: skip
    r = problem(p, np.ones((1, 21)))
    start = 2 * NUM_KEYPOINTS + 3 * (NUM_KEYPOINTS - 1) + 45
    return r[0, start : start + 45]


@pytest.mark.parametrize("side", ["right", "left"])
def test_finger_plane_limits_take_a_fist_that_flexes_in_its_planes(side):
    """Generator version 6's fist (``poses.flex_in_finger_planes``): its curled little finger's axis-angle
    has an x component of ~0.5 rad, which the component limits push back; read on the finger's own axes
    (``joint_limits: finger_planes``) every joint is within its limits. Left: the mirrored pose."""
    from wildhands.data.synthetic.poses import GRASP_TEMPLATES, clip_to_limits, flex_in_finger_planes
    from wildhands.model.grasp import GRASP_CLASS_IDS
    from wildhands.runtime.refine import _Problem

    skeleton = HandSkeleton(OpenHandModel(side))
    right = HandSkeleton(OpenHandModel("right"))
    components = clip_to_limits(GRASP_TEMPLATES[GRASP_CLASS_IDS["lateral"]][0])
    fist = flex_in_finger_planes(components, _rest_keypoints(right))
    if side == "left":
        fist = fist * np.array([1.0, -1.0, -1.0])
    planes = _limit_residual(_Problem(skeleton, RefineConfig(joint_limits="finger_planes")), fist)
    plain = _limit_residual(_Problem(skeleton, RefineConfig()), fist)
    assert np.abs(planes).max() < 1e-9
    assert np.abs(plain).max() > 0.3 * RefineConfig().limit_px_per_rad  # px: > 0.3 rad outside


@pytest.mark.parametrize("frame", ["components", "finger_planes"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_the_fits_jacobian_equals_finite_differences_with_either_limits(frame, side):
    from wildhands.runtime.refine import _Problem

    rng = np.random.default_rng(2)
    skeleton = HandSkeleton(OpenHandModel(side))
    problem = _Problem(skeleton, RefineConfig(joint_limits=frame))
    cam = _pinhole()
    p = np.zeros((1, 64))
    p[0, :3] = rng.normal(0, 0.5, 3)
    p[0, 3:48] = rng.normal(0, 0.6, 45)  # many joints outside their limits
    p[0, 48:58] = rng.normal(0, 0.5, 10)
    p[0, 58:61] = (0.02, -0.01, 0.4)
    p[0, 61:64] = rng.normal(0, 0.3, 3)
    kp = skeleton(p[:, 48:58], p[:, :3], p[:, 3:48], p[:, 58:61])[0] + rng.normal(0, 0.005, (21, 3))
    rays = kp / np.linalg.norm(kp, axis=1, keepdims=True)
    helper = np.where(np.abs(rays[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(rays, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    bases = np.stack([u, np.cross(rays, u)], axis=1)[None]  # (1, 21, 2, 3)
    problem.set_data(
        bases, np.full(1, cam.K[0, 0]), (kp - kp.mean(0))[None], np.ones(1), p[:, 3:48] + 0.1,
        np.full(1, 0.45), np.zeros((1, 10)), np.ones(1),
    )  # fmt: skip
    w2d = np.ones((1, 21))
    _, J = problem(p, w2d, jacobian=True)
    eps = 1e-6
    numeric = np.empty_like(J)
    for k in range(64):
        d = np.zeros_like(p)
        d[0, k] = eps
        numeric[:, :, k] = (problem(p + d, w2d) - problem(p - d, w2d)) / (2 * eps)
    assert np.abs(J - numeric).max() < 1e-3 * max(1.0, np.abs(numeric).max())
