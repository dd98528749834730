"""The one place the notifier reads clocks; core modules get time passed in."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now_s(self) -> float:
        """Wall-clock epoch seconds (escalation timers, silences, link expiry)."""
        ...

    def monotonic_s(self) -> float:
        """Monotonic seconds (throttling, latency)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_s(self) -> float:
        return time.time()

    def monotonic_s(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
