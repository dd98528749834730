"""GroupStage: a grouping receiver's throttle; what would wait for a token is sent as ONE message per group.

Alertmanager's aggregation groups call the notify pipeline with a group's alerts; this
stage does the same for one receiver: every notification is admitted by the pure
`notifier.core.grouping.admit` (token free: on at once, alone; otherwise it opens or
joins a group), and each group is handed to `deliver` (the receiver's retry and
record-sent stages) as one notification when its time comes. Every caller waits for the
outcome of its own notification, so an alert's Kafka offset is committed only once its
group's outcome is in the notification log (at least once, as without grouping).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from notifier.clock import Clock
from notifier.core.grouping import (
    AdmitReason,
    GroupingState,
    GroupKey,
    GroupPolicy,
    admit,
    close_group,
    group_key,
    make_group,
    members_of,
)
from notifier.core.model import Notification
from notifier.metrics import NotifierMetrics
from notifier.pipeline import Stage

__all__ = ["GroupStage"]

log = logging.getLogger("notifier.stages.group")

Outcomes = dict[str, Notification]
"""Member log key -> the member with its outcome."""


@dataclass
class _PendingGroup:
    key: GroupKey
    send_at_s: float  # monotonic seconds
    members: list[Notification]
    done: asyncio.Future[Outcomes] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupStage:
    """Throttle and grouping of one receiver (replaces its ThrottleStage); `deliver` sends and records a message."""

    name = "group"

    def __init__(self, receiver: str, rate_per_s: float, burst: float, policy: GroupPolicy, deliver: Stage,
                 clock: Clock, metrics: NotifierMetrics) -> None:
        self._receiver = receiver
        self._policy = policy
        self._deliver = deliver
        self._clock = clock
        self._metrics = metrics
        self._state = GroupingState.start(rate_per_s, burst, clock.monotonic_s())
        self._pending: dict[int, _PendingGroup] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def run(self, items: list[Notification]) -> list[Notification]:
        alone: list[Notification] = []
        waits: dict[int, asyncio.Future[Outcomes]] = {}
        now_s = self._clock.monotonic_s()
        for item in items:
            self._state, admission = admit(self._state, group_key(item, self._policy.group_by), self._policy, now_s)
            self._metrics.group_admissions.labels(self._receiver, str(admission.reason)).inc()
            if admission.group_id is None:
                alone.append(item)
                continue
            self._metrics.throttled.labels(self._receiver).inc()
            if admission.reason == AdmitReason.OPENED:
                pending = _PendingGroup(group_key(item, self._policy.group_by), admission.send_at_s, [item])
                self._pending[admission.group_id] = pending
                flush = asyncio.create_task(self._flush(admission.group_id), name=f"group:{self._receiver}")
                self._flushes.add(flush)  # keep a reference until it is done
                flush.add_done_callback(self._flushes.discard)
            else:
                pending = self._pending[admission.group_id]
                pending.members.append(item)
            waits[admission.group_id] = pending.done
        finished: Outcomes = {}
        # shield: a caller that is cancelled must not cancel a group that other callers' alerts are in.
        for outcomes in await asyncio.gather(self._send_alone(alone), *(asyncio.shield(d) for d in waits.values())):
            finished.update(outcomes)
        return [finished.get(item.log_key, item) for item in items]

    async def _send_alone(self, items: list[Notification]) -> Outcomes:
        """Deliver what found a free token, one message each (not held back for anyone)."""
        if not items:
            return {}
        return {m.log_key: m for sent in await self._deliver.run(items) for m in members_of(sent)}

    async def _flush(self, group_id: int) -> None:
        """Wait for the group's time, stop it taking members, deliver it as one message, hand out the outcomes."""
        pending = self._pending[group_id]
        try:
            await self._clock.sleep(pending.send_at_s - self._clock.monotonic_s())
            self._state = close_group(self._state, pending.key, group_id)
            del self._pending[group_id]
            message = make_group(pending.members)
            if message.group:
                self._metrics.group_messages.labels(self._receiver).inc()
                log.info("sending %d alerts to %s as one message", len(message.group), self._receiver,
                         extra=message.log_fields())
            sent = await self._deliver.run([message])
        except BaseException as exc:  # every caller waiting for the group gets the failure, none hangs
            self._pending.pop(group_id, None)
            self._state = close_group(self._state, pending.key, group_id)
            if not isinstance(exc, Exception):
                pending.done.cancel()
                raise
            if not pending.done.done():
                pending.done.set_exception(exc)
                pending.done.exception()  # marked retrieved: every caller may already be gone
            return
        pending.done.set_result({m.log_key: m for message_sent in sent for m in members_of(message_sent)})
