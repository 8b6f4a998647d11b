"""The constants in msg/Hand.msg agree with the core package's tables (one source of truth each side)."""

from __future__ import annotations

import pytest

from wildhands.handmodel.keypoints import KEYPOINT_NAMES
from wildhands.model.grasp import GRASP_CLASSES

pytestmark = pytest.mark.ros


def test_keypoint_constants_match_the_keypoint_order():
    from wildhands_ros.msg import Hand

    assert Hand.NUM_KEYPOINTS == len(KEYPOINT_NAMES) == 21
    for index, name in enumerate(KEYPOINT_NAMES):
        assert getattr(Hand, name.upper()) == index, name


def test_grasp_constants_match_the_grasp_classes():
    from wildhands_ros.msg import Hand

    assert Hand.NUM_GRASP_CLASSES == len(GRASP_CLASSES) == 8
    for index, name in enumerate(GRASP_CLASSES):
        assert getattr(Hand, "GRASP_" + name.upper()) == index, name


def test_fixed_size_fields():
    from wildhands_ros.msg import Hand

    hand = Hand()
    assert len(hand.keypoints_3d) == 21 and len(hand.keypoints_2d) == 42
    assert (
        len(hand.shape_betas) == 10 and len(hand.joint_rotations) == 45 and len(hand.grasp_probabilities) == 8
    )
