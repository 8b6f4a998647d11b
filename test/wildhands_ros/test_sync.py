"""Our approximate-time pairer (used where message_filters is absent) and the hand-box buffer."""

from __future__ import annotations

import pytest
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from wildhands_ros.sync import ApproxTimePairer, BoxesBuffer


def _h(t: float) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    return h


def _pairer(slop=0.01, queue=3):
    pairs, lost = [], []
    p = ApproxTimePairer(slop, queue, lambda i, c: pairs.append((i.header.stamp.sec, c.header.stamp.nanosec)),
                         lambda i, dt: lost.append((i.header.stamp.sec, dt)))  # fmt: skip
    return p, pairs, lost


def test_pairs_within_slop_in_either_order():
    p, pairs, lost = _pairer()
    p.add_info(CameraInfo(header=_h(1.005)))
    p.add_image(Image(header=_h(1.0)))
    p.add_image(Image(header=_h(2.0)))
    assert pairs == [(1, 5_000_000)] and not lost
    p.add_info(CameraInfo(header=_h(2.0)))
    assert pairs[-1] == (2, 0)


def test_too_far_apart_is_reported():
    p, pairs, lost = _pairer()
    p.add_image(Image(header=_h(1.0)))
    p.add_info(CameraInfo(header=_h(1.5)))
    assert not pairs and lost == [(1, pytest.approx(0.5))]


def test_queue_is_bounded():
    p, pairs, lost = _pairer(queue=3)
    for t in range(10):
        p.add_image(Image(header=_h(float(t))))
    assert len(lost) == 7 and lost[0] == (0, None) and len(p._images) == 3


def test_boxes_buffer():
    b = BoxesBuffer(size=2)
    for t in (1.0, 2.0, 3.0):
        m = Image(header=_h(t))
        b.put(m)
    assert b.get(_h(1.0)) is None  # evicted
    assert b.get(_h(3.004), slop=0.01).header.stamp.sec == 3
    assert b.get(_h(5.0), timeout=0.05) is None


def test_a_far_future_image_does_not_hold_back_the_next_ones():
    p, pairs, lost = _pairer(queue=10)
    p.add_image(Image(header=_h(1e6)))  # no camera_info will ever match it
    for t in (1.0, 2.0, 3.0):
        p.add_image(Image(header=_h(t)))
        p.add_info(CameraInfo(header=_h(t)))
    assert [s for s, _ in pairs] == [1, 2, 3]
    assert [s for s, _ in lost] == [1_000_000]  # given up when a newer arrival was paired


def test_wait_runs_out_in_arrival_order():
    now = [0.0]
    pairs, lost = [], []
    p = ApproxTimePairer(0.01, 10, lambda i, c: pairs.append(i.header.stamp.sec),
                         lambda i, dt: lost.append(i.header.stamp.sec), clock=lambda: now[0])  # fmt: skip
    p.add_image(Image(header=_h(1.0)), wait=1.0)
    p.add_image(Image(header=_h(2.0)), wait=0.1)  # shorter wait, arrived later
    now[0] = 0.05
    p.poll()
    assert not lost and p.waiting == 2
    p.add_info(CameraInfo(header=_h(2.0)))  # a late camera_info within the wait: paired
    assert pairs == [2] and lost == [1]  # the older image is given up first
    p.add_image(Image(header=_h(3.0)), wait=0.1)
    now[0] = 0.2
    p.poll()
    assert lost == [1, 3] and p.waiting == 0


def test_boxes_buffer_close_wakes_a_waiting_get():
    import threading
    import time

    b = BoxesBuffer()
    threading.Timer(0.1, b.close).start()
    t0 = time.monotonic()
    assert b.get(_h(1.0), timeout=5.0) is None
    assert time.monotonic() - t0 < 2.0
