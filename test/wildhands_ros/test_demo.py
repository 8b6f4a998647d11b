"""The main job over real ROS 2 topics: the node on the bundled clip, recorded to MCAP, scored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mcap.reader import make_reader

from wildhands.apps.demo import SequenceDemoOptions
from wildhands.eval.scoring import score_sequence
from wildhands.runtime.sequence import load_sequence
from wildhands_ros.demo import node_params_for, run_ros_demo

UNTRAINED = SequenceDemoOptions(
    weights="untrained", backbone="resnet18", engine="torch", detector="groundtruth"
)


@pytest.fixture(scope="module")
def demo_run(ros_context, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    seq = load_sequence(limit=3)
    results, facts = run_ros_demo(
        seq,
        out,
        node_params_for(seq, UNTRAINED),
        ground_truth_boxes=True,
        progress=False,
        namespace="demo_test",
    )
    return seq, results, facts, out


def test_every_frame_is_answered_with_its_hands(demo_run):
    seq, results, facts, _ = demo_run
    assert [r.received for r in results] == [True, True, True]
    assert [sorted(h.side for h in r.hands) for r in results] == [["left", "right"]] * 3
    assert all(0 < r.latency_s < 60 for r in results)
    # the node's own part (HandArray.latency: image received -> published) is within the round trip
    assert all(0 < r.processing_s <= r.latency_s for r in results)
    for r in results:  # what came over the wire is the node's hand: 2D is the projection of 3D
        for h in r.hands:
            assert np.abs(seq.camera.project(h.keypoints_cam_m) - h.keypoints_px).max() < 0.5
            assert len(h.vertices_cam_m) == 1124 and not h.intrinsics_estimated
    summary = score_sequence(seq, results)
    assert summary["ground_truth"]["found"] == 6 and facts["trained"] is True  # landmark estimator


def test_the_mcap_holds_inputs_and_outputs_with_full_schemas(demo_run):
    from mcap_ros2.decoder import DecoderFactory

    _, results, facts, out = demo_run
    counts, schemas, stamps = {}, {}, set()
    with open(out / "hands.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, _message, decoded in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            schemas[channel.topic] = schema.name
            if channel.topic == "/demo_test/hands":
                stamps.add((decoded.header.stamp.sec, decoded.header.stamp.nanosec))
                assert len(decoded.hands) == 2 and len(decoded.hands[0].keypoints_3d) == 21
    for topic in ("/demo_test/hands", "/demo_test/image/compressed", "/demo_test/camera_info",
                  "/demo_test/hand_boxes", "/demo_test/hands/markers"):  # fmt: skip
        assert counts.get(topic) == 3, (topic, counts)
    assert counts.get("/tf", 0) >= 3
    assert schemas["/demo_test/hands"] == "wildhands_ros/msg/HandArray"
    assert schemas["/demo_test/image/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert facts["recorded_messages"]["/demo_test/hands"] == 3 and len(stamps) == 3


def test_an_estimated_camera_is_left_to_the_node(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((480, 640, 3), np.uint8))
    seq = load_sequence(tmp_path, hfov_deg=70.0)
    params = node_params_for(seq, UNTRAINED)
    assert params["camera_info_policy"] == "estimate" and params["estimate_hfov_deg"] == pytest.approx(70.0)
    assert "camera_info_policy" not in node_params_for(load_sequence(limit=1), UNTRAINED)
    assert json.dumps(params)  # plain values: they become ROS parameters


def test_the_demos_options_become_node_parameters():
    """What ``wildhands demo`` is told (estimator, fit, crop mode) is what the node is started with, and
    every value is one the node's parameter specs accept."""
    import dataclasses

    from wildhands_ros.params import PARAM_SPECS, check_value

    options = dataclasses.replace(
        UNTRAINED, estimator="landmarks", refine=False, crop_mode="rectified", tracked_steps=2
    )
    params = node_params_for(load_sequence(limit=1), options)
    assert params["estimator"] == "landmarks" and params["refine"] is False
    assert params["crop_mode"] == "rectified" and params["tracked_steps"] == 2
    assert check_value("tracked_steps", params["tracked_steps"]) is None
    for name in ("estimator", "crop_mode"):
        assert params[name] in PARAM_SPECS[name].choices
