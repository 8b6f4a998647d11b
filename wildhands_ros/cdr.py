"""ROS 2 messages serialized to CDR in Python, with numpy arrays in place of big point sequences.

Why: a hand mesh marker is a TRIANGLE_LIST of 3 x 2224 = 6672 ``geometry_msgs/Point``. Building those
objects in Python costs 10-20 ms per hand here, and rclpy converting them back to C when publishing
another ~4 ms (``bench/ros_messages.py`` -> ``bench/results/ros_messages.json``; writing the same points
as CDR: 0.08 ms). :func:`serialize` writes the message's CDR bytes directly, taking the listed
``Point`` (or other flat, one-type) sequences from (N, k) numpy arrays: one ``tobytes()`` per sequence, no
Python loop over points. ``Publisher.publish(bytes)`` (rclpy >= Foxy) sends them as they are.

The format is the one every ROS 2 middleware uses on the wire and ``rclpy.serialization.serialize_message``
returns: a 4-byte encapsulation header (CDR, little endian), then the fields in declaration order, each
primitive aligned to its size (at most 8) counted from the end of the header; strings as uint32 length
(with the NUL) + UTF-8 + NUL; sequences as uint32 count + elements; fixed arrays as elements. The layout
is read from the message classes (``SLOT_TYPES``), so message versions of other ROS distributions work
too. :func:`matches_rmw` checks that the middleware reads the bytes back as the messages; the node uses this
path only when it does (and publishes message objects otherwise).
"""

from __future__ import annotations

import importlib
import inspect
import struct
from collections.abc import Iterable, Mapping

import numpy as np

