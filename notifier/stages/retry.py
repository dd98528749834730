"""RetryStage: the quick attempts; then, by why they failed, the fallback, the dead-letter topic, or the
background retries (notifier.stages.redeliver) until the receiver takes it or the deadline passes.

The integration says whether a failure can be retried and whether the receiver drops repeats; this stage
owns the count, the waits, the logging and the metrics:

- delivered: done.
- refused for good (a 4xx other than 408/429): the fallback and the dead-letter topic at once, with the reason.
- maybe delivered to a chat receiver that cannot drop a repeat: "delivery uncertain": an ops line and the
  fallback, never a blind re-send.
- still failing after the quick attempts: the fallback is told at once (the page reaches someone now) and the
  notification goes on to its own receiver in the background (`retry.deadline_s`, default 30 min); the log
  records it as `retrying`, so a restarted notifier resumes it. With `deadline_s: 0`, dead-lettered instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from notifier.clock import Clock
from notifier.core.grouping import members_of, settle
from notifier.core.model import DeliveryOutcome, Notification
from notifier.core.retry_policy import AttemptResult, RetryPolicy, RetryReason, next_retry
from notifier.metrics import NotifierMetrics
from notifier.ports import DeadLetterSink
from notifier.stages.send import Sender

__all__ = ["Background", "RetryStage", "minutes"]

log = logging.getLogger("notifier.stages.retry")


class Background(Protocol):
    """Where a notification whose quick attempts failed goes on being retried (notifier.stages.redeliver)."""

    def start(self, item: Notification) -> None:
        """Keep retrying `item` (outcome `retrying`) to its receiver without holding up the caller."""
        ...


def minutes(seconds: float) -> str:
    """A duration for a message: "40 s", "3 min"."""
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class RetryStage:
    name = "retry"

    def __init__(self, sender: Sender, policy: RetryPolicy, clock: Clock, metrics: NotifierMetrics,
                 dead_letters: DeadLetterSink, fallback_receiver: str | None = None,
                 rng: random.Random | None = None, background: Background | None = None) -> None:
        self.sender = sender
        self.policy = policy
        self._clock = clock
        self.metrics = metrics
        self._dead_letters = dead_letters
        self.fallback = fallback_receiver
        self.rng = rng or random.Random()
        self._background = background
        self._failing: set[str] = set()
        """Receivers whose quick attempts failed and that have not taken a message since."""

    async def run(self, items: list[Notification]) -> list[Notification]:
        if len(items) == 1:
            return [await self._deliver(items[0])]
        return list(await asyncio.gather(*(self._deliver(item) for item in items)))

    async def _attempts(self, item: Notification) -> tuple[AttemptResult, int, RetryReason]:
        attempt = 0
        deduplicates = self.sender.deduplicates(item.receiver)
        while True:
            attempt += 1
            result = await self.sender.attempt(item)
            decision = next_retry(self.policy, attempt, result, self.rng.random(), deduplicates)
            if not decision.retry:
                return result, attempt, decision.reason
            self.metrics.retries.labels(item.receiver).inc()
            log.warning("alert %s to %s: attempt %d failed (%s), retrying in %.3f s", item.alert.alert_id,
                        item.receiver, attempt, result.detail or result.kind, decision.delay_s,
                        extra={**item.log_fields(), "attempt": attempt})
            await self._clock.sleep(decision.delay_s)

    async def _deliver(self, item: Notification) -> Notification:
        """Deliver one message (one alert, or a group as a unit); the outcome is set on every member."""
        wait = item.not_before_s - self._clock.monotonic_s()
        if wait > 0:
            await self._clock.sleep(wait)
        result, attempts, reason = await self._attempts(item)
        if result.ok:
            return await self.delivered(item, attempts)
        if reason == RetryReason.ATTEMPTS_EXHAUSTED and self._background is not None and self.policy.deadline_s > 0:
            return await self._retry_in_background(item, attempts, result)
        if reason == RetryReason.UNCERTAIN:
            return await self.uncertain(item, attempts, result)
        return await self.failed(item, attempts, reason, result)

    async def delivered(self, item: Notification, attempts: int) -> Notification:
        members = members_of(item)
        late_s = self._clock.now_s() - item.failing_since_s if item.failing_since_s else None
        self.metrics.deliveries.labels(item.receiver, "delivered" if late_s is None else "delivered_late").inc(
            len(members))
        now_s = self._clock.now_s()
        for member in members:
            if member.received_at_s:
                self.metrics.latency.labels(item.receiver).observe(max(0.0, now_s - member.received_at_s))
        latency_s = max(0.0, now_s - item.received_at_s) if item.received_at_s else None
        log.info("alert %s delivered to %s (attempt %d)%s%s", item.alert.alert_id, item.receiver, attempts,
                 "" if late_s is None else f", {minutes(late_s)} late", _group_note(item),
                 extra={**item.log_fields(), "attempts": attempts, "outcome": "delivered",
                        "latency_ms": None if latency_s is None else round(latency_s * 1000, 1)})
        if item.receiver in self._failing:
            self._failing.discard(item.receiver)
            await self._tell_fallback(item, f"receiver {item.receiver} is taking messages again; delayed pages "
                                            f"are being delivered to it")
        return settle(item, DeliveryOutcome.DELIVERED, attempts, delivered_by=item.receiver)

    async def _retry_in_background(self, item: Notification, attempts: int, result: AttemptResult) -> Notification:
        """The quick attempts failed: tell the fallback now, keep trying the receiver in the background."""
        assert self._background is not None
        now_s = self._clock.now_s()
        self._failing.add(item.receiver)
        log.error("OPS ALERT: receiver %s failing (%s) for alert %s%s after %d attempt(s); the fallback is told and "
                  "the receiver retried for up to %s", item.receiver, result.detail or result.kind,
                  item.alert.alert_id, _group_note(item), attempts, minutes(self.policy.deadline_s),
                  extra={**item.log_fields(), "attempts": attempts, "outcome": "retrying"})
        self.metrics.deliveries.labels(item.receiver, "retrying").inc(len(members_of(item)))
        note = f"receiver {item.receiver} unavailable: still retrying it for up to {minutes(self.policy.deadline_s)}"
        delivered_by = await self._tell_fallback(item, note)
        pending = settle(item.with_(failing_since_s=now_s, group=tuple(m.with_(failing_since_s=now_s)
                                                                     for m in item.group)),
                         DeliveryOutcome.RETRYING, attempts, delivered_by_member=delivered_by)
        self._background.start(pending)
        return pending

    async def uncertain(self, item: Notification, attempts: int, result: AttemptResult) -> Notification:
        """Sent, no answer, and the receiver cannot drop a repeat: not re-sent (that could page twice)."""
        self.metrics.deliveries.labels(item.receiver, "uncertain").inc(len(members_of(item)))
        log.error("OPS ALERT: delivery of alert %s%s to %s uncertain after %d attempt(s) (%s): it may have arrived; "
                  "not re-sent because %s cannot drop a repeat; the fallback is told", item.alert.alert_id,
                  _group_note(item), item.receiver, attempts, result.detail or result.kind, item.receiver,
                  extra={**item.log_fields(), "attempts": attempts, "outcome": "uncertain"})
        delivered_by = await self._tell_fallback(item, f"delivery to {item.receiver} uncertain: it may not have "
                                                       "arrived")
        return settle(item, DeliveryOutcome.UNCERTAIN, attempts, failure_reason=str(RetryReason.UNCERTAIN),
                      delivered_by_member=delivered_by)

    async def failed(self, item: Notification, attempts: int, reason: RetryReason, result: AttemptResult,
                     tell_fallback: bool = True) -> Notification:
        """Refused for good, or out of time: the dead-letter topic with the reason, and the fallback."""
        members = members_of(item)
        # The ops alert: an ERROR line (shipped to the on-call log alerting) and the dead-letter metric.
        log.error("OPS ALERT: delivery of alert %s (episode %s)%s to %s failed after %d attempt(s): %s (%s)",
                  item.alert.alert_id, item.alert.episode_id, _group_note(item), item.receiver, attempts, reason,
                  result.detail or result.kind, extra={**item.log_fields(), "attempts": attempts, "outcome": "failed"})
        self.metrics.deliveries.labels(item.receiver, "failed").inc(len(members))
        self.metrics.deliveries.labels(item.receiver, str(reason)).inc(len(members))
        self.metrics.dead_letters.labels(item.receiver).inc(len(members))
        message = f"delivery to receiver {item.receiver} failed after {attempts} attempt(s): {reason} ({result.detail})"
        if item.group:
            message += f"; sent as one message of {len(members)} alerts"
        for member in members:  # every member is dead-lettered on its own: each is one alert to replay
            await self._dead_letters.dead_letter(member, "delivery_failed", message)
        delivered_by: dict[str, str] = {}
        if tell_fallback:
            delivered_by = await self._tell_fallback(item, f"receiver {item.receiver} refused it ({result.detail})")
        return settle(item, DeliveryOutcome.FAILED, attempts, failure_reason=str(reason),
                      delivered_by_member=delivered_by)

    async def _tell_fallback(self, item: Notification, note: str) -> dict[str, str]:
        """Send `item` to the fallback receiver with `note` first: a group as one message when the fallback can
        take one, else one message per member (a PagerDuty fallback keeps one incident per episode). Returns member
        log key -> fallback for every member the fallback took."""
        fallback = self.fallback
        if not fallback or fallback == item.receiver:
            return {}

        def moved(n: Notification) -> Notification:
            return n.with_(receiver=fallback, route="fallback", notes=(note, *n.notes), failing_since_s=0.0)

        fallback_item = moved(item).with_(group=tuple(moved(m) for m in item.group))
        if item.group and not self.sender.supports_groups(fallback):
            messages = [(m, [original.log_key]) for m, original in zip(fallback_item.group, item.group, strict=True)]
        else:
            messages = [(fallback_item, [m.log_key for m in members_of(item)])]
        taken: dict[str, str] = {}
        for message, keys in messages:
            fb_result, fb_attempts, fb_reason = await self._attempts(message)
            if fb_result.ok:
                taken.update(dict.fromkeys(keys, fallback))
                self.metrics.deliveries.labels(fallback, "fallback_delivered").inc(len(keys))
                log.warning("alert %s delivered to fallback %s (%s)%s", message.alert.alert_id, fallback, note,
                            _group_note(message),
                            extra={**message.log_fields(), "attempts": fb_attempts, "outcome": "fallback_delivered"})
            else:
                self.metrics.deliveries.labels(fallback, "failed").inc(len(keys))
                log.error("OPS ALERT: fallback %s also failed for alert %s%s after %d attempt(s): %s", fallback,
                          message.alert.alert_id, _group_note(message), fb_attempts, fb_reason,
                          extra={**message.log_fields(), "attempts": fb_attempts, "outcome": "failed"})
        return taken


def _group_note(item: Notification) -> str:
    return f" (group of {len(item.group)} alerts)" if item.group else ""
