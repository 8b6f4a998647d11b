"""The 21-keypoint hand order used everywhere in wildhands, and its maps to MANO, OpenPose and MediaPipe.

Our order (design section 5): the wrist, then the thumb, index, middle, ring and pinky, each from base to
tip (4 keypoints per finger)::

    0 wrist
    1 thumb_cmc    2 thumb_mcp    3 thumb_ip     4 thumb_tip
    5 index_mcp    6 index_pip    7 index_dip    8 index_tip
    9 middle_mcp  10 middle_pip  11 middle_dip  12 middle_tip
   13 ring_mcp    14 ring_pip    15 ring_dip    16 ring_tip
   17 pinky_mcp   18 pinky_pip   19 pinky_dip   20 pinky_tip

This is the order of MANO-based datasets with the fingertips appended (FreiHAND, HO-3D, ARCTIC, HaMeR's
outputs). OpenPose's hand keypoints and MediaPipe's 21 hand landmarks use the same order (wrist, then thumb
to pinky, base to tip), so ``TO_OPENPOSE`` and ``TO_MEDIAPIPE`` are the identity; they exist so that code
converting to those formats says so explicitly and keeps working should our order ever change.

MANO's 16 joints come in a different order: wrist, index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3 (note
pinky before ring). A hand model appends 5 fingertip vertices to them, in the order thumb, index, middle,
ring, pinky (``FINGERTIP_NAMES``), and ``MANO_JOINT_TO_KEYPOINT`` picks our 21 keypoints out of those 21
points: ``keypoints = torch.cat([joints, tips], 1)[:, MANO_JOINT_TO_KEYPOINT]``.

All index maps follow one rule: ``target = source[MAP]``.
"""

from __future__ import annotations

NUM_KEYPOINTS: int = 21
"""Number of hand keypoints in our order."""

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
"""Finger names in our keypoint order (thumb first)."""

KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_mcp",
    "index_pip",
    "index_dip",
    "index_tip",
    "middle_mcp",
    "middle_pip",
    "middle_dip",
    "middle_tip",
    "ring_mcp",
    "ring_pip",
    "ring_dip",
    "ring_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)
"""Snake-case names of the 21 keypoints, in our order."""

WRIST: int = 0
"""Index of the wrist keypoint."""

FINGER_KEYPOINTS: dict[str, tuple[int, int, int, int]] = {
    name: tuple(range(1 + 4 * i, 5 + 4 * i)) for i, name in enumerate(FINGER_NAMES)
}
"""Per finger, its 4 keypoint indices from base to tip, e.g. ``FINGER_KEYPOINTS['index'] == (5, 6, 7, 8)``."""

MIDDLE_MCP: int = FINGER_KEYPOINTS["middle"][0]
"""Index of the middle finger's MCP keypoint (9): with the wrist, the hand's "up" in MediaPipe's crops."""

FINGERTIP_KEYPOINTS: tuple[int, ...] = tuple(FINGER_KEYPOINTS[f][3] for f in FINGER_NAMES)
"""Keypoint indices of the 5 fingertips (thumb, index, middle, ring, pinky): (4, 8, 12, 16, 20)."""

KEYPOINT_PARENTS: tuple[int, ...] = (-1,) + tuple(0 if k % 4 == 1 else k - 1 for k in range(1, NUM_KEYPOINTS))
"""Parent of each keypoint in the skeleton (-1 for the wrist; each finger's base hangs off the wrist)."""

SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple((KEYPOINT_PARENTS[k], k) for k in range(1, NUM_KEYPOINTS))
"""The 20 bones of the 21-keypoint skeleton as (parent, child) keypoint indices."""

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1",
    "index2",
    "index3",
    "middle1",
    "middle2",
    "middle3",
    "pinky1",
    "pinky2",
    "pinky3",
    "ring1",
    "ring2",
    "ring3",
    "thumb1",
    "thumb2",
    "thumb3",
)
"""MANO's 16 joints in MANO's own order (thumb1/2/3 are the thumb's CMC, MCP and IP joints)."""

NUM_MANO_JOINTS: int = 16

MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
"""MANO's kinematic tree: parent of each of the 16 joints (``kintree_table[0]``), -1 for the root."""

