"""SilenceKeeper: the silences every replica holds, changed only through audited records on the silences topic.

Fed by the topic (start-up and tail, `apply`) and by this replica's API, console and CLI calls, each of which
publishes its audit record before applying it, so every replica ends with the same silences.
"""

from __future__ import annotations

import logging

from notifier.adapters.kafka_state import publish_silence_audit
from notifier.clock import Clock
from notifier.core.silence import Silence, SilenceAudit, SilenceRequest, apply_audit, ended_early, new_silence
from sepsis_alert.kafka.producer import EventProducer

__all__ = ["SilenceKeeper"]

log = logging.getLogger("notifier.silences")


class SilenceKeeper:
    def __init__(self, producer: EventProducer, topic: str, clock: Clock, max_silence_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._clock = clock
        self._max_silence_s = max_silence_s
        self.silences: dict[str, Silence] = {}

    def apply(self, audit: SilenceAudit) -> None:
        self.silences = apply_audit(self.silences, audit)

    async def _publish(self, audit: SilenceAudit) -> None:
        await publish_silence_audit(self._producer, audit, self._topic)
        self.apply(audit)

    async def create(self, request: SilenceRequest) -> Silence:
        now = self._clock.now_s()
        silence = new_silence(request, now, self._max_silence_s)
        await self._publish(SilenceAudit(action="create", actor=request.created_by, at_s=now, silence=silence))
        log.info("silence %s created by %s until %.0f", silence.id, request.created_by, silence.ends_at_s)
        return silence

    def current(self) -> list[Silence]:
        """Silences not ended yet (running or starting later), oldest start first."""
        now = self._clock.now_s()
        current = [s for s in self.silences.values()
                   if (s.expired_at_s is None or s.expired_at_s > now) and s.ends_at_s > now]
        return sorted(current, key=lambda s: s.starts_at_s)

    async def expire(self, silence_id: str, by: str) -> Silence | None:
        silence = self.silences.get(silence_id)
        if silence is None:
            return None
        now = self._clock.now_s()
        ended = ended_early(silence, now, by)
        await self._publish(SilenceAudit(action="expire", actor=by, at_s=now, silence=ended))
        return ended
