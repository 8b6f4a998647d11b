"""RViz markers for hands: mesh (TRIANGLE_LIST), skeleton (LINE_LIST), keypoints (SPHERE_LIST) and a
side + grasp label (TEXT_VIEW_FACING), in the image's frame with the image's stamp.

Every MarkerArray starts with a DELETEALL marker, so hands that vanish from one image to the next vanish
from RViz too. Namespaces: ``<prefix>/mesh``, ``<prefix>/skeleton``, ``<prefix>/keypoints``,
``<prefix>/label``; marker id = index of the hand in the HandArray.

:func:`hand_markers` builds message objects; :func:`hand_markers_cdr` the same MarkerArray as serialized
bytes, without building the ~6700 ``geometry_msgs/Point`` of each hand's mesh (what the node publishes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from wildhands.handmodel.keypoints import SKELETON_EDGES
from wildhands.runtime.hands import HandEstimate
from wildhands_ros.cdr import serialize
from wildhands_ros.conversions import PointsField, fill_points

SIDE_COLORS = {"left": (1.0, 0.47, 0.16), "right": (0.16, 0.78, 1.0)}
_EDGES = np.asarray(SKELETON_EDGES, dtype=np.int64)  # (20, 2)


def _color(rgb: tuple[float, float, float], a: float) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(a))


def _marker(header: Header, ns: str, i: int, kind: int, color: ColorRGBA) -> Marker:
    m = Marker(header=header, ns=ns, id=i, type=kind, action=Marker.ADD, color=color)
    m.pose.orientation.w = 1.0
    m.frame_locked = False
    return m


def mesh_triangle_points(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F * 3, 3) corner positions of every triangle, in face order (TRIANGLE_LIST layout)."""
    return np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64).reshape(-1)]


def skeleton_line_points(keypoints: np.ndarray) -> np.ndarray:
    """(40, 3): the two ends of each of the 20 bones (LINE_LIST layout)."""
    return np.asarray(keypoints, dtype=np.float64)[_EDGES.reshape(-1)]


def _hand_marker_parts(
    hands: Sequence[HandEstimate], header: Header, prefix: str, mesh: bool
) -> tuple[MarkerArray, list[PointsField]]:
    """The MarkerArray with every ``points`` left empty, and [(marker, 'points', (N, 3) float64 m)]: the
    points each marker gets (the one place that decides what the markers hold)."""
    out = MarkerArray()
    out.markers.append(Marker(header=header, action=Marker.DELETEALL))
    points: list[PointsField] = []
    for i, hand in enumerate(hands):
        rgb = SIDE_COLORS[hand.side]
        if mesh:
            m = _marker(header, f"{prefix}/mesh", i, Marker.TRIANGLE_LIST, _color(rgb, 0.6))
            m.scale.x = m.scale.y = m.scale.z = 1.0
            points.append((m, "points", mesh_triangle_points(hand.vertices_cam_m, hand.faces)))
            out.markers.append(m)
        m = _marker(header, f"{prefix}/skeleton", i, Marker.LINE_LIST, _color(rgb, 1.0))
        m.scale.x = 0.004  # line width, m
        points.append((m, "points", skeleton_line_points(hand.keypoints_cam_m)))
        out.markers.append(m)
        m = _marker(header, f"{prefix}/keypoints", i, Marker.SPHERE_LIST, _color((1.0, 1.0, 1.0), 1.0))
        m.scale.x = m.scale.y = m.scale.z = 0.008  # sphere diameter, m
        points.append((m, "points", np.asarray(hand.keypoints_cam_m, dtype=np.float64)))
        out.markers.append(m)
        m = _marker(header, f"{prefix}/label", i, Marker.TEXT_VIEW_FACING, _color(rgb, 1.0))
        wrist = np.asarray(hand.keypoints_cam_m[0], dtype=np.float64)
        m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in wrist)
        m.pose.position.y -= 0.03  # above the wrist (y is down in the optical frame)
        m.scale.z = 0.02  # text height, m
        m.text = f"{hand.side} {hand.grasp_label} ({hand.confidence:.2f})"
        out.markers.append(m)
    return out, points


def hand_markers(
    hands: Sequence[HandEstimate], header: Header, prefix: str = "hand", mesh: bool = True
) -> MarkerArray:
    """DELETEALL, then per hand: mesh, skeleton, keypoints, label, as message objects (10-20 ms per hand
    mesh here: the node publishes :func:`hand_markers_cdr`)."""
    out, points = _hand_marker_parts(hands, header, prefix, mesh)
    fill_points(points)
    return out


def hand_markers_cdr(
    hands: Sequence[HandEstimate], header: Header, prefix: str = "hand", mesh: bool = True
) -> bytes:
    """The MarkerArray of :func:`hand_markers`, serialized (CDR) for ``Publisher.publish``: the points go
    from numpy straight into the bytes, no ``geometry_msgs/Point`` is built (see cdr.py)."""
    out, points = _hand_marker_parts(hands, header, prefix, mesh)
    return serialize(out, points)
