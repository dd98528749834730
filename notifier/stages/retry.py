"""RetryStage: bounded attempts with backoff; then the fallback receiver, the dead-letter topic and an ops alert.

The integration says whether a failure can be retried; this stage owns the
count, the waits, the logging and the metrics (Alertmanager's RetryStage,
without its retry-until-deadline: a page that cannot be delivered must reach
someone else quickly, not be retried forever).
"""

from __future__ import annotations

import asyncio
import logging
import random

from notifier.clock import Clock
from notifier.core.model import DeliveryOutcome, Notification
from notifier.core.retry_policy import AttemptResult, RetryPolicy, RetryReason, next_retry
from notifier.metrics import NotifierMetrics
from notifier.ports import DeadLetterSink
from notifier.stages.send import Sender

__all__ = ["RetryStage"]

log = logging.getLogger("notifier.stages.retry")


class RetryStage:
    name = "retry"

    def __init__(self, sender: Sender, policy: RetryPolicy, clock: Clock, metrics: NotifierMetrics,
                 dead_letters: DeadLetterSink, fallback_receiver: str | None = None,
                 rng: random.Random | None = None) -> None:
        self._sender = sender
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._fallback = fallback_receiver
        self._rng = rng or random.Random()

    async def run(self, items: list[Notification]) -> list[Notification]:
        if len(items) == 1:
            return [await self._deliver(items[0])]
        return list(await asyncio.gather(*(self._deliver(item) for item in items)))

    async def _attempts(self, item: Notification) -> tuple[AttemptResult, int, RetryReason]:
        attempt = 0
        while True:
            attempt += 1
            result = await self._sender.attempt(item)
            decision = next_retry(self._policy, attempt, result, self._rng.random())
            if not decision.retry:
                return result, attempt, decision.reason
            self._metrics.retries.labels(item.receiver).inc()
            log.warning("alert %s to %s: attempt %d failed (%s), retrying in %.3f s", item.alert.alert_id,
                        item.receiver, attempt, result.detail or result.kind, decision.delay_s,
                        extra={**item.log_fields(), "attempt": attempt})
            await self._clock.sleep(decision.delay_s)

    async def _deliver(self, item: Notification) -> Notification:
        wait = item.not_before_s - self._clock.monotonic_s()
        if wait > 0:
            await self._clock.sleep(wait)
        result, attempts, reason = await self._attempts(item)
        if result.ok:
            self._metrics.deliveries.labels(item.receiver, "delivered").inc()
            latency_s = max(0.0, self._clock.now_s() - item.received_at_s) if item.received_at_s else None
            if latency_s is not None:
                self._metrics.latency.labels(item.receiver).observe(latency_s)
            log.info("alert %s delivered to %s (attempt %d)", item.alert.alert_id, item.receiver, attempts,
                     extra={**item.log_fields(), "attempts": attempts, "outcome": "delivered",
                            "latency_ms": None if latency_s is None else round(latency_s * 1000, 1)})
            return item.with_(outcome=DeliveryOutcome.DELIVERED, attempts=attempts, delivered_by=item.receiver)
        # The ops alert: an ERROR line (shipped to the on-call log alerting) and the dead-letter metric.
        log.error("OPS ALERT: delivery of alert %s (episode %s) to %s failed after %d attempt(s): %s (%s)",
                  item.alert.alert_id, item.alert.episode_id, item.receiver, attempts, reason,
                  result.detail or result.kind, extra={**item.log_fields(), "attempts": attempts, "outcome": "failed"})
        self._metrics.deliveries.labels(item.receiver, "failed").inc()
        self._metrics.dead_letters.labels(item.receiver).inc()
        message = f"delivery to receiver {item.receiver} failed after {attempts} attempt(s): {reason} ({result.detail})"
        await self._dead_letters.dead_letter(item, "delivery_failed", message)
        delivered_by = ""
        if self._fallback and self._fallback != item.receiver:
            fallback_item = item.with_(receiver=self._fallback, route="fallback")
            fb_result, fb_attempts, fb_reason = await self._attempts(fallback_item)
            if fb_result.ok:
                delivered_by = self._fallback
                self._metrics.deliveries.labels(self._fallback, "fallback_delivered").inc()
                log.warning("alert %s delivered to fallback %s instead of %s", item.alert.alert_id,
                            self._fallback, item.receiver,
                            extra={**fallback_item.log_fields(), "attempts": fb_attempts,
                                   "outcome": "fallback_delivered"})
            else:
                self._metrics.deliveries.labels(self._fallback, "failed").inc()
                log.error("OPS ALERT: fallback %s also failed for alert %s after %d attempt(s): %s",
                          self._fallback, item.alert.alert_id, fb_attempts, fb_reason,
                          extra={**fallback_item.log_fields(), "attempts": fb_attempts, "outcome": "failed"})
        return item.with_(outcome=DeliveryOutcome.FAILED, attempts=attempts, delivered_by=delivered_by,
                          failure_reason=str(reason))
