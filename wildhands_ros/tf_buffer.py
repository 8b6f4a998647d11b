"""Looking up transforms: ``tf2_ros.Buffer`` + ``TransformListener`` where tf2_ros is installed, otherwise a
small buffer of our own that listens to ``/tf`` and ``/tf_static`` (``tf2_msgs/TFMessage``) the same way.

    tf = make_tf_buffer(node)                        # .backend: 'tf2_ros' or 'tf2_msgs'
    t = tf.lookup_transform("base_link", "camera_color_optical_frame", rclpy.time.Time())  # latest
    # t: geometry_msgs/TransformStamped mapping points of the source frame into the target frame

:class:`TFBuffer` (the fallback) follows tf2's semantics for what a robot-arm teleoperation needs: a
time of 0 means the latest common data; any other time interpolates each dynamic edge between the two
samples around it (translation linearly, rotation by slerp) and raises :class:`TransformError` outside
the samples it holds (``cache_time`` s of them, 10 s like tf2's default) — no extrapolation. Static
transforms hold at every time. Chains of any length are composed through the tree (target <- common
ancestor -> source). Unknown or unconnected frames raise :class:`TransformError` naming them.

QoS as tf2_ros's listener: ``/tf`` reliable, volatile, keep last 100; ``/tf_static`` reliable,
transient local, keep last 100 (late joiners get the static transforms).
"""

from __future__ import annotations

import bisect
import threading

import numpy as np
from geometry_msgs.msg import TransformStamped
from scipy.spatial.transform import Rotation, Slerp

from wildhands_ros.tf import TF_TOPIC

__all__ = ["TFBuffer", "TransformError", "make_tf_buffer", "transform_to_matrix"]

TF_STATIC_TOPIC = "/tf_static"


class TransformError(LookupError):
    """No transform between two frames at the asked time (unknown frame, not connected, or out of range)."""


def transform_to_matrix(t: TransformStamped) -> np.ndarray:
    """(4, 4) of a TransformStamped: maps points of ``child_frame_id`` into ``header.frame_id``."""
    from wildhands.retarget.wrist import transform_from_pose

    tr, r = t.transform.translation, t.transform.rotation
    return transform_from_pose((tr.x, tr.y, tr.z), (r.x, r.y, r.z, r.w))


def _stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class _Edge:
    """One parent -> child edge: a static transform or timestamped samples (ns, translation, quaternion)."""

    def __init__(self, parent: str, static: bool) -> None:
        self.parent = parent
        self.static = static
        self.times: list[int] = []
        self.translations: list[np.ndarray] = []
        self.rotations: list[np.ndarray] = []  # quaternions x, y, z, w

    def add(self, t_ns: int, translation: np.ndarray, quaternion: np.ndarray, cache_ns: int) -> None:
        if self.static:
            self.times, self.translations, self.rotations = [0], [translation], [quaternion]
            return
        i = bisect.bisect_left(self.times, t_ns)
        if i < len(self.times) and self.times[i] == t_ns:  # same stamp: replace
            self.translations[i], self.rotations[i] = translation, quaternion
        else:
            self.times.insert(i, t_ns)
            self.translations.insert(i, translation)
            self.rotations.insert(i, quaternion)
        while len(self.times) > 1 and self.times[-1] - self.times[0] > cache_ns:
            del self.times[0], self.translations[0], self.rotations[0]

    def latest_ns(self) -> int:
        return 0 if self.static else self.times[-1]

    def matrix(self, t_ns: int, child: str) -> np.ndarray:
        """(4, 4) parent <- child at ``t_ns`` (0 = latest)."""
        if self.static or t_ns == 0 or (len(self.times) == 1 and self.times[0] == t_ns):
            k = -1
            translation, quaternion = self.translations[k], self.rotations[k]
        else:
            lo, hi = self.times[0], self.times[-1]
            if not lo <= t_ns <= hi:
                raise TransformError(
                    f"{self.parent} -> {child}: time {t_ns * 1e-9:.3f} s is outside the buffered "
                    f"[{lo * 1e-9:.3f}, {hi * 1e-9:.3f}] s (no extrapolation)"
                )
            i = bisect.bisect_left(self.times, t_ns)
            if self.times[i] == t_ns:
                translation, quaternion = self.translations[i], self.rotations[i]
            else:
                t0, t1 = self.times[i - 1], self.times[i]
                a = (t_ns - t0) / (t1 - t0)
                translation = (1 - a) * self.translations[i - 1] + a * self.translations[i]
                slerp = Slerp([0.0, 1.0], Rotation.from_quat([self.rotations[i - 1], self.rotations[i]]))
                quaternion = slerp([a]).as_quat()[0]
        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat(quaternion).as_matrix()
        T[:3, 3] = translation
        return T


