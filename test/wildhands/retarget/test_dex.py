"""Vector retargeting onto the bundled example hand (identity scale): reachable targets are reproduced,
human poses of the open hand model give a bounded error, limits hold, left hands mirror, bad input fails."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from wildhands.retarget.dex import VectorRetargetConfig, VectorRetargeter, keypoints_in_hand_frame
from wildhands.retarget.example_hand import EXAMPLE_HAND_URDF
from wildhands.retarget.example_poses import human_hand_poses, human_keypoints
from wildhands.retarget.urdf import load_urdf

REACHABLE_MAX_MM = 0.5  # worst matched vector over the reachable targets (bench: max 0.09 mm on 100)
HUMAN_MEAN_MM, HUMAN_MAX_MM = 5.0, 40.0  # human poses (bench/results/retarget.json, 100: mean 3.5, max 35 mm)


@pytest.fixture(scope="module")
def model():
    return load_urdf(EXAMPLE_HAND_URDF)


def test_identity_scaled_hand_reproduces_reachable_fingertip_vectors(model):
    r = VectorRetargeter(model)
    rng = np.random.default_rng(0)
    for _ in range(8):
        q_true = rng.uniform(model.lower, model.upper)
        r.reset()  # cold start every time
        res = r(r.keypoints_at(q_true))
        assert res.vector_errors.max() * 1e3 < REACHABLE_MAX_MM, res.vector_errors
        assert np.all(res.q >= model.lower) and np.all(res.q <= model.upper)
        # the wrist -> fingertip vectors themselves, from forward kinematics
        assert (
            np.abs(r.robot_vectors(res.q)[:5] - r.robot_vectors(q_true)[:5]).max() < REACHABLE_MAX_MM * 1e-3
        )


def test_a_few_iterations_are_not_enough():  # the check above can fail
    model = load_urdf(EXAMPLE_HAND_URDF)
    r = VectorRetargeter(model, VectorRetargetConfig(max_iterations=1))
    q_true = np.random.default_rng(1).uniform(model.lower, model.upper)
    assert r(r.keypoints_at(q_true)).vector_errors.max() * 1e3 > REACHABLE_MAX_MM


def test_scale_and_hand_rotation_are_applied(model):
    config = VectorRetargetConfig(scale=0.8, hand_rpy=(0.3, -0.2, 1.0))
    r = VectorRetargeter(model, config)
    q_true = np.random.default_rng(2).uniform(model.lower, model.upper)
    kp = r.keypoints_at(q_true)  # human keypoints 1/0.8 the robot's size, in a rotated frame
    assert np.linalg.norm(kp[12]) == pytest.approx(np.linalg.norm(r.robot_vectors(q_true)[2]) / 0.8)
    assert r(kp).vector_errors.max() * 1e3 < REACHABLE_MAX_MM


def test_human_poses_have_a_bounded_error(model):
    r = VectorRetargeter(model)
    kps = human_keypoints(human_hand_poses(10, seed=1))
    errors = []
    for kp in kps:
        r.reset()
        res = r(kp)
        assert np.all(res.q >= model.lower) and np.all(res.q <= model.upper)
        errors.append(res.vector_errors)
    errors = np.array(errors) * 1e3
    assert errors.mean() < HUMAN_MEAN_MM and errors.max() < HUMAN_MAX_MM, (errors.mean(), errors.max())


def test_warm_start_keeps_the_solution(model):
    r = VectorRetargeter(model)
    kp = human_keypoints(human_hand_poses(1, seed=3))[0]
    first = r(kp)
    again = r(kp)  # same target from the previous solution: fewer evaluations, the same joints (10 mrad)
    assert again.evaluations <= first.evaluations and np.abs(again.q - first.q).max() < 0.01
    r.reset()
    assert r.q_prev is None


def test_keypoints_in_hand_frame_for_both_sides():
    kp_hand = human_keypoints(human_hand_poses(1, seed=4))[0]
    R = Rotation.random(random_state=6).as_matrix()
    t = np.array([0.05, -0.1, 0.55])
    assert np.allclose(keypoints_in_hand_frame(kp_hand @ R.T + t, R, "right"), kp_hand)
    # a left hand is the mirror image (x -> -x) in its own frame; it comes back as the right hand
    left = kp_hand * [-1.0, 1.0, 1.0]
    assert np.allclose(keypoints_in_hand_frame(left @ R.T + t, R, "left"), kp_hand)
    with pytest.raises(ValueError, match="side"):
        keypoints_in_hand_frame(kp_hand, R, "both")
    with pytest.raises(ValueError, match="finite"):
        keypoints_in_hand_frame(np.full((21, 3), np.nan), R)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"link_map": (("wrist", "palm"), ("tip", "index_tip"))}, "'tip' is not a keypoint"),
     ({"vectors": (("wrist", "index_pip"),)}, "'index_pip' has no robot link"),
     ({"vectors": ()}, "at least one"), ({"scale": 0.0}, "scale"), ({"weights": (1.0,)}, "weights"),
     ({"smoothness": -1.0}, "smoothness"), ({"max_iterations": 0}, "max_iterations")],
)  # fmt: skip
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VectorRetargetConfig(**kwargs)


def test_a_link_missing_in_the_urdf_is_named(model):
    config = VectorRetargetConfig(link_map=(("wrist", "base_link"), ("index_tip", "index_tip")),
                                  vectors=(("wrist", "index_tip"),))  # fmt: skip
    with pytest.raises(ValueError, match="link 'base_link' not in URDF"):
        VectorRetargeter(model, config)
