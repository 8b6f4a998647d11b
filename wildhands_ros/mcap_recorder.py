"""Record ROS 2 topics into an MCAP file (what ``ros2 bag record -s mcap`` writes; opens in Foxglove).

Works without rosbag2 (not on PyPI): messages are kept as the CDR bytes rclpy receives (``raw=True``
subscriptions) or serialises, under ``ros2msg`` schemas built from the installed ``.msg`` files the way
rosbag2 does (the type's definition, then each nested type once after a line of ``=`` and ``MSG: pkg/Type``).

    recorder = McapRecorder("out.mcap")
    recorder.subscribe(node, "hands", HandArray)      # records what arrives
    recorder.write("camera/camera_info", info_msg, stamp_ns)  # records a message we publish ourselves
    recorder.close()
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from pathlib import Path

from mcap.writer import CompressionType, Writer
from rclpy.node import Node
from rclpy.serialization import serialize_message

__all__ = ["McapRecorder", "message_definition", "type_name"]

PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "string", "wstring",
}  # fmt: skip
SEPARATOR = "=" * 80


def type_name(msg_type: type) -> str:
    """'sensor_msgs/msg/Image' for ``sensor_msgs.msg.Image``."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def _msg_file(package: str, name: str) -> Path:
    """``<prefix>/share/<package>/msg/<name>.msg`` from the prefixes of ``$AMENT_PREFIX_PATH`` (a sourced
    ROS 2 install or colcon workspace), then the running Python's prefix (the PyPI wheels' venv)."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        path = Path(prefix) / "share" / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise ValueError(
        f"no definition of {package}/msg/{name}: no share/{package}/msg/{name}.msg in {prefixes}"
    )


def _field_types(text: str, package: str) -> list[tuple[str, str]]:
    """(package, name) of the non-primitive field types of a .msg text, in order."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or "=" in parts[1] or "=" in parts[0]:  # constants: "uint8 SIDE_LEFT=0"
            continue
        base = re.sub(r"\[.*\]$", "", parts[0])  # arrays: Point[21], Point[], Point[<=4]
        base = re.sub(r"<=\d+$", "", base)  # bounded strings
        if base in PRIMITIVES:
            continue
        if "/" in base:
            pkg, _, name = base.rpartition("/")
            pkg = pkg.split("/")[0]
        elif base == "Header":
            pkg, name = "std_msgs", "Header"
        else:
            pkg, name = package, base
        found.append((pkg, name))
    return found


def message_definition(msg_type: type | str) -> str:
    """The full ``ros2msg`` definition of ``msg_type`` (a message class or 'pkg/msg/Type')."""
    full = msg_type if isinstance(msg_type, str) else type_name(msg_type)
    package, _, name = full.partition("/msg/")
    root_text = _msg_file(package, name).read_text()
    parts = [root_text.rstrip("\n")]
    seen: set[tuple[str, str]] = set()
    queue = _field_types(root_text, package)
    while queue:
        pkg, sub = queue.pop(0)
        if (pkg, sub) in seen:
            continue
        seen.add((pkg, sub))
        text = _msg_file(pkg, sub).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {pkg}/{sub}\n{text.rstrip(chr(10))}")
        queue.extend(_field_types(text, pkg))
    return "\n".join(parts) + "\n"


class McapRecorder:
    """Thread-safe MCAP writer of CDR messages (zstd chunks). ``close()`` finishes the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="wildhands_ros")
        self._lock = threading.Lock()
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence = 0
        self.counts: dict[str, int] = {}
        self._closed = False

    def _channel(self, topic: str, msg_type: type) -> int:
        if topic not in self._channels:
            name = type_name(msg_type)
            if name not in self._schemas:
                self._schemas[name] = self._writer.register_schema(
                    name=name, encoding="ros2msg", data=message_definition(msg_type).encode()
                )
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[name]
            )
            self.counts[topic] = 0
        return self._channels[topic]

    def write_serialized(
        self, topic: str, msg_type: type, data: bytes, publish_time_ns: int | None = None
    ) -> None:
        """Record CDR bytes of ``msg_type`` on ``topic``, logged now (wall clock)."""
        now = time.time_ns()
        with self._lock:
            if self._closed:
                return
            channel = self._channel(topic, msg_type)
            self._sequence += 1
            self._writer.add_message(
                channel_id=channel,
                log_time=now,
                data=bytes(data),
                publish_time=now if publish_time_ns is None else int(publish_time_ns),
                sequence=self._sequence,
            )
            self.counts[topic] += 1

    def write(self, topic: str, msg, publish_time_ns: int | None = None) -> None:
        """Record a message object (serialised here)."""
        self.write_serialized(topic, type(msg), serialize_message(msg), publish_time_ns)

    def subscribe(self, node: Node, topic: str, msg_type: type, qos=10):
        """Record everything ``node`` receives on ``topic`` (recorded under the topic's resolved name)."""
        resolved = node.resolve_topic_name(topic)
        return node.create_subscription(
            msg_type, topic, lambda data: self.write_serialized(resolved, msg_type, data), qos, raw=True
        )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.finish()
            self._stream.close()
