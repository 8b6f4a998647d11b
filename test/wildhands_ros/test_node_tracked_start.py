"""The node with ``tracked_steps``: its own detector and tracker (VIDEO mode), real rclpy pub/sub on loopback,
in its own namespace. The palm detector's frame starts each hand from the lifting head; the next frames'
tracked hands start from their previous hand (``HandBox.previous`` through the node's box step), so the
lifting head runs on the detector's frame only, and the hands stay fitted."""

from __future__ import annotations

import math

from ros_harness import Harness

PARAMS = {"estimator": "landmarks", "detector": "mediapipe", "tracked_steps": 2, "redetect_every": 10}


def test_tracked_hands_start_from_their_previous_hand(ros_context, sample):
    harness = Harness(sample, PARAMS, namespace="/tracked_start_test")
    try:
        lh = harness.node.pipeline.landmark_hands
        assert lh.config.tracked_steps == 2
        assert "previous fit in 2 steps" in harness.node.pipeline.weights_description
        lifted: list[int] = []
        lift = lh.lift
        lh.lift = lambda evidence, cameras: lifted.append(len(evidence)) or lift(evidence, cameras)
        for _ in range(3):  # one frame at a time: each answered before the next is sent
            msg = harness.hands_for(harness.send(boxes=False), timeout=20.0)
            assert msg is not None and len(msg.hands) == 2 and {h.side for h in msg.hands} == {0, 1}
            for hand in msg.hands:
                assert math.isfinite(hand.fit_residual_px) and hand.fit_residual_px < 5.0
                assert 0.2 < hand.keypoints_3d[0].z < 0.8
        assert lifted == [2], f"the lifting head ran on {lifted} hands per frame, not on the detector's only"
    finally:
        harness.close()