_HEADER = b"\x00\x01\x00\x00"  # CDR_LE encapsulation, options 0
#: IDL basic type -> (struct format, size in bytes); 'char' and 'octet' hold str / bytes in rclpy
_BASIC = {
    "boolean": ("?", 1),
    "octet": ("c", 1),
    "char": ("C", 1),
    "int8": ("b", 1),
    "uint8": ("B", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "uint64": ("Q", 8),
    "float": ("f", 4),
    "double": ("d", 8),
    "long double": (None, 16),  # not in any common message; refused below
}
_NUMPY = {"C": "u1", "f": "<f4", "d": "<f8", "b": "i1", "B": "u1", "h": "<i2", "H": "<u2", "i": "<i4",
          "I": "<u4", "q": "<i8", "Q": "<u8", "?": "?"}  # fmt: skip


class UnsupportedType(TypeError):
    """A field type this writer does not handle (wide strings, long double)."""


# ----------------------------------------------------------------------------------------------- layout
def _message_class(t):
    return getattr(importlib.import_module(".".join(t.namespaces)), t.name)


def _element(t) -> tuple:
    """A scalar field type -> ('basic', fmt, size) | ('string',) | ('msg', class)."""
    from rosidl_parser import definition as d

    if isinstance(t, d.BasicType):
        fmt, size = _BASIC[t.typename]
        if fmt is None:
            raise UnsupportedType(f"{t.typename} is not supported")
        return ("basic", fmt, size)
    if isinstance(t, d.AbstractWString):
        raise UnsupportedType("wide strings are not supported")
    if isinstance(t, d.AbstractString):
        return ("string",)
    if isinstance(t, d.NamespacedType):
        return ("msg", _message_class(t))
    raise UnsupportedType(f"field type {type(t).__name__} is not supported")


_LAYOUTS: dict[type, list[tuple[str, str, tuple, int | None]]] = {}


def layout(cls: type) -> list[tuple[str, str, tuple, int | None]]:
    """[(field name, 'scalar' | 'sequence' | 'array', element, array length)] of a message class (cached)."""
    if cls not in _LAYOUTS:
        from rosidl_parser import definition as d

        out = []
        for name, t in zip(cls.get_fields_and_field_types(), cls.SLOT_TYPES):
            if isinstance(t, d.Array):
                out.append((name, "array", _element(t.value_type), t.size))
            elif isinstance(t, d.AbstractSequence):
                out.append((name, "sequence", _element(t.value_type), None))
            else:
                out.append((name, "scalar", _element(t), None))
        _LAYOUTS[cls] = out or [("", "empty", ("basic", "B", 1), None)]
    return _LAYOUTS[cls]


def flat_format(cls: type) -> tuple[str, int, int]:
    """(numpy dtype, size, field count) of a message made of fields of one numeric basic type
    (geometry_msgs/Point: ('<f8', 8, 3)); TypeError for any other message."""
    kinds = {el for _, kind, el, _ in layout(cls) if kind == "scalar"}
    fields = layout(cls)
    if len(kinds) != 1 or any(kind != "scalar" for _, kind, _, _ in fields):
        raise TypeError(f"{cls.__name__} is not a flat message of one basic type")
    (el,) = kinds
    if el[0] != "basic" or el[1] in ("c", "C", "?"):
        raise TypeError(f"{cls.__name__} is not a flat message of one numeric type")
    return _NUMPY[el[1]], el[2], len(fields)


# ----------------------------------------------------------------------------------------------- writer
class _Writer:
    def __init__(self, arrays: Mapping[tuple[int, str], np.ndarray]) -> None:
        self.buf = bytearray(_HEADER)
        self.arrays = arrays

    def align(self, size: int) -> None:
        pad = -(len(self.buf) - 4) % size
        if pad:
            self.buf += bytes(pad)

    def basic(self, fmt: str, size: int, value) -> None:
        self.align(size)
        if fmt == "c":  # octet: rclpy holds a bytes of length 1
            self.buf += bytes(value)
        elif fmt == "C":  # char: a str of length 1
            self.buf += struct.pack("<B", ord(value))
        else:
            self.buf += struct.pack("<" + fmt, value)

    def string(self, value: str) -> None:
        data = value.encode("utf-8")
        self.align(4)
        self.buf += struct.pack("<I", len(data) + 1)
        self.buf += data + b"\x00"

    def basic_block(self, fmt: str, size: int, values) -> None:
        """Elements of a numeric sequence/array (after its count, if any)."""
        if isinstance(values, (bytes, bytearray)):
            data = bytes(values)
        elif fmt == "c":  # octets: bytes of length 1
            data = b"".join(values)
        elif fmt == "C":  # chars: str of length 1
            data = bytes(ord(c) for c in values)
        else:
            data = np.asarray(values).astype(_NUMPY[fmt], copy=False).tobytes()
        if data:
            self.align(size)
            self.buf += data

    def message(self, msg) -> None:
        for name, kind, el, n in layout(type(msg)):
            if kind == "empty":  # a message without fields carries one uint8 (rosidl's dummy member)
                self.basic("B", 1, 0)
                continue
            key = (id(msg), name)
            if key in self.arrays:
                self.flat_block(kind, el, n, self.arrays[key], name)
                continue
            value = getattr(msg, name)
            if kind == "scalar":
                self.element(el, value)
                continue
            if kind == "sequence":
                self.align(4)
                self.buf += struct.pack("<I", len(value))
            elif len(value) != n:
                raise ValueError(f"{type(msg).__name__}.{name} has {len(value)} elements, expected {n}")
            if el[0] == "basic":
                self.basic_block(el[1], el[2], value)
            else:
                for v in value:
                    self.element(el, v)

    def element(self, el: tuple, value) -> None:
        if el[0] == "basic":
            self.basic(el[1], el[2], value)
        elif el[0] == "string":
            self.string(value)
        else:
            self.message(value)

    def flat_block(self, kind: str, el: tuple, n: int | None, array: np.ndarray, name: str) -> None:
        """A sequence/array of flat messages (e.g. Point) from an (N, fields) array."""
        if kind == "scalar" or el[0] != "msg":
            raise TypeError(f"field {name!r} is not a sequence of messages")
        dtype, size, k = flat_format(el[1])
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != k:
            raise ValueError(f"field {name!r} needs an (N, {k}) array, got shape {array.shape}")
        if kind == "sequence":
            self.align(4)
            self.buf += struct.pack("<I", len(array))
        elif len(array) != n:
            raise ValueError(f"field {name!r} has {n} elements, the array {len(array)}")
        if len(array):
            self.align(size)
            self.buf += np.ascontiguousarray(array, dtype=dtype).tobytes()


def serialize(msg, arrays: Iterable[tuple[object, str, np.ndarray]] = ()) -> bytes:
    """CDR bytes of ``msg`` (the message ``rclpy.serialization.serialize_message`` writes), where each
    ``(m, field, array)`` of ``arrays`` stands for the value of ``field`` of the (sub)message ``m``: an
    (N, k) array for a sequence (or fixed array) of flat messages with k fields of one numeric type, e.g.
    (N, 3) float64 m for ``geometry_msgs/Point[]``. UnsupportedType for wide strings and long double."""
    w = _Writer({(id(m), field): array for m, field, array in arrays})
    w.message(msg)
    return bytes(w.buf)


# ----------------------------------------------------------------------------------------------- check
def matches_rmw() -> tuple[bool, str]:
    """(True, '') when the middleware reads :func:`serialize`'s bytes of a MarkerArray and a HandArray like
    the node's as the messages it reads from its own serialization of them, and ``Publisher.publish``
    takes bytes; (False, why) otherwise.

    (Byte-for-byte comparison with ``serialize_message`` is not possible: the middleware leaves its padding
    bytes uninitialised and sizes its buffer by an estimate that may add up to 8 unused bytes at the end.)
    """
    try:
        from geometry_msgs.msg import Point
        from rclpy.publisher import Publisher
        from rclpy.serialization import deserialize_message, serialize_message
        from visualization_msgs.msg import Marker, MarkerArray

        from wildhands_ros.msg import Hand, HandArray

        if "bytes" not in str(inspect.signature(Publisher.publish)):
            return False, "this rclpy's Publisher.publish takes no serialized bytes"
        rng = np.random.default_rng(0)
        markers = MarkerArray()
        for i, kind in enumerate((Marker.DELETEALL, Marker.TRIANGLE_LIST, Marker.TEXT_VIEW_FACING)):
            m = Marker(id=i, type=kind, ns="check/\u00e9", text="label" * i)
            m.header.frame_id = "optical"
            m.header.stamp.sec, m.header.stamp.nanosec = 17, 123
            m.pose.orientation.w, m.scale.x, m.color.a, m.frame_locked = 1.0, 0.004, 0.6, bool(i % 2)
            markers.markers.append(m)
        hand = Hand(track_id=-1, side=Hand.SIDE_RIGHT, confidence=0.5, hand_model="x", grasp_label="yz")
        hand.keypoints_2d = rng.normal(size=42).astype(np.float32)
        hand.mesh_triangles = [0, 1, 2]
        hands = HandArray(hands=[hand], latency=0.25)
        hands.header.frame_id = "optical"
        for msg, fields in (
            (markers, [(markers.markers[1], "points", rng.normal(size=(3, 3)))]),
            (hands, [(hand, "keypoints_3d", rng.normal(size=(21, 3))), (hand, "mesh_vertices", np.eye(3))]),
        ):
            lean = serialize(msg, fields)
            for m, name, xyz in fields:
                setattr(m, name, [Point(x=x, y=y, z=z) for x, y, z in xyz.tolist()])
            cls = type(msg)
            if deserialize_message(lean, cls) != deserialize_message(serialize_message(msg), cls):
                return False, f"the middleware reads these CDR bytes of a {cls.__name__} differently"
    except Exception as exc:  # any failure: the message-object path
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""
