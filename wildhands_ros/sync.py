"""Pairing of image + camera_info by stamp, and of images with upstream hand boxes.

:class:`ImageInfoSync` subscribes both topics and pairs them with :class:`ApproxTimePairer` (written here,
on every ROS 2 install: ``message_filters`` silently drops what it cannot pair, and an image stamped far in
the future would block its queue). The pairer keeps at most ``queue_size`` messages per input, pairs
messages whose stamps differ by at most ``slop`` seconds, gives images up in arrival order and never lets
an image that cannot be paired hold back the ones behind it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, Image


def stamp_ns(header) -> int:
    """builtin_interfaces/Time of a header -> integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class ApproxTimePairer:
    """Pairs image and camera_info messages whose stamps differ by <= ``slop`` s (bounded queues).

    Every waiting image is matched against the waiting camera_infos (not only the oldest image), so one
    image that cannot be paired does not hold back the images behind it. An image is given up
    (``on_unmatched(image, dt)``, dt = stamp distance to the nearest waiting camera_info in seconds, or None
    when none waits) when

    - a camera_info newer than its stamp + slop has arrived without a match (streams are in order),
    - an image that arrived after it has been paired or given up (images leave in arrival order),
    - ``queue_size`` newer images wait behind it, or
    - its wait (``add_image(msg, wait)``, seconds of monotonic time since it arrived) has run out; such
      images are released by :meth:`poll` (call it from a timer) or by the next message.

    Thread-safe; the callbacks run outside the lock, in arrival order.
    """

    def __init__(
        self,
        slop: float,
        queue_size: int,
        on_pair: Callable[[Any, Any], None],
        on_unmatched: Callable[[Any, float | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be >= 1")
        if slop < 0:
            raise ValueError(f"slop={slop} must be >= 0")
        self.slop_ns = int(round(slop * 1e9))
        self.queue_size = queue_size
        self.on_pair = on_pair
        self.on_unmatched = on_unmatched
        self._clock = clock
        self._images: deque = deque()  # (image, deadline in clock seconds), in arrival order
        self._infos: deque = deque(maxlen=queue_size)
        self._lock = threading.Lock()

    def add_image(self, msg, wait: float = float("inf")) -> None:
        """Queue ``msg``; it is given up after ``wait`` s at the latest when nothing pairs it."""
        self._run(lambda: self._images.append((msg, self._clock() + wait)))

    def add_info(self, msg) -> None:
        self._run(lambda: self._infos.append(msg))

    def poll(self) -> None:
        """Give up the images whose wait has run out (cheap when nothing waits)."""
        if self._images:
            self._run(lambda: None)

    @property
    def waiting(self) -> int:
        """Images waiting for their camera_info."""
        return len(self._images)

    def _run(self, push: Callable[[], None]) -> None:
        with self._lock:
            push()
            events = self._match()
        for kind, a, b in events:  # user callbacks outside the lock
            if kind == "pair":
                self.on_pair(a, b)
            elif self.on_unmatched is not None:
                self.on_unmatched(a, b)

    def _nearest_info(self, t: int) -> tuple[int | None, int | None]:
        """Index of the waiting camera_info nearest to stamp ``t`` ns and its distance, or (None, None)."""
        if not self._infos:
            return None, None
        best = min(range(len(self._infos)), key=lambda i: abs(stamp_ns(self._infos[i].header) - t))
        return best, abs(stamp_ns(self._infos[best].header) - t)

    def _give_up(self, count: int, events: list) -> None:
        """Give up the ``count`` oldest waiting images, oldest first."""
        for _ in range(count):
            image, _ = self._images.popleft()
            _, dt_ns = self._nearest_info(stamp_ns(image.header))
            events.append(("unmatched", image, None if dt_ns is None else dt_ns * 1e-9))

    def _match(self) -> list[tuple[str, Any, Any]]:
        events: list[tuple[str, Any, Any]] = []
        now = self._clock()
        newest_info = max((stamp_ns(i.header) for i in self._infos), default=None)
        i = 0
        while i < len(self._images):
            image, deadline = self._images[i]
            t = stamp_ns(image.header)
            best, dt_ns = self._nearest_info(t)
            if dt_ns is not None and dt_ns <= self.slop_ns:
                info = self._infos[best]
                for _ in range(best + 1):  # this camera_info and the older ones are used up
                    self._infos.popleft()
                self._give_up(i, events)  # images that arrived before this one: their info is not coming
                self._images.popleft()
                events.append(("pair", image, info))
                newest_info = max((stamp_ns(x.header) for x in self._infos), default=newest_info)
                i = 0
                continue
            passed = newest_info is not None and newest_info > t + self.slop_ns
            if passed or now >= deadline:
                self._give_up(i + 1, events)
                i = 0
                continue
            i += 1
        if len(self._images) > self.queue_size:
            self._give_up(len(self._images) - self.queue_size, events)
        return events


class ImageInfoSync:
    """Subscribes image + camera_info and calls ``on_pair(image, info)`` for each pair.

    ``on_image(image) -> float | None`` and ``on_info(info)`` see every message first (counting,
    watchdogs); ``on_image`` returns how long (s) the image may wait for its camera_info, or None to drop
    it. ``on_unmatched(image, dt)`` gets the images that could not be paired (see :class:`ApproxTimePairer`).
    Call :meth:`poll` from a timer so that images whose wait ran out are released without new messages.
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
        on_image: Callable[[Image], float | None],
        on_info: Callable[[CameraInfo], None],
        on_unmatched: Callable[[Image, float | None], None] | None = None,
        event_callbacks=None,  # rclpy SubscriptionEventCallbacks of both subscriptions
    ) -> None:
        self.on_image, self.on_info = on_image, on_info
        self.backend = "wildhands_ros.sync"
        self._pairer = ApproxTimePairer(slop, queue_size, on_pair, on_unmatched)
        self._subs = [
            node.create_subscription(
                Image, image_topic, self._image_cb, image_qos, event_callbacks=event_callbacks
            ),
            node.create_subscription(
                CameraInfo, info_topic, self._info_cb, info_qos, event_callbacks=event_callbacks
            ),
        ]

    def poll(self) -> None:
        self._pairer.poll()

    def _image_cb(self, msg: Image) -> None:
        wait = self.on_image(msg)
        if wait is not None:
            self._pairer.add_image(msg, wait)

    def _info_cb(self, msg: CameraInfo) -> None:
        self.on_info(msg)
        self._pairer.add_info(msg)


class BoxesBuffer:
    """The last ``size`` HandDetectionArray messages by stamp; ``get`` waits up to ``timeout`` s for one."""

    def __init__(self, size: int = 30) -> None:
        self.size = size
        self._by_stamp: OrderedDict[int, Any] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False

    def close(self) -> None:
        """Wake every waiting ``get`` (it returns what it has at once); later gets do not wait."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

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
            self._cond.wait_for(lambda: self._closed or self._find(t, slop_ns) is not None, timeout=timeout)
            return self._find(t, slop_ns)
