"""Messages published as CDR bytes (wildhands_ros/cdr.py): the middleware reads them as the messages the
object path builds, and the node builds no markers / point cloud for a topic nobody subscribes to."""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
from geometry_msgs.msg import Point
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message, serialize_message
from rosidl_parser import definition as d
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

import wildhands_ros.node as node_module
from wildhands_ros import cdr
from wildhands_ros.conversions import hands_to_cdr, hands_to_msg
from wildhands_ros.markers import hand_markers, hand_markers_cdr, mesh_triangle_points
from wildhands_ros.msg import HandArray
from wildhands_ros.sync import stamp_ns

PACKAGES = ("std_msgs", "builtin_interfaces", "geometry_msgs", "sensor_msgs", "visualization_msgs",
            "diagnostic_msgs", "tf2_msgs", "wildhands_ros")  # fmt: skip


def _header() -> Header:
    h = Header(frame_id="cam_optical")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    return h


def _reads_as(data: bytes, reference, cls) -> bool:
    """The middleware reads ``data`` as it reads its own serialization of ``reference`` (float32 fields are
    rounded on the way), and ``data`` is no longer than that (which may end in up to 8 unused bytes)."""
    ref = bytes(serialize_message(reference))
    return deserialize_message(data, cls) == deserialize_message(ref, cls) and len(data) <= len(ref)


def _random_value(t, rng: random.Random, depth: int):
    if isinstance(t, d.BasicType):
        name = t.typename
        if name == "boolean":
            return rng.random() < 0.5
        if name == "octet":
            return bytes([rng.randrange(256)])
        if name == "char":
            return chr(rng.randrange(128))
        if name in ("float", "double"):
            return rng.uniform(-1e3, 1e3)
        bits = int("".join(c for c in name if c.isdigit()))
        low = 0 if name.startswith("u") else -(2 ** (bits - 1))
        return rng.randrange(low, low + 2**bits)
    if isinstance(t, d.AbstractString):
        return "".join(rng.choice("ab\u00e9\u20acz") for _ in range(rng.randrange(9)))
    cls = getattr(importlib.import_module(".".join(t.namespaces)), t.name)
    return _random_message(cls, rng, depth + 1)


def _random_message(cls, rng: random.Random, depth: int = 0):
    msg = cls()
    for name, t in zip(cls.get_fields_and_field_types(), cls.SLOT_TYPES):
        if isinstance(t, d.Array):
            value = [_random_value(t.value_type, rng, depth) for _ in range(t.size)]
        elif isinstance(t, d.AbstractSequence):
            n = rng.choice([0, 0, 1, 2, 5]) if depth < 3 else 0  # empty sequences between full ones
            if isinstance(t, d.BoundedSequence):
                n = min(n, t.maximum_size)
            value = [_random_value(t.value_type, rng, depth) for _ in range(n)]
        else:
            value = _random_value(t, rng, depth)
        setattr(msg, name, value)
    return msg


def _message_classes() -> list[type]:
    out = []
    for package in PACKAGES:
        module = importlib.import_module(f"{package}.msg")
        out += [getattr(module, n) for n in sorted(dir(module)) if hasattr(getattr(module, n), "SLOT_TYPES")]
    return out


def test_cdr_reads_back_for_every_common_message_type():
    """Every field kind (strings, nested messages, fixed arrays, empty and full sequences of every basic
    type, alignment after each) on random content of all message types of these packages."""
    rng = random.Random(7)
    classes = _message_classes()
    assert len(classes) > 80
    for cls in classes:
        for _ in range(3):
            msg = _random_message(cls, rng)
            assert _reads_as(cdr.serialize(msg), msg, cls), cls.__name__


def test_cdr_point_arrays():
    """(N, 3) arrays stand in for Point sequences (and fixed Point arrays); bad shapes are refused."""
    rng = np.random.default_rng(0)
    m = Marker(type=Marker.TRIANGLE_LIST, text="after the points")
    xyz = rng.normal(size=(7, 3))
    data = cdr.serialize(m, [(m, "points", xyz)])
    m.points = [Point(x=x, y=y, z=z) for x, y, z in xyz.tolist()]
    assert _reads_as(data, m, Marker)
    assert np.array_equal([[p.x, p.y, p.z] for p in deserialize_message(data, Marker).points], xyz)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        cdr.serialize(m, [(m, "points", xyz[:, :2])])
    with pytest.raises(TypeError, match="not a sequence of messages"):
        cdr.serialize(m, [(m, "text", xyz)])
    assert cdr.flat_format(Point) == ("<f8", 8, 3)
    with pytest.raises(TypeError):
        cdr.flat_format(Marker)