class TFBuffer:
    """A tf2-like transform buffer fed by ``/tf`` and ``/tf_static`` (see the module docstring).

    ``node``: subscribe on this node; None = feed it with :meth:`set_transform` only (tests, tools).
    """

    backend = "tf2_msgs"

    def __init__(self, node=None, cache_time: float = 10.0) -> None:
        self._edges: dict[str, _Edge] = {}  # child -> edge from its parent
        self._lock = threading.Lock()
        self._cache_ns = int(cache_time * 1e9)
        if node is not None:
            from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
            from tf2_msgs.msg import TFMessage

            def qos(durability):
                return QoSProfile(
                    history=HistoryPolicy.KEEP_LAST,
                    depth=100,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=durability,
                )

            node.create_subscription(
                TFMessage, TF_TOPIC, lambda m: self._on_message(m, False), qos(DurabilityPolicy.VOLATILE)
            )
            node.create_subscription(
                TFMessage,
                TF_STATIC_TOPIC,
                lambda m: self._on_message(m, True),
                qos(DurabilityPolicy.TRANSIENT_LOCAL),
            )

    def _on_message(self, msg, static: bool) -> None:
        for t in msg.transforms:
            try:
                self.set_transform(t, static)
            except ValueError:  # a bad transform (NaN, empty frame) is ignored, the others are kept
                continue

    def set_transform(self, t: TransformStamped, static: bool = False) -> None:
        """Add one transform (``header.frame_id`` <- ``child_frame_id``); ValueError for bad ones."""
        parent, child = t.header.frame_id.lstrip("/"), t.child_frame_id.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"transform {parent!r} -> {child!r}: frame ids must be non-empty and differ")
        tr, r = t.transform.translation, t.transform.rotation
        translation = np.array([tr.x, tr.y, tr.z], dtype=np.float64)
        quaternion = np.array([r.x, r.y, r.z, r.w], dtype=np.float64)
        norm = float(np.linalg.norm(quaternion))
        if not (np.all(np.isfinite(translation)) and np.isfinite(norm) and norm > 1e-9):
            raise ValueError(f"transform {parent!r} -> {child!r} is not finite or has a zero quaternion")
        with self._lock:
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent or edge.static != static:
                edge = self._edges[child] = _Edge(parent, static)  # a re-parented frame starts anew
            edge.add(_stamp_ns(t.header.stamp), translation, quaternion / norm, self._cache_ns)

    def _chain(self, frame: str) -> list[str]:
        """frame, its parent, ..., the root."""
        chain = [frame]
        while chain[-1] in self._edges and len(chain) <= len(self._edges) + 1:
            chain.append(self._edges[chain[-1]].parent)
        return chain

    def _to_ancestor(self, chain: list[str], ancestor: str, t_ns: int) -> np.ndarray:
        T = np.eye(4)  # ancestor <- chain[0]
        for child in chain[: chain.index(ancestor)]:
            T = self._edges[child].matrix(t_ns, child) @ T
        return T

    def lookup_matrix(self, target_frame: str, source_frame: str, t_ns: int = 0) -> np.ndarray:
        """(4, 4) mapping points of ``source_frame`` into ``target_frame`` at ``t_ns`` (0 = latest)."""
        target, source = target_frame.lstrip("/"), source_frame.lstrip("/")
        with self._lock:
            known = set(self._edges) | {e.parent for e in self._edges.values()}
            for f in (target, source):
                if f not in known:
                    raise TransformError(
                        f"frame {f!r} does not exist (known: {', '.join(sorted(known)) or 'none'})"
                    )
            if target == source:
                return np.eye(4)
            up_source, up_target = self._chain(source), self._chain(target)
            common = next((f for f in up_source if f in up_target), None)
            if common is None:
                raise TransformError(f"frames {target!r} and {source!r} are not connected")
            if t_ns == 0:  # latest common time of the dynamic edges on the path, as tf2 does
                edges = [self._edges[c] for c in up_source[: up_source.index(common)]]
                edges += [self._edges[c] for c in up_target[: up_target.index(common)]]
                dynamic = [e.latest_ns() for e in edges if not e.static]
                t_ns = min(dynamic) if dynamic else 0
            T_common_source = self._to_ancestor(up_source, common, t_ns)
            T_common_target = self._to_ancestor(up_target, common, t_ns)
        R, p = T_common_target[:3, :3], T_common_target[:3, 3]
        inv = np.eye(4)
        inv[:3, :3], inv[:3, 3] = R.T, -R.T @ p
        return inv @ T_common_source

    def lookup_transform(self, target_frame: str, source_frame: str, time, timeout=None) -> TransformStamped:
        """tf2_ros.Buffer's call: a TransformStamped target <- source at ``time`` (rclpy Time; 0 = latest).
        ``timeout`` is accepted and ignored (this buffer never blocks)."""
        t_ns = int(time.nanoseconds)
        T = self.lookup_matrix(target_frame, source_frame, t_ns)
        out = TransformStamped()
        out.header.frame_id, out.child_frame_id = target_frame, source_frame
        out.header.stamp.sec, out.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
        out.transform.translation.x, out.transform.translation.y, out.transform.translation.z = (
            float(v) for v in T[:3, 3]
        )
        q = Rotation.from_matrix(T[:3, :3]).as_quat()
        r = out.transform.rotation
        r.x, r.y, r.z, r.w = (float(v) for v in q)
        return out


class _Tf2RosBuffer:
    """tf2_ros.Buffer with its TransformListener on ``node`` (a ROS 2 install)."""

    backend = "tf2_ros"

    def __init__(self, node, buffer_cls, listener_cls) -> None:
        self.buffer = buffer_cls()
        self.listener = listener_cls(self.buffer, node)

    def lookup_transform(self, target_frame: str, source_frame: str, time, timeout=None) -> TransformStamped:
        return self.buffer.lookup_transform(target_frame, source_frame, time)


def make_tf_buffer(node):
    """tf2_ros's Buffer + TransformListener on ``node`` where tf2_ros imports, else :class:`TFBuffer`.
    Both have ``backend`` and ``lookup_transform(target, source, time)``; failures raise (tf2's
    exceptions or :class:`TransformError`)."""
    try:
        from tf2_ros import Buffer, TransformListener
    except ImportError:
        return TFBuffer(node)
    return _Tf2RosBuffer(node, Buffer, TransformListener)
