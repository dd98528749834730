"""PagingTracker: the in-memory paging state of open episodes, driven through notifier.core.paging.

Fed by the alert stream (a decision per transition), the notification log (pages read back after a restart or
written by another replica) and the acks topic; the app asks it what each alert transition is.
"""

from __future__ import annotations

from notifier.core.model import AckEvent, DeliveryOutcome, NotificationLogEntry, NotifyAction
from notifier.core.paging import (
    EpisodePaging,
    PageDecision,
    PageKind,
    PagingBook,
    PagingPolicy,
    decide_page,
    on_ack,
    on_logged_page,
)
from notifier.metrics import NotifierMetrics
from schemas.alert import Alert, AlertTransition

__all__ = ["PagingTracker"]


class PagingTracker:
    def __init__(self, policy: PagingPolicy, metrics: NotifierMetrics, max_episodes: int) -> None:
        self._policy = policy
        self._metrics = metrics
        self._book = PagingBook(max_episodes)

    def get(self, episode_id: str) -> EpisodePaging | None:
        return self._book.get(episode_id)

    def decide(self, alert: Alert, now_s: float) -> PageDecision:
        """What this transition is (page, update, resolve); `now_s` wall-clock epoch seconds (snooze ends)."""
        state, decision = decide_page(self._book.get(alert.episode_id), alert, self._policy, now_s)
        if alert.transition == AlertTransition.RESOLVED:
            self._book.drop(alert.episode_id)
        else:
            self._book.put(state)
        self._metrics.page_decisions.labels(decision.kind.value, decision.reason.value).inc()
        return decision

    def on_logged(self, entry: NotificationLogEntry) -> None:
        """A log entry read back: its page joins the episode's history; a resolve ends it."""
        if entry.kind == PageKind.PAGE and entry.outcome != DeliveryOutcome.PENDING:
            self._book.put(on_logged_page(self._book.get(entry.episode_id), entry.alert, entry.sent_at_s))
        elif entry.action == NotifyAction.RESOLVE:
            self._book.drop(entry.episode_id)

    def on_ack(self, ack: AckEvent) -> None:
        """An acknowledgement or snooze holds the episode's pages until the patient is worse."""
        if not ack.resolved:
            self._book.put(on_ack(self._book.get(ack.episode_id), ack.episode_id, ack.level, ack.risk,
                                  ack.snooze_until_s, ack.acked_at_s))
