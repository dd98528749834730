"""Redelivery: background retries of notifications whose quick attempts failed, kept in the notification log.

A notification in `retrying` is tried again with the same capped exponential back-off until its receiver
takes it, the episode is resolved or acknowledged, the receiver refuses it for good, or `retry.deadline_s`
after the first failure passes (then the dead-letter topic; the fallback was told at the first failure).
A late delivery says so: "delayed 12 min: receiver was unavailable" comes first in the message.

Crash safety, with no state outside Kafka: the `retrying` entry is in the compacted notification log before
the alert's offset is committed, and every background attempt writes it again (a heartbeat). Entries whose
heartbeat stopped (their replica crashed or was stopped) are adopted by whichever replica sees them stale:
`observe` every log entry read back, and the sweep resumes them. The final entry (delivered / failed) replaces
the `retrying` one under the same key, so a resumed notification is never sent once it is recorded as
delivered, and every attempt carries the same idempotency key (a de-duplicating receiver drops a repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from notifier.clock import Clock
from notifier.core.dedup import NotificationLogView
from notifier.core.grouping import members_of, settle
from notifier.core.model import DeliveryOutcome, LogRecord, Notification, NotificationLogEntry
from notifier.core.retry_policy import RetryPolicy, RetryReason, backoff_s, retry_slowly
from notifier.metrics import NotifierMetrics
from notifier.ports import LogSink
from notifier.stages.record_sent import RecordSentStage
from notifier.stages.retry import RetryStage, minutes

__all__ = ["Redelivery", "SettledCheck", "resumable", "stale_after_s"]

log = logging.getLogger("notifier.stages.redeliver")

SettledCheck = Callable[[Notification], str | None]
"""Why a pending notification is no longer wanted (the episode was resolved or acknowledged), or None."""


def stale_after_s(policy: RetryPolicy, max_timeout_s: float) -> float:
    """How long a `retrying` entry may go without a heartbeat before another replica adopts it: longer than any
    wait between two background attempts plus the attempt itself, twice, plus a margin."""
    return 2 * (max(policy.max_delay_s, policy.max_retry_after_s) + max_timeout_s) + 5.0


def resumable(entry: NotificationLogEntry) -> Notification | None:
    """The pending notification a `retrying` log entry stands for (None when the entry is not one)."""
    if entry.outcome != DeliveryOutcome.RETRYING:
        return None
    item = Notification(alert=entry.alert, receiver=entry.receiver, route="resumed",
                        escalation_policy=entry.escalation_policy, tier=entry.tier, action=entry.action,
                        kind=entry.kind, outcome=DeliveryOutcome.RETRYING, attempts=entry.attempts,
                        failing_since_s=entry.failing_since_s or entry.sent_at_s)
    return item if item.log_key == entry.key else None


@dataclass(frozen=True)
class _Lane:
    retry: RetryStage
    record: RecordSentStage


@dataclass(repr=False)
class Redelivery:
    """Owns this replica's background retries and the `retrying` entries other replicas left behind."""

    clock: Clock
    metrics: NotifierMetrics
    policy: RetryPolicy
    log_view: NotificationLogView
    sink: LogSink
    settled: SettledCheck
    stale_after_s: float
    sweep_interval_s: float = 1.0
    _lanes: dict[str, _Lane] = field(default_factory=dict, init=False)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)
    """Delivery id -> the task retrying it."""
    _owned: dict[str, str] = field(default_factory=dict, init=False)
    """Member log key -> delivery id of the task retrying it here."""
    _orphans: dict[str, NotificationLogEntry] = field(default_factory=dict, init=False)
    """Log key -> latest `retrying` entry written by another replica (or by this one before a restart)."""
    _sweeper: asyncio.Task[None] | None = field(default=None, init=False)

    def register(self, receiver: str, retry: RetryStage, record: RecordSentStage) -> None:
        """The stages that retry and record deliveries to `receiver` (one lane per receiver)."""
        self._lanes[receiver] = _Lane(retry, record)

    @property
    def pending(self) -> int:
        """Notifications this replica is retrying now."""
        return len(self._owned)

    # ------------------------------------------------------------------ ownership
    def start(self, item: Notification) -> None:
        """Retry `item` (outcome `retrying`, `failing_since_s` set) in the background."""
        if item.receiver not in self._lanes or item.delivery_id in self._tasks:
            return
        for member in members_of(item):
            self._owned[member.log_key] = item.delivery_id
            self._orphans.pop(member.log_key, None)
        task = asyncio.create_task(self._retry(item), name=f"redeliver:{item.receiver}")
        self._tasks[item.delivery_id] = task
        self.metrics.retrying.labels(item.receiver).inc(len(members_of(item)))

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(item.delivery_id, None)
            for member in members_of(item):
                self._owned.pop(member.log_key, None)
            self.metrics.retrying.labels(item.receiver).dec(len(members_of(item)))

        task.add_done_callback(done)

    def observe(self, entry: NotificationLogEntry | LogRecord) -> None:
        """A log entry read back from the topic (start-up or another replica's write); a `retrying` one always
        comes whole (notifier.adapters.kafka_state keeps its alert)."""
        if entry.outcome == DeliveryOutcome.RETRYING:
            if entry.key not in self._owned and isinstance(entry, NotificationLogEntry):
                self._orphans[entry.key] = entry
            return
        self._orphans.pop(entry.key, None)
        delivery = self._owned.get(entry.key)
        task = self._tasks.get(delivery) if delivery is not None else None
        if task is not None and entry.outcome == DeliveryOutcome.DELIVERED:
            log.info("%s was delivered by another replica; stopping the retries here", entry.key)
            task.cancel()

    def adopt_stale(self) -> int:
        """Resume every orphaned `retrying` entry whose heartbeat is older than the stale limit; how many."""
        now_s = self.clock.now_s()
        stale = [e for e in self._orphans.values() if now_s - e.sent_at_s >= self.stale_after_s]
        adopted = 0
        for entry in stale:
            del self._orphans[entry.key]
            item = resumable(entry)
            current = self.log_view.get(entry.key)
            if item is None or (current is not None and current.outcome != DeliveryOutcome.RETRYING):
                continue
            log.warning("resuming the retries of %s to %s (pending %s)", entry.alert_id, entry.receiver,
                        minutes(now_s - item.failing_since_s), extra=item.log_fields())
            self.start(item)
            adopted += 1
        return adopted

    def start_sweeping(self) -> None:
        """Adopt stale entries now and every `sweep_interval_s` from now on (until `close`)."""
        self._sweeper = asyncio.create_task(self._sweep(), name="redeliver-sweep")

    async def _sweep(self) -> None:
        while True:
            try:
                self.adopt_stale()
            except Exception as exc:  # a bad entry must not end the sweeps
                log.error("OPS ALERT: resuming pending deliveries failed: %s", type(exc).__name__)
            await self.clock.sleep(self.sweep_interval_s)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until no background retry is running; whether none is."""
        deadline = self.clock.monotonic_s() + timeout_s
        while self._tasks and self.clock.monotonic_s() < deadline:
            await asyncio.wait(list(self._tasks.values()), timeout=max(0.0, deadline - self.clock.monotonic_s()))
        return not self._tasks

    async def close(self) -> None:
        """Stop the sweeps and every background retry; their `retrying` entries stay for the next start."""
        tasks = [t for t in (self._sweeper, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ retrying
    async def _heartbeat(self, item: Notification) -> None:
        now_s = self.clock.now_s()
        for member in members_of(item):
            entry = NotificationLogEntry.from_notification(member, now_s)
            self.log_view.add(entry)
            await self.sink.append(entry)

    async def _retry(self, item: Notification) -> None:
        lane = self._lanes[item.receiver]
        deduplicates = lane.retry.sender.deduplicates(item.receiver)
        attempt = item.attempts
        delay_s = backoff_s(self.policy, attempt, lane.retry.rng.random(), None)
        try:
            while True:
                await self.clock.sleep(delay_s)
                why = self.settled(item)
                if why is not None:
                    await lane.record.run([await self._superseded(item, attempt, why)])
                    return
                late = self._with_delay_note(item)
                attempt += 1
                result = await lane.retry.sender.attempt(late)
                decision = retry_slowly(self.policy, attempt, result, lane.retry.rng.random(), deduplicates,
                                        self.clock.now_s() - item.failing_since_s)
                if decision.reason == RetryReason.RETRY:
                    item = settle(item, DeliveryOutcome.RETRYING, attempt)
                    await self._heartbeat(item)
                    delay_s = decision.delay_s
                    continue
                if decision.reason == RetryReason.DELIVERED:
                    final = await lane.retry.delivered(late, attempt)
                elif decision.reason == RetryReason.UNCERTAIN:
                    final = await lane.retry.uncertain(late, attempt, result)
                else:  # refused for good, or out of time: the fallback has it since the first failure
                    final = await lane.retry.failed(item, attempt, decision.reason, result,
                                                    tell_fallback=decision.reason == RetryReason.PERMANENT_FAILURE)
                await lane.record.run([final.with_(notes=())])
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the entry forever `retrying` in this replica's memory
            log.error("OPS ALERT: background retries of %s to %s failed: %s", item.alert.alert_id, item.receiver,
                      type(exc).__name__, extra=item.log_fields())

    def _with_delay_note(self, item: Notification) -> Notification:
        note = f"delayed {minutes(self.clock.now_s() - item.failing_since_s)}: receiver was unavailable"

        def noted(n: Notification) -> Notification:
            return n.with_(notes=(note,))

        return noted(item).with_(group=tuple(noted(m) for m in item.group))

    async def _superseded(self, item: Notification, attempt: int, why: str) -> Notification:
        log.info("alert %s to %s no longer retried: %s", item.alert.alert_id, item.receiver, why,
                 extra=item.log_fields())
        self.metrics.deliveries.labels(item.receiver, "superseded").inc(len(members_of(item)))
        return settle(item, DeliveryOutcome.FAILED, attempt, failure_reason=why)