def test_cdr_matches_this_middleware():
    assert cdr.matches_rmw() == (True, "")


@pytest.mark.parametrize("mesh", [True, False])
def test_markers_cdr_equal_objects(sample_hands, mesh):
    header = _header()
    reference = hand_markers(sample_hands, header, "hand", mesh=mesh)
    data = hand_markers_cdr(sample_hands, header, "hand", mesh=mesh)
    assert _reads_as(data, reference, MarkerArray)
    back = deserialize_message(data, MarkerArray)
    meshes = [m for m in back.markers if m.type == Marker.TRIANGLE_LIST]
    assert len(meshes) == (len(sample_hands) if mesh else 0)
    for m in meshes:  # the same corners in the same (face) order
        hand = sample_hands[m.id]
        xyz = np.array([[p.x, p.y, p.z] for p in m.points])
        assert np.array_equal(xyz, mesh_triangle_points(hand.vertices_cam_m, hand.faces))
    assert _reads_as(hand_markers_cdr([], header), hand_markers([], header), MarkerArray)


@pytest.mark.parametrize("mesh", [True, False])
def test_hand_array_cdr_equal_objects(sample_hands, mesh):
    ids = list(range(3, 3 + len(sample_hands)))
    reference = hands_to_msg(sample_hands, _header(), 0.125, mesh, ids)
    data = hands_to_cdr(sample_hands, _header(), 0.125, mesh, ids)
    assert _reads_as(data, reference, HandArray)
    back = deserialize_message(data, HandArray)
    for hand, msg in zip(sample_hands, back.hands):
        assert np.array_equal([[p.x, p.y, p.z] for p in msg.keypoints_3d], hand.keypoints_cam_m)
        assert len(msg.mesh_vertices) == (len(hand.vertices_cam_m) if mesh else 0)
    with pytest.raises(ValueError, match="track ids"):
        hands_to_cdr(sample_hands, _header(), 0.0, False, [1])


@pytest.mark.parametrize(
    "topic, builders",
    [
        ("hands/markers", ("hand_markers_cdr", "hand_markers")),
        ("hands/points", ("hands_to_cloud",)),
        ("hands/debug_image", ("rgb_to_image",)),  # the overlay drawn, then converted (header: 2nd arg)
    ],
)
def test_nothing_built_without_subscriber(h, monkeypatch, topic, builders):
    """With the tester's subscription to ``topic`` gone, frames still give a HandArray but the node calls
    no builder of that topic for them; once someone subscribes again, it does."""
    built = []  # stamps of the frames a builder of this topic was called for
    for name in builders:
        real = getattr(node_module, name)

        def spy(first, header, *args, _real=real, **kwargs):
            built.append(stamp_ns(header))
            return _real(first, header, *args, **kwargs)

        monkeypatch.setattr(node_module, name, spy)
    publisher, kind = {
        "hands/markers": (h.node.markers_pub, MarkerArray),
        "hands/points": (h.node.points_pub, PointCloud2),
        "hands/debug_image": (h.node.debug_pub, Image),
    }[topic]
    resolved = h.tester.resolve_topic_name(topic)  # the harness's namespace
    (sub,) = [s for s in h.tester.subscriptions if s.topic_name == resolved]
    h.tester.destroy_subscription(sub)
    h.node.set_parameters([Parameter("publish_debug_image", value=True)])
    try:
        assert h.wait(lambda: publisher.get_subscription_count() == 0, 10.0)
        headers = []
        for _ in range(2):  # one at a time: a frame sent while the worker is busy may be replaced
            headers.append(h.send())
            assert h.hands_for(headers[-1]) is not None  # the HandArray always
        assert not {stamp_ns(header) for header in headers} & set(built)
        h.tester.create_subscription(kind, topic, h._recorder(topic), 10)
        assert h.wait(lambda: publisher.get_subscription_count() == 1, 10.0)
        header = h.send()
        assert h.get(topic, header) is not None and stamp_ns(header) in built
    finally:
        if not [s for s in h.tester.subscriptions if s.topic_name == resolved]:
            h.tester.create_subscription(kind, topic, h._recorder(topic), 10)
        h.node.set_parameters([Parameter("publish_debug_image", value=False)])
