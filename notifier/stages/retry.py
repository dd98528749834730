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
from notifier.core.grouping import members_of, settle
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
        """Deliver one message (one alert, or a group as a unit); the outcome is set on every member."""
        wait = item.not_before_s - self._clock.monotonic_s()
        if wait > 0:
            await self._clock.sleep(wait)
        members = members_of(item)
        result, attempts, reason = await self._attempts(item)
        if result.ok:
            self._metrics.deliveries.labels(item.receiver, "delivered").inc(len(members))
            now_s = self._clock.now_s()
            for member in members:
                if member.received_at_s:
                    self._metrics.latency.labels(item.receiver).observe(max(0.0, now_s - member.received_at_s))
            latency_s = max(0.0, now_s - item.received_at_s) if item.received_at_s else None
            log.info("alert %s delivered to %s (attempt %d)%s", item.alert.alert_id, item.receiver, attempts,
                     _group_note(item), extra={**item.log_fields(), "attempts": attempts, "outcome": "delivered",
                                               "latency_ms": None if latency_s is None else round(latency_s * 1000, 1)})
            return settle(item, DeliveryOutcome.DELIVERED, attempts, delivered_by=item.receiver)
        # The ops alert: an ERROR line (shipped to the on-call log alerting) and the dead-letter metric.
        log.error("OPS ALERT: delivery of alert %s (episode %s)%s to %s failed after %d attempt(s): %s (%s)",
                  item.alert.alert_id, item.alert.episode_id, _group_note(item), item.receiver, attempts, reason,
                  result.detail or result.kind, extra={**item.log_fields(), "attempts": attempts, "outcome": "failed"})
        self._metrics.deliveries.labels(item.receiver, "failed").inc(len(members))
        self._metrics.dead_letters.labels(item.receiver).inc(len(members))
        message = f"delivery to receiver {item.receiver} failed after {attempts} attempt(s): {reason} ({result.detail})"
        if item.group:
            message += f"; sent as one message of {len(members)} alerts"
        for member in members:  # every member is dead-lettered on its own: each is one alert to replay
            await self._dead_letters.dead_letter(member, "delivery_failed", message)
        delivered_by: dict[str, str] = {}
        if self._fallback and self._fallback != item.receiver:
            delivered_by = await self._to_fallback(item, self._fallback)
        return settle(item, DeliveryOutcome.FAILED, attempts, failure_reason=str(reason),
                      delivered_by_member=delivered_by)

    async def _to_fallback(self, item: Notification, fallback: str) -> dict[str, str]:
        """Send what failed to the fallback receiver: a group as one message when the fallback can take one,
        else one message per member (a PagerDuty fallback keeps one incident per episode). Returns member log
        key -> fallback for every member the fallback took."""
        fallback_item = item.with_(receiver=fallback, route="fallback",
                                   group=tuple(m.with_(receiver=fallback, route="fallback") for m in item.group))
        if item.group and not self._sender.supports_groups(fallback):
            messages = [(moved, [original.log_key]) for moved, original in zip(fallback_item.group, item.group,
                                                                                  strict=True)]
        else:
            messages = [(fallback_item, [m.log_key for m in members_of(item)])]
        taken: dict[str, str] = {}
        for message, keys in messages:
            fb_result, fb_attempts, fb_reason = await self._attempts(message)
            if fb_result.ok:
                taken.update(dict.fromkeys(keys, fallback))
                self._metrics.deliveries.labels(fallback, "fallback_delivered").inc(len(keys))
                log.warning("alert %s delivered to fallback %s instead of %s%s", message.alert.alert_id, fallback,
                            item.receiver, _group_note(message),
                            extra={**message.log_fields(), "attempts": fb_attempts, "outcome": "fallback_delivered"})
            else:
                self._metrics.deliveries.labels(fallback, "failed").inc(len(keys))
                log.error("OPS ALERT: fallback %s also failed for alert %s%s after %d attempt(s): %s", fallback,
                          message.alert.alert_id, _group_note(message), fb_attempts, fb_reason,
                          extra={**message.log_fields(), "attempts": fb_attempts, "outcome": "failed"})
        return taken


def _group_note(item: Notification) -> str:
    return f" (group of {len(item.group)} alerts)" if item.group else ""