FINGERTIP_NAMES: tuple[str, ...] = tuple(f"{f}_tip" for f in FINGER_NAMES)
"""Order of the 5 fingertip vertices appended after MANO's 16 joints: thumb, index, middle, ring, pinky."""

MANO_FINGERTIP_VERTEX_IDS: tuple[int, ...] = (745, 317, 444, 556, 673)
"""Fingertip vertices of the official MANO mesh (778 vertices), in ``FINGERTIP_NAMES`` order.

The ids used by smplx (``VERTEX_IDS['mano']``), HaMeR and most MANO-based datasets."""

# fmt: off
MANO_JOINT_TO_KEYPOINT: tuple[int, ...] = (
    0,                # wrist
    13, 14, 15, 16,   # thumb1-3, thumb tip
    1, 2, 3, 17,      # index1-3, index tip
    4, 5, 6, 18,      # middle1-3, middle tip
    10, 11, 12, 19,   # ring1-3, ring tip
    7, 8, 9, 20,      # pinky1-3, pinky tip
)
# fmt: on
"""Our 21 keypoints from MANO's 16 joints followed by the 5 fingertips (thumb, index, middle, ring, pinky):
``keypoints = cat([joints16, tips5], dim=1)[:, MANO_JOINT_TO_KEYPOINT]``."""

KEYPOINT_TO_MANO_JOINT: tuple[int, ...] = tuple(MANO_JOINT_TO_KEYPOINT.index(j) for j in range(16))
"""For each of MANO's 16 joints, the index of the same point among our 21 keypoints."""

TO_OPENPOSE: tuple[int, ...] = tuple(range(NUM_KEYPOINTS))
"""OpenPose hand keypoints from ours: ``openpose = ours[TO_OPENPOSE]``. Identity: same order."""

FROM_OPENPOSE: tuple[int, ...] = tuple(range(NUM_KEYPOINTS))
"""Ours from OpenPose hand keypoints: ``ours = openpose[FROM_OPENPOSE]``. Identity: same order."""

MEDIAPIPE_LANDMARK_NAMES: tuple[str, ...] = (
    "WRIST",
    "THUMB_CMC",
    "THUMB_MCP",
    "THUMB_IP",
    "THUMB_TIP",
    "INDEX_FINGER_MCP",
    "INDEX_FINGER_PIP",
    "INDEX_FINGER_DIP",
    "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP",
    "MIDDLE_FINGER_PIP",
    "MIDDLE_FINGER_DIP",
    "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP",
    "RING_FINGER_PIP",
    "RING_FINGER_DIP",
    "RING_FINGER_TIP",
    "PINKY_MCP",
    "PINKY_PIP",
    "PINKY_DIP",
    "PINKY_TIP",
)
"""MediaPipe's hand landmark names (``HandLandmark`` enum), in MediaPipe's order."""

TO_MEDIAPIPE: tuple[int, ...] = tuple(
    KEYPOINT_NAMES.index(n.lower().replace("_finger", "")) for n in MEDIAPIPE_LANDMARK_NAMES
)
"""MediaPipe landmarks from ours: ``mediapipe = ours[TO_MEDIAPIPE]``. The identity (same order)."""

FROM_MEDIAPIPE: tuple[int, ...] = tuple(TO_MEDIAPIPE.index(k) for k in range(NUM_KEYPOINTS))
"""Ours from MediaPipe landmarks: ``ours = mediapipe[FROM_MEDIAPIPE]``. The identity (same order)."""

__all__ = [
    "FINGERTIP_KEYPOINTS",
    "FINGERTIP_NAMES",
    "FINGER_KEYPOINTS",
    "FINGER_NAMES",
    "FROM_MEDIAPIPE",
    "FROM_OPENPOSE",
    "KEYPOINT_NAMES",
    "KEYPOINT_PARENTS",
    "KEYPOINT_TO_MANO_JOINT",
    "MANO_FINGERTIP_VERTEX_IDS",
    "MANO_JOINT_NAMES",
    "MANO_JOINT_TO_KEYPOINT",
    "MANO_PARENTS",
    "MEDIAPIPE_LANDMARK_NAMES",
    "MIDDLE_MCP",
    "NUM_KEYPOINTS",
    "NUM_MANO_JOINTS",
    "SKELETON_EDGES",
    "TO_MEDIAPIPE",
    "TO_OPENPOSE",
    "WRIST",
]
