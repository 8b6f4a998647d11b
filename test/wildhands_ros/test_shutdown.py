"""SIGINT and SIGTERM end the node process (the console script) within 2 s, exit code 0, no traceback, also
while it is busy with a stream of frames."""

from __future__ import annotations

import signal
import time

import pytest
from std_msgs.msg import Header

from wildhands_ros.conversions import boxes_to_detections, camera_to_info, rgb_to_image
from wildhands_ros.testing import NodeProcess, Tester, boxes_node_params, node_command


def _publish(tester: Tester, sample, sec: int) -> None:
    image, camera, boxes = sample
    h = Header(frame_id="shutdown_optical")
    h.stamp.sec = sec
    tester.pubs["hand_boxes"].publish(boxes_to_detections(boxes, h))
    tester.pubs["camera_info"].publish(camera_to_info(camera, h))
    tester.pubs["image"].publish(rgb_to_image(image, h, "rgb8"))


@pytest.mark.slow
def test_sigint_sigterm_while_busy(ros_context, sample, tmp_path):
    signals = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
    nodes, testers = {}, {}
    for name in signals:  # both start at once: start-up is the slow part
        (tmp_path / name).mkdir()
        nodes[name] = NodeProcess(
            node_command(f"/shutdown_{name}", boxes_node_params(30.0)), tmp_path / name / "node.log"
        )
        testers[name] = Tester(f"/shutdown_{name}", f"shutdown_tester_{name}")
    results = {}
    try:
        for name, sig in signals.items():
            node, tester = nodes[name], testers[name]
            tester.wait_subscribed(node)
            sec, deadline = 100, time.monotonic() + 30.0
            while len(tester.hands) < 2 and time.monotonic() < deadline:  # busy: frames keep coming
                sec += 1
                _publish(tester, sample, sec)
                tester.spin(0.1)
            assert len(tester.hands) >= 2, "the node never answered:\n" + node.log()[-3000:]
            node.proc.send_signal(sig)
            t0 = time.monotonic()
            while node.alive() and time.monotonic() - t0 < 10.0:  # the stream goes on until it exits
                sec += 1
                _publish(tester, sample, sec)
                tester.spin(0.03)
            rc, _ = node.stop(signal.SIGKILL, timeout=5.0) if node.alive() else (node.proc.returncode, 0)
            results[name] = (rc, time.monotonic() - t0)
    finally:
        for name in signals:
            testers[name].close()
            if nodes[name].alive():
                nodes[name].stop(signal.SIGKILL)
    for name, (rc, seconds) in results.items():
        log = nodes[name].log()
        assert rc == 0, f"{name}: exit code {rc}\n{log[-3000:]}"
        assert seconds < 2.0, f"{name}: {seconds:.2f} s to exit"
        assert "Traceback" not in log, log
        print(f"{name}: exit 0 after {seconds:.3f} s")
