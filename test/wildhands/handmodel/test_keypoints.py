"""The 21-keypoint order and its maps (wildhands.handmodel.keypoints)."""

from __future__ import annotations

import re

from wildhands.handmodel import keypoints as kp

# MANO joint name -> our keypoint name (thumb1/2/3 are CMC/MCP/IP; finger1/2/3 are MCP/PIP/DIP).
_MANO_TO_OURS = {"wrist": "wrist"}
for _finger in ("index", "middle", "ring", "pinky"):
    for _i, _j in zip((1, 2, 3), ("mcp", "pip", "dip")):
        _MANO_TO_OURS[f"{_finger}{_i}"] = f"{_finger}_{_j}"
for _i, _j in zip((1, 2, 3), ("cmc", "mcp", "ip")):
    _MANO_TO_OURS[f"thumb{_i}"] = f"thumb_{_j}"


def test_names_and_order():
    assert kp.NUM_KEYPOINTS == 21 == len(kp.KEYPOINT_NAMES) == len(set(kp.KEYPOINT_NAMES))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)?", n) for n in kp.KEYPOINT_NAMES)
    assert kp.KEYPOINT_NAMES[0] == "wrist"
    for i, finger in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        ids = kp.FINGER_KEYPOINTS[finger]
        assert ids == tuple(range(1 + 4 * i, 5 + 4 * i))
        assert all(kp.KEYPOINT_NAMES[k].startswith(finger + "_") for k in ids)
        assert kp.KEYPOINT_NAMES[ids[-1]] == f"{finger}_tip"
    assert kp.KEYPOINT_NAMES[1:5] == ("thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip")
    assert kp.KEYPOINT_NAMES[5:9] == ("index_mcp", "index_pip", "index_dip", "index_tip")
    assert kp.FINGERTIP_KEYPOINTS == (4, 8, 12, 16, 20)


def test_skeleton_edges():
    assert len(kp.SKELETON_EDGES) == 20
    children = [c for _, c in kp.SKELETON_EDGES]
    assert sorted(children) == list(range(1, 21))
    for parent, child in kp.SKELETON_EDGES:
        assert parent < child
        # a finger base hangs off the wrist, other keypoints off the previous one on the same finger
        assert parent == (0 if child % 4 == 1 else child - 1)


def test_mano_joint_to_keypoint_matches_names():
    idx = kp.MANO_JOINT_TO_KEYPOINT
    assert sorted(idx) == list(range(21))
    source_names = [_MANO_TO_OURS[n] for n in kp.MANO_JOINT_NAMES] + list(kp.FINGERTIP_NAMES)
    assert [source_names[i] for i in idx] == list(kp.KEYPOINT_NAMES)
    for j in range(16):
        assert idx[kp.KEYPOINT_TO_MANO_JOINT[j]] == j


def test_mano_parents_are_finger_chains():
    assert len(kp.MANO_PARENTS) == len(kp.MANO_JOINT_NAMES) == kp.NUM_MANO_JOINTS == 16
    for j, parent in enumerate(kp.MANO_PARENTS[1:], start=1):
        name = kp.MANO_JOINT_NAMES[j]
        if name.endswith("1"):
            assert parent == 0
        else:
            assert kp.MANO_JOINT_NAMES[parent] == name[:-1] + str(int(name[-1]) - 1)


def test_openpose_and_mediapipe_maps():
    assert kp.TO_OPENPOSE == tuple(range(21)) == kp.FROM_OPENPOSE
    assert kp.TO_MEDIAPIPE == tuple(range(21)) == kp.FROM_MEDIAPIPE
    for ours, mp in zip((kp.KEYPOINT_NAMES[i] for i in kp.TO_MEDIAPIPE), kp.MEDIAPIPE_LANDMARK_NAMES):
        assert ours == mp.lower().replace("_finger", "")
    assert kp.MANO_FINGERTIP_VERTEX_IDS == (745, 317, 444, 556, 673)
