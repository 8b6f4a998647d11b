"""URDF reader and forward kinematics: the bundled example hand, hand-computed chains, Jacobians, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wildhands.handmodel.keypoints import FINGER_NAMES, FINGERTIP_KEYPOINTS
from wildhands.handmodel.open_hand import OpenHandModel
from wildhands.retarget.example_hand import EXAMPLE_HAND_URDF, example_hand_urdf
from wildhands.retarget.urdf import load_urdf, parse_urdf, rpy_to_matrix

TIPS = [f"{f}_tip" for f in FINGER_NAMES]


@pytest.fixture(scope="module")
def hand():
    return load_urdf(EXAMPLE_HAND_URDF)


def test_bundled_hand_structure_and_limits(hand):
    assert hand.name == "wildhands_example_hand" and hand.root == "palm"
    assert hand.num_actuated == 20
    assert sum(j.type == "fixed" for j in hand.joints) == 5
    assert hand.actuated[:4] == ("thumb_cmc_abd", "thumb_cmc_flex", "thumb_mcp", "thumb_ip")
    assert [n for n in hand.actuated if n.startswith("index")] == [
        "index_abd",
        "index_mcp",
        "index_pip",
        "index_dip",
    ]
    i = hand.actuated.index("index_pip")
    assert (hand.lower[i], hand.upper[i]) == (0.0, 1.9)
    i = hand.actuated.index("ring_abd")
    assert (hand.lower[i], hand.upper[i]) == (-0.35, 0.35)
    assert np.all(hand.lower < hand.upper)


def test_bundled_file_is_the_generators_output():
    assert EXAMPLE_HAND_URDF.read_text() == example_hand_urdf(), (
        "the bundled URDF is stale: run python scripts/make_example_hand_urdf.py"
    )


def test_rest_pose_tips_are_the_open_hand_models_fingertips(hand):
    kp = OpenHandModel(dtype=torch.float64)().keypoints[0].numpy()
    poses = hand.link_poses(np.zeros(hand.num_actuated))
    tips = np.stack([poses[hand.link_index(t)][:3, 3] for t in TIPS])
    assert np.abs(tips - kp[list(FINGERTIP_KEYPOINTS)]).max() < 2e-5  # file rounds to 0.01 mm


def test_flexing_the_index_curls_it_towards_the_palm(hand):
    q = np.zeros(hand.num_actuated)
    q[hand.actuated.index("index_mcp")] = math.pi / 2
    tip0 = hand.link_poses(np.zeros(hand.num_actuated))[hand.link_index("index_tip")][:3, 3]
    tip = hand.link_poses(q)[hand.link_index("index_tip")][:3, 3]
    assert tip[1] < -0.07 and tip0[1] == pytest.approx(0.0, abs=1e-6)  # palm normal is -y


PLANAR = """<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="tool"/><link name="slider"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/><origin xyz="0.3 0 0"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j3" type="revolute"><parent link="l2"/><child link="tool"/><origin xyz="0.2 0 0" rpy="0 0 0"/>
    <axis xyz="0 0 1"/><mimic joint="j2" multiplier="0.5" offset="0.1"/>
    <limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="p" type="prismatic"><parent link="base"/><child link="slider"/>
    <origin xyz="0 0 1" rpy="0 0 1.5707963267948966"/><axis xyz="1 0 0"/>
    <limit lower="0" upper="0.5" effort="1" velocity="1"/></joint>
