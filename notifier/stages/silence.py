"""SilenceStage: drops triggers muted by an active silence.

Resolves and acknowledgements always pass: closing or acknowledging an incident
that was opened before the silence is never harmful.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from notifier.clock import Clock
from notifier.core.model import Notification, NotifyAction
from notifier.core.silence import Silence, check_silence
from notifier.metrics import NotifierMetrics

__all__ = ["SilenceStage"]

log = logging.getLogger("notifier.stages.silence")


class SilenceStage:
    name = "silence"

    def __init__(self, silences: Callable[[], Iterable[Silence]], clock: Clock, metrics: NotifierMetrics) -> None:
        self._silences = silences
        self._clock = clock
        self._metrics = metrics

    async def run(self, items: list[Notification]) -> list[Notification]:
        now_s = self._clock.now_s()
        current = list(self._silences())
        out: list[Notification] = []
        for item in items:
            if item.action != NotifyAction.TRIGGER or not current:
                out.append(item)
                continue
            decision = check_silence(item.alert, current, now_s)
            if decision.muted:
                self._metrics.silenced.inc()
                log.info("alert %s to %s muted by silence %s", item.alert.alert_id, item.receiver or "-",
                         decision.silence_id, extra=item.log_fields())
                continue
            out.append(item)
        return out
