"""Readiness checks of one worker process: what `/readyz` reports.

A worker registers the conditions it needs before it can do useful work
(connected to Kafka, partitions assigned, state restored, listener bound) and
flips each one as its situation changes:

    readiness = ReadinessRegistry()
    readiness.register("kafka_connected", "partitions_assigned", "state_restored")
    ...
    readiness.set("kafka_connected", True)
    readiness.set("state_restored", False, detail="restoring 3 partitions")

A check that is registered but never set counts as failing, so a worker is
not reported ready before it has said so. Thread-safe: the worker's threads
set checks while the ops HTTP server reads them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["CheckState", "ReadinessRegistry", "ReadinessReport"]

_MAX_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class CheckState:
    """One readiness check: whether it passes, a short operator-facing detail, and when it last changed.

    `changed_at_s` is processing time (seconds since the epoch, from the registry's clock).
    """

    name: str
    ok: bool
    detail: str
    changed_at_s: float


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """A consistent snapshot of every check; `ready` is True only when all of them pass."""

    checks: tuple[CheckState, ...]

    @property
    def ready(self) -> bool:
        """True when every registered check passes (vacuously True with no checks)."""
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> list[str]:
        """Names of the checks that do not pass, in registration order."""
        return [check.name for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form used as the /readyz body."""
        return {
            "ready": self.ready,
            "failing": self.failing,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "changed_at": c.changed_at_s} for c in self.checks},
        }


class ReadinessRegistry:
    """Named readiness checks of one process (see the module docstring for usage)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        """`clock` returns processing time in seconds since the epoch (default: time.time)."""
        import time

        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._checks: dict[str, CheckState] = {}

    def register(self, *names: str) -> None:
        """Declare checks that must pass before the process is ready; they start failing ("not reported yet").

        Registering a name again keeps its current state.
        """
        now = self._clock()
        with self._lock:
            for name in names:
                _check_name(name)
                if name not in self._checks:
                    self._checks[name] = CheckState(name, False, "not reported yet", now)

    def set(self, name: str, ok: bool, detail: str = "") -> None:
        """Record whether check `name` passes now (registers it if needed).

        `detail` is a short operator-facing reason (e.g. "3 of 6 partitions restored"); it is
        shown on /readyz and must never contain message content or patient data.
        """
        _check_name(name)
        detail = detail[:_MAX_DETAIL_CHARS]
        now = self._clock()
        with self._lock:
            previous = self._checks.get(name)
            if previous is not None and previous.ok == ok and previous.detail == detail:
                return
            changed_at = previous.changed_at_s if previous is not None and previous.ok == ok else now
            self._checks[name] = CheckState(name, ok, detail, changed_at)

    def unregister(self, name: str) -> None:
        """Forget check `name` (e.g. a listener that is no longer part of this worker). No-op if unknown."""
        with self._lock:
            self._checks.pop(name, None)

    def report(self) -> ReadinessReport:
        """A consistent snapshot of all checks, in registration order."""
        with self._lock:
            return ReadinessReport(tuple(self._checks.values()))

    def is_ready(self) -> bool:
        """True when every registered check passes."""
        return self.report().ready

    def __iter__(self) -> Iterator[CheckState]:
        return iter(self.report().checks)


def _check_name(name: str) -> None:
    # Names become metric label values and JSON keys: keep them simple identifiers.
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "_-." for ch in name):
        raise ValueError(f"readiness check name {name!r}: use 1-64 letters, digits, '_', '-' or '.'")
