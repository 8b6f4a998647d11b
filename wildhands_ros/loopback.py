"""The ROS 2 loopback environment: DDS discovery on this machine only, in one place.

Tests, benches and the demo keep DDS traffic on the loopback interface: ``ROS_AUTOMATIC_DISCOVERY_RANGE``
is ``LOCALHOST`` and ``ROS_STATIC_PEERS`` is removed (a peer list would reach other machines). It must be
in the environment before rclpy is imported (or in a child process's environment). ``scripts/test.sh``
exports the same two settings in shell, before Python starts.

This module imports nothing of ROS: import it before rclpy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["LOOPBACK_SETTINGS", "LOOPBACK_REMOVED", "keep_on_loopback", "loopback_env"]

#: Variables set for loopback-only discovery.
LOOPBACK_SETTINGS: dict[str, str] = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
#: Variables removed: they would make DDS talk to other machines.
LOOPBACK_REMOVED: tuple[str, ...] = ("ROS_STATIC_PEERS",)


def loopback_env(base: Mapping[str, str] | None = None, **extra: object) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) on loopback (:data:`LOOPBACK_SETTINGS` set,
    :data:`LOOPBACK_REMOVED` removed), with ``extra`` variables set (values turned into strings); for a
    child process's ``env``."""
    env = dict(os.environ if base is None else base)
    env.update(LOOPBACK_SETTINGS)
    for name in LOOPBACK_REMOVED:
        env.pop(name, None)
    env.update({name: str(value) for name, value in extra.items()})
    return env


def keep_on_loopback(force: bool = True) -> None:
    """Put this process's environment on loopback; call before rclpy is imported.

    ``force``: set :data:`LOOPBACK_SETTINGS` and remove :data:`LOOPBACK_REMOVED` (tests, benches).
    ``force=False``: set the settings only where unset (``setdefault``) and keep any peers: a user's own
    discovery choice wins (the demo)."""
    for name, value in LOOPBACK_SETTINGS.items():
        if force:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)
    if force:
        for name in LOOPBACK_REMOVED:
            os.environ.pop(name, None)
