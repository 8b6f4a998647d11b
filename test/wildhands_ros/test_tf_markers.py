"""TF frames per keypoint and RViz markers, as pure functions."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from wildhands.geometry.rotations import matrix_to_quaternion_xyzw
from wildhands.handmodel.keypoints import KEYPOINT_NAMES
from wildhands_ros.markers import hand_markers, mesh_triangle_points, skeleton_line_points
from wildhands_ros.tf import hand_transforms


def _header():
    h = Header(frame_id="cam_optical")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    return h


def test_transforms(sample_hands):
    tfs = hand_transforms(sample_hands, _header(), prefix="hand")
    assert len(tfs) == 21 * len(sample_hands)
    names = {t.child_frame_id for t in tfs}
    assert "hand_right_index_tip" in names and "hand_left_wrist" in names
    assert names == {f"hand_{s}_{k}" for s in ("left", "right") for k in KEYPOINT_NAMES}
    assert all(t.header.frame_id == "cam_optical" and t.header.stamp.nanosec == 345 for t in tfs)
    for hand in sample_hands:
        mine = [t for t in tfs if t.child_frame_id.startswith(f"hand_{hand.side}_")]
        r = mine[0].transform.rotation
        assert np.allclose([r.x, r.y, r.z, r.w], matrix_to_quaternion_xyzw(hand.wrist_rotation))
        assert all(t.transform.rotation.w == 1.0 for t in mine[1:])
        xyz = np.array([[t.transform.translation.x, t.transform.translation.y, t.transform.translation.z]
                        for t in mine])  # fmt: skip
        assert np.allclose(xyz, hand.keypoints_cam_m)
    assert len(hand_transforms([sample_hands[0]] * 2, _header())) == 21  # same side twice: frames not doubled


def test_markers(sample_hands):
    arr = hand_markers(sample_hands, _header(), prefix="hand")
    assert arr.markers[0].action == Marker.DELETEALL
    assert all(m.header.frame_id == "cam_optical" and m.header.stamp.sec == 12 for m in arr.markers)
    for i, hand in enumerate(sample_hands):
        mine = {m.type: m for m in arr.markers[1:] if m.id == i}
        mesh = mine[Marker.TRIANGLE_LIST]
        assert len(mesh.points) == 3 * len(hand.faces)
        p = mesh.points[3]
        assert np.allclose([p.x, p.y, p.z], hand.vertices_cam_m[hand.faces[1, 0]])
        assert len(mine[Marker.LINE_LIST].points) == 40 and mine[Marker.LINE_LIST].scale.x > 0
        assert len(mine[Marker.SPHERE_LIST].points) == 21
        text = mine[Marker.TEXT_VIEW_FACING]
        assert hand.side in text.text and hand.grasp_label in text.text
    assert len(hand_markers([], _header()).markers) == 1
    assert not any(
        m.type == Marker.TRIANGLE_LIST for m in hand_markers(sample_hands, _header(), mesh=False).markers
    )


def test_marker_geometry_helpers():
    v = np.arange(12, dtype=float).reshape(4, 3)
    assert np.array_equal(mesh_triangle_points(v, np.array([[0, 1, 2], [3, 2, 1]])), v[[0, 1, 2, 3, 2, 1]])
    kp = np.arange(63, dtype=float).reshape(21, 3)
    seg = skeleton_line_points(kp)
    assert seg.shape == (40, 3) and np.array_equal(seg[0], kp[0]) and np.array_equal(seg[1], kp[1])
