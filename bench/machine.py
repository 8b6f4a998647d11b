"""What every benchmark records beside its numbers: the machine, and how busy other processes kept it.

Timings on a shared 2-core machine are noisy; each bench writes ``other_processes_cores`` (CPU used by
everything but itself during the timed block, from /proc/stat) so a disturbed number can be recognised.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def busy_cpu_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (/proc/stat; 0 where unavailable)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """Context manager: ``other_cores`` = cores used by other processes during the block; ``wall`` = s."""

    def __enter__(self) -> OtherLoad:
        self._busy0, self._own0, self._t0 = busy_cpu_s(), own_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._t0
        other = (busy_cpu_s() - self._busy0) - (own_cpu_s() - self._own0)
        self.other_cores = max(0.0, other / self.wall) if self.wall > 0 else 0.0


def keep_ros_on_loopback(log_prefix: str) -> None:
    """Call before rclpy is imported: DDS discovery on loopback only (ROS_STATIC_PEERS removed), a private
    ROS_DOMAIN_ID in 101-200 unless one is set there, and ROS logs in a temporary folder."""
    import os
    import random
    import tempfile

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_STATIC_PEERS", None)
    if not 101 <= int(os.environ.get("ROS_DOMAIN_ID", "0") or 0) <= 200:
        os.environ["ROS_DOMAIN_ID"] = str(random.randint(101, 200))
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix=f"wildhands-{log_prefix}-roslog-"))
