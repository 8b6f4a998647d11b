"""What every benchmark records beside its numbers: the machine, and how busy other processes kept it.

Timings on a shared 2-core machine are noisy; each bench writes ``other_processes_cores`` (CPU used by
everything but itself during the timed block, from /proc/stat) so a disturbed number can be recognised.
"""

from __future__ import annotations

import os
import platform
import sys
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

    from wildhands_ros.loopback import keep_on_loopback

    keep_on_loopback()
    if not 101 <= int(os.environ.get("ROS_DOMAIN_ID", "0") or 0) <= 200:
        os.environ["ROS_DOMAIN_ID"] = str(random.randint(101, 200))
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix=f"wildhands-{log_prefix}-roslog-"))


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_facts(**extra) -> dict:
    """The machine every result file records beside its numbers: cpu, cpu_count, python, platform, the torch
    and onnxruntime versions (None where not installed), and, where this bench imported torch, torch_threads
    and cuda (the GPU's name or None), where a pipeline set them the BLAS libraries' threads (blas_threads:
    numpy's, scipy's, ...); then ``extra`` (a bench's own facts: threads, rmw, load, ...).
    Nothing is imported for it: a bench's numbers are not disturbed by collecting its facts."""
    facts: dict = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        facts["torch_threads"] = torch.get_num_threads()
        facts["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if "threadpoolctl" in sys.modules:  # a pipeline was built: the BLAS threads it set
        from wildhands.runtime.threads import blas_threads

        facts["blas_threads"] = blas_threads()
    facts.update(extra)
    return facts


def latency_stats(seconds, ndigits: int | None = None) -> dict | None:
    """Summary of durations in seconds, in ms: n, median_ms, p95_ms (linear interpolation), mean_ms, min_ms,
    max_ms; rounded to ``ndigits`` when given; None for no durations. The one latency summary of the
    benches (each may add its own keys, e.g. per crop or frames per second)."""
    import numpy as np

    ms = np.asarray(list(seconds), dtype=float) * 1e3
    if ms.size == 0:
        return None
    stats = {
        "n": int(ms.size),
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
    }
    if ndigits is not None:
        stats = {k: v if k == "n" else round(v, ndigits) for k, v in stats.items()}
    return stats
