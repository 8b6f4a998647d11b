"""Console-script entry points of the nodes, light on purpose: SIGINT / SIGTERM during start-up end the
process quietly with exit code 0.

Start-up (importing torch and rclpy, loading the network) takes seconds, before rclpy's signal handling is
up: a Ctrl-C then used to print a ``KeyboardInterrupt`` traceback (exit code -2) and a SIGTERM killed the
process (-15). Here the handlers are installed first, with only the standard library imported, and the
node's module is imported afterwards. Until the node spins (:func:`spinning`, used by
:func:`wildhands_ros.process.spin_node`) a signal ends the process at once: there is nothing to clean up
yet. While it spins, rclpy's own handlers (which chain to these) stop it as before: SIGINT raises
``KeyboardInterrupt``, SIGTERM shuts the context down; the node is destroyed cleanly, exit code 0. After the
spin (cleaning up, interpreter teardown) a further signal ends the process at once, also with 0.

Exit code 0, not 130: a stop that was asked for is a clean end, as it is for a node that is already running
(``ros2 launch`` reports "process has finished cleanly").
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator

_installed = False
_spinning = False


def _on_signal(signum: int, frame) -> None:
    if not _spinning:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a signal during a write: a reentrant flush may fail
                stream.flush()
        os._exit(0)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt  # what Python's default SIGINT handler does; spin_node catches it
    # SIGTERM: rclpy's handler, which called this one, has already started shutting the context down


def install() -> None:
    """Install the start-up SIGINT / SIGTERM handling (idempotent; main thread only)."""
    global _installed
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    _installed = True


@contextlib.contextmanager
def spinning() -> Iterator[None]:
    """Around ``rclpy.spin``: signals go to rclpy's shutdown instead of ending the process at once. A no-op
    where :func:`install` was not called (``python -m wildhands_ros.node``, nodes inside tests)."""
    global _spinning
    _spinning = _installed
    try:
        yield
    finally:
        _spinning = False


def _run(module: str) -> int:
    install()
    return importlib.import_module(module).main()


def wildhands_node() -> int:
    """The ``wildhands_node`` console script."""
    return _run("wildhands_ros.node")


def wildhands_retarget_node() -> int:
    """The ``wildhands_retarget_node`` console script."""
    return _run("wildhands_ros.retarget_node")
