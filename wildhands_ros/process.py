"""Running one node as a process: the shared ``main`` of ``wildhands_node`` and ``retarget_node``."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_node(make_node: Callable[[], Node], logger_name: str, args: list[str] | None = None) -> int:
    """Init rclpy, build the node, spin until SIGINT/SIGTERM, clean up. Returns the exit code: 0, or 1 with
    one ``cannot start: ...`` line when the node refuses its parameters (or its weights, files, ...)."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, OSError, ParameterException) as exc:  # bad parameters, missing weights
        rclpy.logging.get_logger(logger_name).fatal(f"cannot start: {exc}")
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
