"""EscalationTracker: the in-memory escalation state, driven through the pure functions of core.escalation.

Fed by the notification log (deliveries), the acks topic and the alert stream;
asked every tick which next tiers are due. After a restart it is rebuilt from
the notification log and the acks topic, so timers survive a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from notifier.core import escalation as esc
from notifier.core.model import AckEvent, NotificationLogEntry
from notifier.metrics import NotifierMetrics
from schemas.alert import Alert

__all__ = ["EscalationTracker"]

log = logging.getLogger("notifier.escalation")


class EscalationTracker:
    def __init__(self, policies: Mapping[str, esc.EscalationPolicy], metrics: NotifierMetrics,
                 max_live: int = esc.DEFAULT_MAX_LIVE_EPISODES,
                 max_closed: int = esc.DEFAULT_MAX_CLOSED_EPISODES) -> None:
        self._policies = dict(policies)
        self._metrics = metrics
        self.book = esc.EscalationBook(max_live, max_closed)

    @property
    def states(self) -> Mapping[str, esc.EpisodeEscalation]:
        """Unresolved episodes under escalation (resolved ones are dropped, see EscalationBook)."""
        return self.book.states

    def rebuild(self, entries: Iterable[NotificationLogEntry], acks: Iterable[AckEvent]) -> None:
        """Replace the state with the one folded from the log and the acks (start-up)."""
        self.book.load(esc.rebuild(entries, acks))
        waiting = sum(1 for s in self.book if s.waiting_for_ack)
        log.info("escalation state rebuilt: %d open episodes (%d waiting for an acknowledgement), %d resolved",
                 len(self.book), waiting, len(self.book.closed))

    def on_sent(self, entry: NotificationLogEntry) -> None:
        if self.book.is_closed(entry.episode_id):
            return
        new = esc.on_sent(self.book.get(entry.episode_id), entry)
        if new is not None:
            self.book.put(new)

    def on_ack(self, ack: AckEvent, live: bool = True) -> esc.EscalationReason:
        """Apply an acknowledgement; time-to-acknowledge is observed once per episode for live acks."""
        before = self.book.get(ack.episode_id)
        new, reason = esc.on_ack(before, ack)
        if new is not None:
            self.book.put(new)
        if live and before is not None and reason == esc.EscalationReason.STOPPED_ACKED and before.acked_at_s is None:
            self._metrics.time_to_ack.labels(ack.via).observe(max(0.0, ack.acked_at_s - before.first_notified_at_s))
        if reason != esc.EscalationReason.NONE and before is not None:
            self._metrics.escalations.labels(before.policy, str(reason)).inc()
        return reason

    def on_alert(self, alert: Alert, now_s: float) -> esc.EscalationDecision:
        new, decision = esc.on_alert(self.book.get(alert.episode_id), alert, self._policies, now_s)
        if new is not None:
            self.book.put(new)
            if decision.reason != esc.EscalationReason.NONE:
                self._metrics.escalations.labels(new.policy, str(decision.reason)).inc()
        return decision

    def due(self, now_s: float) -> list[esc.EscalationStep]:
        """Steps due at `now_s` (wall-clock epoch s); each is marked as taken so it is not returned twice."""
        steps = esc.due_steps(self.book, self._policies, now_s)
        for step in steps:
            self.book.put(esc.mark_stepped(self.states[step.episode_id], step, now_s))
            self._metrics.escalations.labels(step.policy, "timer").inc()
            log.warning("episode %s not acknowledged: escalating to tier %d (%s)", step.episode_id, step.tier,
                        step.receiver, extra={"correlation_id": step.alert.correlation_id,
                                              "alert_id": step.alert.alert_id, "episode_id": step.episode_id,
                                              "receiver": step.receiver, "tier": step.tier})
        return steps
