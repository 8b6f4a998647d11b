"""Tracking in the node (in this process, real rclpy on loopback): consecutive frames of the sample keep
their track ids, TF frame names stay <prefix>_<side>_<joint>, tracking:=false gives -1, and the tracking
parameters are checked."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter

from wildhands_ros.msg import Hand
from wildhands_ros.params import NodeParams, check_value
from wildhands_ros.tf import frame_name


def _ids(msg) -> dict[int, int]:
    return {hand.side: hand.track_id for hand in msg.hands}


def _kp(hand: Hand) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in hand.keypoints_3d])


def test_consecutive_frames_keep_track_ids(harness):
    h = harness
    # fresh tracks: earlier tests' frames (other intrinsics) would be smoothed into these; the worker is
    # idle between frames (every frame sent so far has been answered or given up)
    assert h.wait(lambda: h.node._slot is None and h.node.sync._pairer.waiting == 0, 5.0)
    h.node.tracker.reset()
    first = h.hands_for(h.send())
    second_header = h.send()
    second = h.hands_for(second_header)
    assert first is not None and second is not None and len(first.hands) == len(second.hands) == 2
    ids = _ids(first)
    assert set(ids) == {Hand.SIDE_LEFT, Hand.SIDE_RIGHT}
    assert all(i >= 0 for i in ids.values()) and len(set(ids.values())) == 2
    assert _ids(second) == ids
    # the same image twice: smoothing leaves an unchanged hand unchanged
    a = {x.side: _kp(x) for x in first.hands}
    for hand in second.hands:
        assert np.allclose(_kp(hand), a[hand.side], atol=1e-6)
    tf = h.get("/tf", second_header)
    assert tf is not None
    names = {t.child_frame_id for t in tf.transforms}
    assert names == {frame_name("hand", s, k) for s in ("left", "right") for k in range(21)}


def test_tracking_off_gives_minus_one(harness):
    h = harness
    try:
        assert h.node.set_parameters([Parameter("tracking", value=False)])[0].successful
        msg = h.hands_for(h.send())
        assert msg is not None and [x.track_id for x in msg.hands] == [-1, -1]
    finally:
        h.node.set_parameters([Parameter("tracking", value=True)])
    msg = h.hands_for(h.send())
    assert msg is not None and all(x.track_id >= 0 for x in msg.hands)


def test_bad_tracking_parameters_are_refused(harness):
    result = harness.node.set_parameters([Parameter("one_euro_min_cutoff", value=0.0)])[0]
    assert not result.successful and "one_euro_min_cutoff" in result.reason  # rclpy checks the range
    assert "redetect_every=0 must be in [1, 1000]" in check_value("redetect_every", 0)
    assert "must be of type bool" in check_value("smoothing", "yes")


def test_tracking_config_from_params():
    c = NodeParams.defaults().tracking_config()
    assert c.enabled and c.smoothing and c.redetect_every == 10
    assert (c.position_filter.min_cutoff, c.position_filter.beta) == (1.0, 5.0)
    assert c.rotation_filter.min_cutoff == 1.0
    with pytest.raises(ValueError, match="one_euro_beta"):
        NodeParams.defaults().updated({"one_euro_beta": -1.0})


def test_rotation_beta_parameter_reaches_the_tracker(harness):
    c = NodeParams.defaults().updated({"one_euro_rotation_beta": 2.0}).tracking_config()
    assert c.rotation_filter.beta == 2.0 and c.position_filter.beta == 5.0
    assert NodeParams.defaults().tracking_config().rotation_filter.beta == 0.5  # the tracker's default
    assert "one_euro_rotation_beta=-1.0 must be in" in check_value("one_euro_rotation_beta", -1.0)
    h = harness
    try:
        assert h.node.set_parameters([Parameter("one_euro_rotation_beta", value=3.0)])[0].successful
        assert h.hands_for(h.send()) is not None
        assert h.node.tracker.config.rotation_filter.beta == 3.0
    finally:
        h.node.set_parameters([Parameter("one_euro_rotation_beta", value=0.5)])
