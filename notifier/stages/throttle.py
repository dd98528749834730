"""ThrottleStage: reserves a token of the receiver's bucket and stamps when the item may be sent."""

from __future__ import annotations

from notifier.clock import Clock
from notifier.core.model import Notification
from notifier.core.throttle import TokenBucket, take_token
from notifier.metrics import NotifierMetrics

__all__ = ["ThrottleStage"]


class ThrottleStage:
    """Per-receiver token bucket; the retry stage waits until `not_before_s` before the first attempt.

    Reserving instead of sleeping here lets concurrent alerts queue in order
    without holding up the rest of their batch.
    """

    name = "throttle"

    def __init__(self, receiver: str, rate_per_s: float, burst: float, clock: Clock, metrics: NotifierMetrics) -> None:
        self._receiver = receiver
        self._clock = clock
        self._metrics = metrics
        self._bucket = TokenBucket.full(rate_per_s, burst, clock.monotonic_s())

    async def run(self, items: list[Notification]) -> list[Notification]:
        out: list[Notification] = []
        for item in items:
            now = self._clock.monotonic_s()
            self._bucket, wait_s = take_token(self._bucket, now)
            if wait_s > 0:
                self._metrics.throttled.labels(self._receiver).inc()
            out.append(item.with_(not_before_s=now + wait_s))
        return out
