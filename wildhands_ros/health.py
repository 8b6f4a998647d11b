"""Run-time health of the node: throttled log lines per cause, rates, latency, dropped frames ->
``diagnostic_msgs/DiagnosticArray``. Pure Python; the node owns one :class:`Health`."""

from __future__ import annotations

import threading
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class Throttle:
    """``ready(key)`` is True at most once per ``period`` s for each key (one log line per cause)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period:
                return False
            self._last[key] = now
            return True

    def reset(self) -> None:
        """Forget every key (the next occurrence of each cause logs again)."""
        with self._lock:
            self._last.clear()


class RateMeter:
    """Events per second over the last ``window`` s."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._times.append(time.monotonic())

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)


class Health:
    """Counters the callbacks and the worker update; ``diagnostics()`` summarises them."""

    def __init__(self, name: str, hardware_id: str = "") -> None:
        self.name, self.hardware_id = name, hardware_id
        self.input_rate, self.output_rate = RateMeter(), RateMeter()
        self.latencies: deque[float] = deque(maxlen=50)
        self.received = self.processed = self.dropped = self.skipped = self.errors = 0
        self.last_error = ""
        self.last_error_time = 0.0
        self.info: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error, self.last_error_time = message, time.monotonic()

    def published(self, latency_s: float) -> None:
        self.output_rate.tick()
        with self._lock:
            self.processed += 1
            self.latencies.append(latency_s)

    def diagnostics(self, stamp) -> DiagnosticArray:
        with self._lock:
            lat = sorted(self.latencies)
            recent_error = self.last_error and time.monotonic() - self.last_error_time < 10.0
            values = {
                "input_rate_hz": f"{self.input_rate.rate():.2f}",
                "output_rate_hz": f"{self.output_rate.rate():.2f}",
                "latency_mean_ms": f"{1e3 * sum(lat) / len(lat):.1f}" if lat else "nan",
                "latency_max_ms": f"{1e3 * lat[-1]:.1f}" if lat else "nan",
                "frames_received": str(self.received),
                "frames_processed": str(self.processed),
                "frames_dropped": str(self.dropped),
                "frames_skipped": str(self.skipped),
                "errors": str(self.errors),
                "last_error": self.last_error,
                **self.info,
            }
        level = DiagnosticStatus.WARN if recent_error else DiagnosticStatus.OK
        message = f"last error: {self.last_error}" if recent_error else "running"
        status = DiagnosticStatus(level=level, name=self.name, message=message, hardware_id=self.hardware_id)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return DiagnosticArray(status=[status])
