"""Pairing of image + camera_info by stamp, and of images with upstream hand boxes.

:class:`ImageInfoSync` uses ``message_filters.ApproximateTimeSynchronizer`` where message_filters is
installed, and :class:`ApproxTimePairer` (written here) otherwise. Both keep at most ``queue_size``
messages per input and pair messages whose stamps differ by at most ``slop`` seconds. Only our own pairer
reports images that can no longer be paired (``on_unmatched``), which the node turns into a warning.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, Image

try:  # a ROS 2 install
    import message_filters
except ImportError:  # pip-installed ROS
    message_filters = None


def stamp_ns(header) -> int:
    """builtin_interfaces/Time of a header -> integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class ApproxTimePairer:
    """Pairs image and camera_info messages whose stamps differ by <= ``slop`` s (bounded queues).

    An image waits until a camera_info close enough arrives. It is given up (``on_unmatched(image, dt)``,
    dt = stamp distance to the nearest camera_info in seconds, or None when there is none) when a
    camera_info newer than its stamp + slop has arrived without a match, or when ``queue_size`` newer
    images wait behind it. Thread-safe.
    """

    def __init__(
        self,
        slop: float,
        queue_size: int,
        on_pair: Callable[[Any, Any], None],
        on_unmatched: Callable[[Any, float | None], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be >= 1")
        if slop < 0:
            raise ValueError(f"slop={slop} must be >= 0")
        self.slop_ns = int(round(slop * 1e9))
        self.queue_size = queue_size
        self.on_pair = on_pair
        self.on_unmatched = on_unmatched
        self._images: deque = deque()
        self._infos: deque = deque(maxlen=queue_size)
        self._lock = threading.Lock()

    def add_image(self, msg) -> None:
        self._run(lambda: self._images.append(msg))

    def add_info(self, msg) -> None:
        self._run(lambda: self._infos.append(msg))

    def _run(self, push: Callable[[], None]) -> None:
        with self._lock:
            push()
            events = self._match()
        for kind, a, b in events:  # user callbacks outside the lock
            if kind == "pair":
                self.on_pair(a, b)
            elif self.on_unmatched is not None:
                self.on_unmatched(a, b)

    def _match(self) -> list[tuple[str, Any, Any]]:
        events = []
        while self._images:
            image = self._images[0]
            t = stamp_ns(image.header)
            dt_ns = None
            if self._infos:
                best = min(range(len(self._infos)), key=lambda i: abs(stamp_ns(self._infos[i].header) - t))
                dt_ns = abs(stamp_ns(self._infos[best].header) - t)
                if dt_ns <= self.slop_ns:
                    info = self._infos[best]
                    for _ in range(best + 1):  # this camera_info and the older ones are used up
                        self._infos.popleft()
                    self._images.popleft()
                    events.append(("pair", image, info))
                    continue
                if stamp_ns(self._infos[-1].header) > t + self.slop_ns:
                    self._images.popleft()
                    events.append(("unmatched", image, dt_ns * 1e-9))
                    continue
            if len(self._images) > self.queue_size:
                self._images.popleft()
                events.append(("unmatched", image, None if dt_ns is None else dt_ns * 1e-9))
                continue
            break
        return events


class ImageInfoSync:
    """Subscribes image + camera_info and calls ``on_pair(image, info)`` for each pair.

    ``on_image(image) -> bool`` and ``on_info(info)`` see every message first (counting, watchdogs); an
    image for which ``on_image`` returns False is not queued for pairing (own pairer only).
    """

    def __init__(
        self,
        node,
        image_topic: str,
        info_topic: str,
        image_qos,
        info_qos,
        slop: float,
        queue_size: int,
        on_pair: Callable[[Image, CameraInfo], None],
        on_image: Callable[[Image], bool],
        on_info: Callable[[CameraInfo], None],
        on_unmatched: Callable[[Image, float | None], None] | None = None,
        use_message_filters: bool = True,
    ) -> None:
        self.on_image, self.on_info = on_image, on_info
        if message_filters is not None and use_message_filters:
            self.backend = "message_filters"
            self._subs = [
                message_filters.Subscriber(node, Image, image_topic, qos_profile=image_qos),
                message_filters.Subscriber(node, CameraInfo, info_topic, qos_profile=info_qos),
            ]
            self._subs[0].registerCallback(on_image)
            self._subs[1].registerCallback(on_info)
            self._sync = message_filters.ApproximateTimeSynchronizer(self._subs, queue_size, slop)
            self._sync.registerCallback(on_pair)
        else:
            self.backend = "wildhands_ros.sync"
            self._pairer = ApproxTimePairer(slop, queue_size, on_pair, on_unmatched)
            self._subs = [
                node.create_subscription(Image, image_topic, self._image_cb, image_qos),
                node.create_subscription(CameraInfo, info_topic, self._info_cb, info_qos),
            ]

    def _image_cb(self, msg: Image) -> None:
        if self.on_image(msg):
            self._pairer.add_image(msg)

    def _info_cb(self, msg: CameraInfo) -> None:
        self.on_info(msg)
        self._pairer.add_info(msg)


class BoxesBuffer:
    """The last ``size`` HandDetectionArray messages by stamp; ``get`` waits up to ``timeout`` s for one."""

    def __init__(self, size: int = 30) -> None:
        self.size = size
        self._by_stamp: OrderedDict[int, Any] = OrderedDict()
        self._cond = threading.Condition()

    def put(self, msg) -> None:
        with self._cond:
            self._by_stamp[stamp_ns(msg.header)] = msg
            while len(self._by_stamp) > self.size:
                self._by_stamp.popitem(last=False)
            self._cond.notify_all()

    def _find(self, t: int, slop_ns: int):
        best = min(self._by_stamp, key=lambda s: abs(s - t), default=None)
        return self._by_stamp[best] if best is not None and abs(best - t) <= slop_ns else None

    def get(self, header, slop: float = 0.0, timeout: float = 0.0):
        """The boxes whose stamp is within ``slop`` s of ``header``'s, or None after ``timeout`` s."""
        t, slop_ns = stamp_ns(header), int(round(slop * 1e9))
        with self._cond:
            self._cond.wait_for(lambda: self._find(t, slop_ns) is not None, timeout=timeout)
            return self._find(t, slop_ns)
