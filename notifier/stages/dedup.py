"""DedupStage: drops what the notification log says was already handled (also within one batch)."""

from __future__ import annotations

import logging

from notifier.core.dedup import NotificationLogView, check_dedup
from notifier.core.model import Notification
from notifier.metrics import NotifierMetrics

__all__ = ["DedupStage"]

log = logging.getLogger("notifier.stages.dedup")


class DedupStage:
    name = "dedup"

    def __init__(self, log_view: NotificationLogView, metrics: NotifierMetrics) -> None:
        self._log = log_view
        self._metrics = metrics
        self._in_flight: set[str] = set()

    async def run(self, items: list[Notification]) -> list[Notification]:
        out: list[Notification] = []
        for item in items:
            decision = check_dedup(item, self._log.as_mapping())
            if not decision.send:
                self._metrics.deduplicated.labels(str(decision.reason)).inc()
                log.debug("alert %s to %s not re-sent: %s", item.alert.alert_id, item.receiver, decision.reason,
                          extra=item.log_fields())
                continue
            if item.log_key in self._in_flight:
                self._metrics.deduplicated.labels("in_flight").inc()
                continue
            self._in_flight.add(item.log_key)
            out.append(item)
        return out

    def release(self, key: str) -> None:
        """Forget an in-flight key once its outcome is in the log (called by the record stage)."""
        self._in_flight.discard(key)
