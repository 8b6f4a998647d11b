"""Metrics on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from wildhands.eval.metrics import (
    auc,
    kp2d_error_px,
    masked_mean,
    mpjpe_mm,
    mrrpe_mm,
    orientation_error_deg,
    pa_mpjpe_mm,
    pck,
    procrustes_align,
    root_error_mm,
)


@pytest.fixture
def hands():
    rng = np.random.default_rng(3)
    return rng.normal(scale=0.05, size=(4, 21, 3)) + np.array([0.0, 0.0, 0.5])


def test_mpjpe_is_root_relative_and_root_error_is_the_translation(hands):
    shift = np.array([0.03, -0.04, 0.0])  # 50 mm
    pred = hands + shift
    assert np.allclose(mpjpe_mm(pred, hands), 0.0, atol=1e-9)
    assert np.allclose(root_error_mm(pred, hands), 50.0)
    assert np.allclose(root_error_mm(pred[:, 0], hands[:, 0]), 50.0)
    assert np.allclose(mpjpe_mm(pred, hands, root=None), 50.0)


def test_known_offset_of_some_joints_gives_the_known_mpjpe(hands):
    pred = hands.copy()
    pred[:, 5:10, 2] += 0.021  # 5 of 21 joints 21 mm away -> mean 5 mm
    assert np.allclose(mpjpe_mm(pred, hands), 5.0)
    valid = np.zeros((4, 21), bool)
    valid[:, :10] = True
    assert np.allclose(mpjpe_mm(pred, hands, valid=valid), 10.5)  # 5 of 10 valid joints off by 21 mm
    per_sample = mpjpe_mm(pred, hands, valid=np.array([True, False, True, True]))
    assert np.isnan(per_sample[1]) and np.allclose(per_sample[[0, 2, 3]], 5.0)


def test_pa_mpjpe_of_a_similar_copy_is_zero(hands):
    R = Rotation.from_rotvec([0.4, -1.1, 2.0]).as_matrix()
    pred = 1.7 * hands @ R.T + np.array([0.1, -0.2, 0.3])
    assert np.allclose(pa_mpjpe_mm(pred, hands), 0.0, atol=1e-8)
    assert mpjpe_mm(pred, hands).min() > 10.0
    # a mirror image cannot be undone by a proper rotation
    mirrored = hands * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe_mm(mirrored, hands).min() > 1.0


def test_procrustes_uses_a_proper_rotation_and_the_valid_points(hands):
    gt = hands[0]
    aligned = procrustes_align(gt * np.array([-1.0, 1.0, 1.0]), gt)
    # the alignment is a similarity with det(R) = +1: the aligned points have the mirrored handedness
    assert np.linalg.norm(aligned - gt, axis=1).mean() > 1e-3
    R = Rotation.from_rotvec([0.2, 0.3, -0.1]).as_matrix()
    pred = 0.8 * gt @ R.T + 0.05
    pred[3] += 1.0  # an outlier outside the valid set
    valid = np.ones(21, bool)
    valid[3] = False
    assert pa_mpjpe_mm(pred[None], gt[None], valid=valid[None])[0] == pytest.approx(0.0, abs=1e-8)


def test_orientation_error_is_the_angle_of_the_turn_and_ignores_place_size_and_a_bad_joint(hands):
    """A copy turned by 25 deg about any axis, scaled and moved is 25 deg off; an invalid joint does not
    count; a hand that is only moved or scaled is 0 deg off; too few valid joints give NaN."""
    for axis in ([1.0, 0.0, 0.0], [0.3, -0.8, 0.5]):
        rotvec = np.radians(25.0) * np.asarray(axis) / np.linalg.norm(axis)
        R = Rotation.from_rotvec(rotvec).as_matrix()
        pred = 1.3 * hands @ R.T + np.array([0.2, 0.1, -0.3])
        assert np.allclose(orientation_error_deg(pred, hands), 25.0)
        pred[:, 7] += 0.5  # one joint far off, left out
        valid = np.ones((4, 21), bool)
        valid[:, 7] = False
        assert np.allclose(orientation_error_deg(pred, hands, valid=valid), 25.0)
        assert np.abs(orientation_error_deg(pred, hands) - 25.0).max() > 1.0  # counted, it pulls the fit
    assert np.allclose(orientation_error_deg(0.7 * hands + 0.1, hands), 0.0, atol=1e-5)
    few = np.zeros((4, 21), bool)
    few[:, :2] = True
    assert np.isnan(orientation_error_deg(hands, hands, valid=few)).all()


def test_mrrpe_hand_computed():
    gl, gr = np.array([[0.1, 0.0, 0.5]]), np.array([[-0.1, 0.0, 0.5]])
    # both hands shifted together: the relative position is right
    assert mrrpe_mm(gl + 0.2, gr + 0.2, gl, gr)[0] == pytest.approx(0.0)
    # left hand 30 mm too far, right hand 40 mm too high: relative error = |(0,0,30) - (0,-40,0)| = 50 mm
    pl = gl + [0.0, 0.0, 0.03]
    pr = gr + [0.0, -0.04, 0.0]
    assert mrrpe_mm(pl, pr, gl, gr)[0] == pytest.approx(50.0)
    assert np.isnan(mrrpe_mm(pl, pr, gl, gr, valid=[False])[0])


def test_kp2d_error():
    gt = np.zeros((2, 21, 2))
    pred = gt + np.array([3.0, 4.0])
    assert np.allclose(kp2d_error_px(pred, gt), 5.0)
    valid = np.zeros((2, 21), bool)
    valid[0, 0] = True
    out = kp2d_error_px(pred, gt, valid)
    assert out[0] == pytest.approx(5.0) and np.isnan(out[1])


def test_pck_and_auc_on_a_tiny_list():
    errors = np.array([5.0, 15.0, 25.0, 35.0, np.nan])
    assert np.allclose(pck(errors, [10, 20, 30, 40, 50]), [0.25, 0.5, 0.75, 1.0, 1.0])
    assert np.allclose(pck(errors, 15.0), [0.5])  # inclusive
    # PCK(t) for uniform errors on [0, 40]: area over [0, 40] is 0.5
    uniform = np.linspace(0.0, 40.0, 4001)
    assert auc(uniform, 40.0, steps=401) == pytest.approx(0.5, abs=2e-3)
    assert auc(np.zeros(3), 50.0) == pytest.approx(1.0)
    assert auc(np.full(3, 100.0), 50.0) == pytest.approx(0.0)
    # hand computed: errors {5, 15}, thresholds 0, 10, 20 -> pck 0, .5, 1 -> trapezoid (0.25 + 0.75) * 10 / 20
    assert auc([5.0, 15.0], 20.0, steps=3) == pytest.approx(0.5)
    assert np.isnan(auc([np.nan], 50.0))
    with pytest.raises(ValueError):
        auc(errors, 0.0)


def test_masked_mean_and_shapes():
    assert np.isnan(masked_mean(np.array([1.0, 2.0]), np.array([False, False])))
    assert masked_mean(np.array([1.0, np.nan, 3.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shape"):
        mpjpe_mm(np.zeros((2, 21, 3)), np.zeros((2, 20, 3)))
    assert mpjpe_mm(np.zeros((21, 3)), np.zeros((21, 3))).shape == (1,)