</robot>"""


def test_fk_of_a_planar_arm_equals_hand_computed_values():
    arm = parse_urdf(PLANAR)
    assert arm.actuated == ("j1", "j2", "p")  # j3 mimics j2
    q1, q2, d = 0.4, -1.1, 0.25
    poses = arm.link_poses([q1, q2, d])
    l2 = poses[arm.link_index("l2")]
    assert np.allclose(l2[:3, 3], [0.3 * math.cos(q1), 0.3 * math.sin(q1), 0.0])
    tool = poses[arm.link_index("tool")]
    expected = [0.3 * math.cos(q1) + 0.2 * math.cos(q1 + q2), 0.3 * math.sin(q1) + 0.2 * math.sin(q1 + q2), 0]
    assert np.allclose(tool[:3, 3], expected)
    a = q1 + q2 + 0.5 * q2 + 0.1  # the mimic joint adds 0.5 q2 + 0.1
    assert np.allclose(tool[:3, :3], rpy_to_matrix(0, 0, a))
    # prismatic along x of a frame yawed by 90 deg: moves along base +y
    assert np.allclose(poses[arm.link_index("slider")][:3, 3], [0.0, d, 1.0])


def test_jacobian_matches_finite_differences_and_batching(hand):
    rng = np.random.default_rng(0)
    q = rng.uniform(hand.lower, hand.upper)
    p, J = hand.link_positions_jacobian(q, TIPS)
    eps = 1e-6
    for i in range(hand.num_actuated):
        dq = np.zeros_like(q)
        dq[i] = eps
        num = (
            hand.link_positions_jacobian(q + dq, TIPS)[0] - hand.link_positions_jacobian(q - dq, TIPS)[0]
        ) / (2 * eps)
        assert np.abs(num - J[..., i]).max() < 1e-8, hand.actuated[i]
    Q = rng.uniform(hand.lower, hand.upper, (4, hand.num_actuated))
    pb, Jb = hand.link_positions_jacobian(Q, TIPS)
    assert pb.shape == (4, 5, 3) and Jb.shape == (4, 5, 3, 20)
    p2, J2 = hand.link_positions_jacobian(Q[2], TIPS)
    assert np.allclose(pb[2], p2) and np.allclose(Jb[2], J2)
    arm = parse_urdf(PLANAR)
    qa = np.array([0.3, 0.7, 0.1])
    pa, Ja = arm.link_positions_jacobian(qa, ["tool", "slider"])
    for i in range(3):
        dq = np.zeros(3)
        dq[i] = eps
        num = (arm.link_positions_jacobian(qa + dq, ["tool", "slider"])[0] - arm.link_positions_jacobian(
            qa - dq, ["tool", "slider"])[0]) / (2 * eps)  # fmt: skip
        assert np.abs(num - Ja[..., i]).max() < 1e-8


@pytest.mark.parametrize(
    "text, message",
    [
        ("<robot", "not valid XML"),
        ("<model/>", "expected <robot>"),
        ('<robot name="r"/>', "no links"),
        ('<robot><link name="a"/><link name="b"/><joint name="j" type="floating"><parent link="a"/>'
         '<child link="b"/></joint></robot>', "'floating' not supported"),
        ('<robot><link name="a"/><link name="b"/><joint name="j" type="revolute"><parent link="a"/>'
         '<child link="b"/></joint></robot>', "needs <limit"),
        ('<robot><link name="a"/><link name="b"/><joint name="j" type="fixed"><parent link="a"/>'
         '<child link="c"/></joint></robot>', "link 'c' is not defined"),
        ('<robot><link name="a"/><link name="b"/></robot>', "exactly one root"),
        ('<robot><link name="a"/><link name="b"/><joint name="j" type="fixed"><parent link="a"/>'
         '<child link="b"/><origin xyz="0 nan 0"/></joint></robot>', "finite"),
        ('<robot><link name="a"/><link name="b"/><joint name="j" type="continuous"><parent link="a"/>'
         '<child link="b"/><mimic joint="k"/></joint></robot>', "mimics 'k'"),
    ],
)  # fmt: skip
def test_bad_urdf_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_urdf(text)


def test_bad_q_and_links(hand, tmp_path):
    with pytest.raises(ValueError, match="shape"):
        hand.link_poses(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        hand.link_poses(np.full(20, np.nan))
    with pytest.raises(ValueError, match="link 'wrist' not in URDF"):
        hand.link_positions_jacobian(np.zeros(20), ["wrist"])
    with pytest.raises(ValueError, match="cannot read URDF"):
        load_urdf(tmp_path / "missing.urdf")
