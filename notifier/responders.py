"""ResponderActions: what a person does to an episode (acknowledge, snooze, close, comment), for every replica.

Each action is an `AckEvent` on the acks topic (who, when, why), applied to this replica's state at once (the
other replicas read it from the topic), and told to every receiver that got the episode's page: PagerDuty as
an acknowledge event, chat and webhooks as a follow-up naming who did what. Pages of the episode then hold
until the patient is worse (notifier.core.paging).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from notifier.adapters.kafka_state import publish_ack
from notifier.clock import Clock
from notifier.core.model import AckAction, AckEvent, Notification, NotifyAction
from notifier.core.paging import PagingPolicy
from notifier.escalator import EscalationTracker
from notifier.integrations.base import Integration
from notifier.metrics import NotifierMetrics
from notifier.pager import PagingTracker
from schemas.alert import Alert
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord

__all__ = ["ResponderActions"]

log = logging.getLogger("notifier.responders")

class ResponderActions:
    """The actions; the replica's state is reached through the callables it is given (no back reference)."""

    def __init__(self, *, clock: Clock, producer: EventProducer, acks_topic: str, policy: PagingPolicy,
                 paging: PagingTracker, tracker: EscalationTracker, metrics: NotifierMetrics,
                 remember: Callable[[AckEvent], None], latest_paged_alert: Callable[[str], Alert | None],
                 paged_receivers: Callable[[str], list[str]], integrations: Mapping[str, Integration],
                 run: Callable[[list[Notification]], Awaitable[list[Notification]]]) -> None:
        self._clock, self._producer, self._acks_topic, self._policy = clock, producer, acks_topic, policy
        self._paging, self._tracker, self._metrics, self._remember = paging, tracker, metrics, remember
        self._latest_paged_alert, self._paged_receivers = latest_paged_alert, paged_receivers
        self._integrations, self._run = integrations, run

    async def acknowledge(self, episode_id: str, acked_by: str, via: str, resolved: bool = False,
                          snooze_s: float | None = None, action: AckAction = "ack", reason: str | None = None,
                          comment: str | None = None) -> AckEvent:
        """An acknowledgement (or a snooze of `snooze_s` seconds, capped by the paging policy, or a close with a
        reason): published, applied, escalation stopped, the paged receivers told."""
        now = self._clock.now_s()
        paging = self._paging.get(episode_id)
        snooze_until = None
        if snooze_s is not None:
            snooze_until = now + min(max(snooze_s, 0.0), self._policy.max_snooze_h * 3600)
            action = "snooze" if action == "ack" else action
        ack = AckEvent(episode_id=episode_id, acked_by=acked_by, via=via, acked_at_s=now,  # type: ignore[arg-type]
                       resolved=resolved, level=paging.level if paging is not None else None,
                       risk=paging.risk if paging is not None else None, snooze_until_s=snooze_until,
                       action=action, reason=reason, comment=comment)  # type: ignore[arg-type]
        await publish_ack(self._producer, ack, self._acks_topic)
        self._remember(ack)
        self._metrics.acks.labels(via).inc()
        if action == "close":
            self._metrics.episode_closed.labels(reason or "unknown").inc()
        self._tracker.on_ack(ack, live=True)
        log.info("episode %s %s via %s", episode_id, "acknowledged" if action == "ack" else action, via)
        await self._tell_paged_receivers(ack)
        return ack

    async def record_action(self, episode_id: str, by: str, action: str, *, snooze_s: float | None = None,
                            reason: str | None = None, comment: str | None = None) -> AckEvent:
        """A console action: ack, snooze or close through `acknowledge`; a comment is only recorded, under its
        own key so that compaction of the acks topic keeps the episode's acknowledgement beside it."""
        if action != "comment":
            return await self.acknowledge(episode_id, by, "console", snooze_s=snooze_s,
                                          action=action, reason=reason, comment=comment)  # type: ignore[arg-type]
        note = AckEvent(episode_id=episode_id, acked_by=by, via="console", acked_at_s=self._clock.now_s(),
                        action="comment", comment=comment)
        key = f"{episode_id}|comment|{note.acked_at_s}"
        await self._producer.send_all_async([OutboundRecord(self._acks_topic, key, note.model_dump_json().encode())],
                                            10.0)
        self._remember(note)
        return note

    async def _tell_paged_receivers(self, ack: AckEvent) -> None:
        """Every receiver that got a page of the episode hears of the acknowledgement, snooze or close at once:
        PagerDuty as an acknowledge event (its incident stops escalating; not echoed back to PagerDuty when it
        came from there), chat and webhooks as a follow-up saying who did what (AckEvent.follow_up_note), so
        a channel does not send a second person to a patient already in hand. One follow-up per alert and
        receiver (the notification log de-duplicates it)."""
        latest = self._latest_paged_alert(ack.episode_id)
        if latest is None:
            return  # never paged anyone, resolved, or evicted by the cap
        items = []
        for receiver in self._paged_receivers(ack.episode_id):
            is_pagerduty = getattr(self._integrations.get(receiver), "kind", "") == "pagerduty"
            if is_pagerduty and ack.via == "pagerduty":
                continue
            notes = () if is_pagerduty else (ack.follow_up_note(),)
            items.append(Notification(alert=latest, receiver=receiver, route="ack-follow-up",
                                      action=NotifyAction.ACKNOWLEDGE, notes=notes))
        if items:
            await self._run(items)
