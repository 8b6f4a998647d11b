"""Running one node as a process: the shared ``main`` of ``wildhands_node`` and ``retarget_node``."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
import yaml
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from wildhands_ros import entry

# What rclpy.init raises for a bad command line: RCLError (a -p / -r / --params-file rule rcl cannot parse,
# a params file it cannot open or parse, ...; RCLInvalidROSArgsError is one) and UnknownROSArgsError (a flag
# after --ros-args that rcl does not know).
_INIT_ERRORS = (_rclpy.RCLError, _rclpy.UnknownROSArgsError)


def params_files(args: Sequence[str]) -> list[str]:
    """The ``--params-file`` paths in the ``--ros-args`` sections of a command line (``--`` ends one)."""
    files, in_ros, i = [], False, 0
    while i < len(args):
        arg = args[i]
        if arg == "--ros-args":
            in_ros = True
        elif arg == "--":
            in_ros = False
        elif in_ros and arg == "--params-file" and i + 1 < len(args):
            files.append(args[i + 1])
            i += 1
        i += 1
    return files


def check_params_file(path: str) -> str | None:
    """Why rcl would not read ``path`` as a parameters file, or silently take it for one; None if it looks
    fine. rcl refuses a missing file and YAML it cannot parse itself (with the line); a YAML scalar it takes
    without a word, so a non-mapping document is refused here."""
    p = Path(path)
    if not p.exists():
        return f"params file {path} does not exist"
    if not p.is_file():
        return f"params file {path} is not a file"
    try:
        data = p.read_bytes()
    except OSError as exc:
        return f"params file {path} cannot be read: {exc.strerror or exc}"
    try:
        doc = yaml.safe_load(data)
    except (yaml.YAMLError, ValueError):  # not YAML (or not UTF-8): rcl reports it with its own words
        return None
    if doc is not None and not isinstance(doc, dict):  # None: empty or only comments, sets nothing (as rcl)
        return (
            f"params file {path} holds a YAML {type(doc).__name__}, not a mapping of node names to "
            "ros__parameters"
        )
    return None


def _init_error(exc: Exception) -> str:
    """rclpy.init's exception as one line, without rcl's source locations."""
    if isinstance(exc, _rclpy.UnknownROSArgsError):
        return f"unknown ROS argument(s) after --ros-args: {exc}"
    text = re.sub(r", at \S+:\d+", "", str(exc)).removeprefix("failed to initialize rcl: ")
    return " ".join(text.split())


def spin_node(make_node: Callable[[], Node], logger_name: str, args: list[str] | None = None) -> int:
    """Init rclpy, build the node, spin until SIGINT/SIGTERM, clean up. Returns the exit code: 0, or 1 with
    one ``cannot start: ...`` line when the command line (``--ros-args``, a params file) is bad or the node
    refuses its parameters (or its weights, files, ...)."""
    logger = rclpy.logging.get_logger(logger_name)
    problems = [p for p in map(check_params_file, params_files(sys.argv if args is None else args)) if p]
    if not problems:
        try:
            rclpy.init(args=args)
        except _INIT_ERRORS as exc:
            problems.append(_init_error(exc))
    if problems:
        logger.fatal(f"cannot start: {problems[0]}")
        return 1
    node = None
    try:
        node = make_node()
        with entry.spinning():
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:
        if not rclpy.ok():  # a signal shut rclpy down while the node was being built: stop quietly
            return 0
        if not isinstance(exc, (ValueError, OSError, ParameterException)):
            raise
        logger.fatal(f"cannot start: {exc}")  # bad parameters, missing weights
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
