"""RecordSentStage: writes how each delivery ended to the notification log, then tells the escalation tracker."""

from __future__ import annotations

from collections.abc import Callable

from notifier.clock import Clock
from notifier.core.dedup import NotificationLogView
from notifier.core.grouping import members_of
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry
from notifier.ports import LogSink

__all__ = ["RecordSentStage"]

OnRecorded = Callable[[NotificationLogEntry], None]


class RecordSentStage:
    """Only finished deliveries are logged; the in-memory view is updated first so a concurrent duplicate is
    caught even before the topic write returns."""

    name = "record_sent"

    def __init__(self, log_view: NotificationLogView, sink: LogSink, clock: Clock,
                 on_recorded: OnRecorded | None = None, release: Callable[[str], None] | None = None) -> None:
        self._log = log_view
        self._sink = sink
        self._clock = clock
        self._on_recorded = on_recorded
        self._release = release

    async def run(self, items: list[Notification]) -> list[Notification]:
        now_s = self._clock.now_s()
        for item in items:
            # A group message is logged per member: each (alert id, receiver) is recorded once, as sent.
            for member in members_of(item):
                if member.outcome == DeliveryOutcome.PENDING:
                    continue
                entry = NotificationLogEntry.from_notification(member, now_s)
                self._log.add(entry)
                if self._release is not None:
                    self._release(member.log_key)
                await self._sink.append(entry)
                if self._on_recorded is not None:
                    self._on_recorded(entry)
        return items
