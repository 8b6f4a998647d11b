"""Gripper aperture from known human poses of the open hand model, grasp gating, hysteresis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.handmodel.open_hand import OpenHandModel
from wildhands.model.grasp import GRASP_CLASS_IDS
from wildhands.retarget.example_poses import pinch_keypoints
from wildhands.retarget.gripper import GripperConfig, GripperRetargeter, pinch_distance


@pytest.fixture(scope="module")
def poses():
    """Hand-frame keypoints (21, 3) m: the flat open hand and pinches with 1 cm and 5 cm between the tips."""
    open_hand = OpenHandModel(dtype=torch.float64)().keypoints[0].numpy()
    return {"open": open_hand, "pinch": pinch_keypoints(0.01), "half": pinch_keypoints(0.05)}


def _probs(name: str, p: float = 0.9) -> np.ndarray:
    out = np.full(8, (1 - p) / 7)
    out[GRASP_CLASS_IDS[name]] = p
    return out


def test_known_poses_give_the_expected_apertures(poses):
    assert pinch_distance(poses["open"]) == pytest.approx(0.0839, abs=5e-4)  # flat hand: 8.4 cm
    assert pinch_distance(poses["pinch"]) == pytest.approx(0.01, abs=5e-4)
    assert pinch_distance(poses["half"]) == pytest.approx(0.05, abs=5e-4)
    g = GripperRetargeter(GripperConfig(pinch_closed_m=0.02, pinch_open_m=0.08, closed=0.0, open=0.085))
    assert g(poses["open"]).command == pytest.approx(0.085)  # beyond pinch_open: clamped, fully open
    assert g(poses["pinch"]).command == pytest.approx(0.0)  # below pinch_closed: fully closed
    half = g(poses["half"])
    assert half.openness == pytest.approx(0.5, abs=0.01) and half.command == pytest.approx(0.0425, abs=1e-3)


def test_any_metric_frame_and_reversed_command_range(poses):
    rng = np.random.default_rng(0)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    R *= np.linalg.det(R)
    cam = poses["half"] @ R.T + [0.1, -0.05, 0.6]
    g = GripperRetargeter(GripperConfig(closed=0.8, open=0.0))  # e.g. a finger joint: 0.8 rad = closed
    assert g(cam).command == pytest.approx(0.4, abs=0.01)
    assert g(poses["pinch"]).command == pytest.approx(0.8)


def test_grasp_gating_blocks_a_class_not_allowed(poses):
    g = GripperRetargeter(
        GripperConfig(close_grasps=("power_prismatic", "lateral"), min_grasp_probability=0.5)
    )
    out = g(poses["pinch"], _probs("non_prehensile_palm"))
    assert not out.gate_open and out.command == pytest.approx(0.085)  # a pinch in the air: stays open
    out = g(poses["pinch"], _probs("lateral"))
    assert out.gate_open and out.command == pytest.approx(0.0)  # an allowed grasp: closes
    # the class flickers away while holding: may not close further but does not open either
    out = g(poses["pinch"], _probs("other"))
    assert not out.gate_open and out.command == pytest.approx(0.0)
    # the hand opens: the gripper opens even with the gate shut
    assert g(poses["open"], _probs("other")).command == pytest.approx(0.085)
    assert g(poses["pinch"], None).command == pytest.approx(0.085)  # no probabilities: gate shut


def test_grasp_gate_hysteresis(poses):
    g = GripperRetargeter(GripperConfig(close_grasps=("power_prismatic",), min_grasp_probability=0.5,
                                        grasp_hysteresis=0.1))  # fmt: skip
    assert not g(poses["pinch"], _probs("power_prismatic", 0.45)).gate_open  # below 0.5: shut
    assert g(poses["pinch"], _probs("power_prismatic", 0.55)).gate_open
    assert g(poses["pinch"], _probs("power_prismatic", 0.45)).gate_open  # stays open down to 0.4
    assert not g(poses["pinch"], _probs("power_prismatic", 0.35)).gate_open


def test_binary_mode_hysteresis(poses):
    g = GripperRetargeter(
        GripperConfig(mode="binary", pinch_closed_m=0.02, pinch_open_m=0.08, hysteresis_m=0.02)
    )
    assert g(poses["open"]).openness == 1.0
    # mid = 5 cm, band 4..6 cm: the 5 cm pinch keeps the current state either way
    assert g(poses["half"]).openness == 1.0
    assert g(poses["pinch"]).openness == 0.0
    assert g(poses["half"]).openness == 0.0
    assert g(poses["open"]).openness == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"pinch_open_m": 0.01}, "pinch_closed_m < pinch_open_m"), ({"closed": 1.0, "open": 1.0}, "must differ"),
     ({"mode": "pulse"}, "mode='pulse'"), ({"close_grasps": ("pinch",)}, "'pinch' not in"),
     ({"min_grasp_probability": 0.0}, "min_grasp_probability"), ({"open": float("nan")}, "open=nan"),
     ({"hysteresis_m": 0.1}, "hysteresis_m")],
)  # fmt: skip
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GripperConfig(**kwargs)


def test_bad_keypoints_are_refused():
    g = GripperRetargeter()
    with pytest.raises(ValueError, match="shape"):
        g(np.zeros((20, 3)))
    kp = np.zeros((21, 3))
    kp[4, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        g(kp)
