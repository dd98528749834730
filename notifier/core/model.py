"""Values that flow through the notifier: notifications, log entries, acknowledgements.

Time basis: every `*_at_s` field is wall-clock (processing) time in epoch
seconds, passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from notifier.core.paging import PageKind
from schemas.alert import Alert, AlertTransition

__all__ = [
    "CLOSE_REASONS",
    "AckAction",
    "AckEvent",
    "CloseReason",
    "DeliveryOutcome",
    "LogRecord",
    "Notification",
    "NotificationLogEntry",
    "NotifyAction",
    "action_for",
    "compact_entry",
    "resend_view",
]


class NotifyAction(StrEnum):
    """What the receiver is asked to do (PagerDuty's event_action; chat receivers render it)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class DeliveryOutcome(StrEnum):
    """How a notification ended; a metric label and the notification log's `outcome`."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed; sent to the fallback and the dead-letter topic
    FALLBACK_DELIVERED = "fallback_delivered"  # the fallback receiver took it
    RETRYING = "retrying"  # the quick attempts failed; retried in the background until delivered or a deadline
    UNCERTAIN = "uncertain"  # sent, no answer, and the receiver cannot drop a repeat: not re-sent


def action_for(alert: Alert) -> NotifyAction:
    """A resolve closes the incident; every other transition (re)triggers it with the current level."""
    return NotifyAction.RESOLVE if alert.transition == AlertTransition.RESOLVED else NotifyAction.TRIGGER


def resend_view(alert: Alert) -> Alert:
    """The alert as kept for a later re-send (escalation, ack mirror): scores without inputs, reason, missing.

    Messages show each score's name, value and band and the alert's reasons (notifier.core.phi), never
    a score's inputs, so a page re-sent from this copy is the same page; it is a few kB instead of tens.
    """
    if not alert.cannot_rule_out and not any(score.inputs or score.reason or score.missing for score in alert.scores):
        return alert
    scores = [score.model_copy(update={"inputs": [], "reason": "", "missing": []}) for score in alert.scores]
    return alert.model_copy(update={"scores": scores, "cannot_rule_out": []})


@dataclass(frozen=True)
class Notification:
    """One alert on its way to one receiver.

    `tier` is the escalation tier (0 = first responders); `received_at_s` is the
    wall-clock time the alert was read, used for the delivery-latency metric.
    """

    alert: Alert
    receiver: str = ""
    route: str = ""
    escalation_policy: str | None = None
    tier: int = 0
    action: NotifyAction = NotifyAction.TRIGGER
    kind: PageKind = PageKind.PAGE
    """What the paging policy made of the alert (notifier.core.paging): a page, an update or a resolve."""
    received_at_s: float = 0.0
    not_before_s: float = 0.0  # monotonic seconds; set by the throttle stage
    outcome: DeliveryOutcome = DeliveryOutcome.PENDING
    attempts: int = 0
    delivered_by: str = ""
    failure_reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    failing_since_s: float = 0.0
    """Wall-clock epoch seconds when the quick attempts to this receiver failed (0 = not failing)."""
    group: tuple[Notification, ...] = ()
    """When not empty, this notification is ONE message carrying these members (notifier.core.grouping):
    each member is one alert to the same receiver, is de-duplicated and logged on its own."""

    @property
    def dedup_id(self) -> str:
        """The id the notification log de-duplicates on: the alert id, plus the tier or action when they differ."""
        suffix = ""
        if self.tier:
            suffix += f"/tier{self.tier}"
        if self.action == NotifyAction.ACKNOWLEDGE:
            suffix += "/ack"
        return self.alert.alert_id + suffix

    @property
    def log_key(self) -> str:
        """Key in the compacted notification-log topic: (alert id, receiver)."""
        return f"{self.dedup_id}|{self.receiver}"

    @property
    def delivery_id(self) -> str:
        """Stable id of the message across retries: the log key, or for a group a digest of its members' keys."""
        if not self.group:
            return self.log_key
        digest = hashlib.blake2b("\n".join(m.log_key for m in self.group).encode(), digest_size=10).hexdigest()
        return f"group-{digest}|{self.receiver}"

    def log_fields(self) -> dict[str, object]:
        """Identifiers for a delivery log line (`extra=`): correlation id, alert, episode, receiver, tier, action
        (for a group message: its first member's, plus `group_size` and every member's alert id).

        Never the message body, the patient's name or the patient key.
        """
        fields: dict[str, object] = {
            "correlation_id": self.alert.correlation_id, "alert_id": self.alert.alert_id,
            "episode_id": self.alert.episode_id, "receiver": self.receiver or None, "tier": self.tier,
            "action": str(self.action)}
        if self.group:
            fields["group_size"] = len(self.group)
            fields["group_alert_ids"] = [m.alert.alert_id for m in self.group]
        return fields

    def with_(self, **changes: object) -> Notification:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


class NotificationLogEntry(BaseModel):
    """What was sent to which receiver, persisted in the compacted notification-log topic.

    The alert itself is kept so that escalation timers can be rebuilt after a restart.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="(alert id[/tierN][/ack], receiver) joined by '|'")
    alert_id: str
    episode_id: str
    receiver: str
    tier: int = Field(ge=0)
    escalation_policy: str | None = None
    action: NotifyAction
    kind: PageKind = Field(default=PageKind.PAGE, description="page, update or resolve (notifier.core.paging); "
                           "entries written before the paging policy are pages")
    outcome: DeliveryOutcome
    attempts: int = Field(ge=0)
    sent_at_s: float = Field(description="wall-clock epoch seconds when the delivery finished")
    failing_since_s: float | None = Field(
        default=None, description="outcome retrying: wall-clock epoch seconds when the quick attempts failed "
                                  "(the retry deadline and the 'delayed' note count from it)")
    alert: Alert

    @classmethod
    def from_notification(cls, item: Notification, sent_at_s: float) -> NotificationLogEntry:
        """The log entry recording how `item` ended."""
        return cls(key=item.log_key, alert_id=item.alert.alert_id, episode_id=item.alert.episode_id,
                   receiver=item.receiver, tier=item.tier, escalation_policy=item.escalation_policy,
                   action=item.action, kind=item.kind, outcome=item.outcome, attempts=item.attempts,
                   sent_at_s=sent_at_s, failing_since_s=item.failing_since_s or None, alert=item.alert)


    def slim(self) -> LogRecord:
        """The few fields the in-memory notification log keeps (dedup, resolve fan-out, ack mirroring)."""
        return LogRecord(key=self.key, alert_id=self.alert_id, episode_id=self.episode_id, receiver=self.receiver,
                         tier=self.tier, escalation_policy=self.escalation_policy, action=self.action,
                         outcome=self.outcome, attempts=self.attempts, sent_at_s=self.sent_at_s,
                         sequence=self.alert.sequence, level=int(self.alert.level), kind=self.kind)

    @property
    def feeds_escalation(self) -> bool:
        """True when the escalation tracker needs this entry: a finished trigger under a policy, or a resolve."""
        if self.outcome == DeliveryOutcome.PENDING:
            return False
        return self.action == NotifyAction.RESOLVE or (
            self.escalation_policy is not None and self.action == NotifyAction.TRIGGER)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A notification-log entry without its alert: what the in-memory log keeps per (alert id, receiver).

    A full entry carries the whole alert (scores, inputs, reasons: tens of kB); this record is a few
    hundred bytes, so the view can hold every recent dedup key without growing with alert size.
    `sent_at_s` is wall-clock epoch seconds; `sequence` and `level` are the alert's.
    """

    key: str
    alert_id: str
    episode_id: str
    receiver: str
    tier: int
    escalation_policy: str | None
    action: NotifyAction
    outcome: DeliveryOutcome
    attempts: int
    sent_at_s: float
    sequence: int
    level: int
    kind: PageKind = PageKind.PAGE


def compact_entry(entry: NotificationLogEntry, keep_alert: bool) -> NotificationLogEntry | LogRecord:
    """What to hold of a log entry read from the topic: the slim record, or (`keep_alert`) the entry with
    `resend_view` of its alert, for the escalation tracker and acknowledgement mirroring."""
    if not keep_alert:
        return entry.slim()
    view = resend_view(entry.alert)
    return entry if view is entry.alert else entry.model_copy(update={"alert": view})


AckAction = Literal["ack", "snooze", "close", "comment"]
CloseReason = Literal["not_sepsis", "already_known", "comfort_care"]
CLOSE_REASONS: dict[str, str] = {"not_sepsis": "not sepsis", "already_known": "already known",
                                 "comfort_care": "comfort care"}
"""Why a responder closed an episode (the false-alarm mix counted by sepsis_notifier_episode_closed_total)."""


class AckEvent(BaseModel):
    """A human acknowledged an alert episode; shared by all notifier replicas through the acks topic.

    `action` says what the person did: an acknowledgement, a snooze (`snooze_until_s`), a close with a
    `reason` (the episode leaves the console's worklist; pages hold as after an acknowledgement) or a
    comment (recorded only: it neither acknowledges nor holds a page). Written before these fields
    existed, an event is an acknowledgement or (with `snooze_until_s`) a snooze.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ack"] = "ack"
    episode_id: str = Field(min_length=1, max_length=128)
    acked_by: str = Field(min_length=1, max_length=128, description="who: a user name, 'pagerduty:<agent>', 'link'")
    via: Literal["api", "link", "cli", "pagerduty", "console"]
    action: AckAction = Field(default="ack", description="ack, snooze, close or comment")
    reason: CloseReason | None = Field(default=None, description="why an episode was closed (action close)")
    comment: str | None = Field(default=None, max_length=1000, description="free text: a close's explanation or "
                                "a comment; shown in the console, never in logs or pages")
    acked_at_s: float = Field(description="wall-clock epoch seconds")
    resolved: bool = Field(default=False, description="True when PagerDuty reported the incident resolved")
    level: int | None = Field(default=None, ge=0, le=4, description="the episode's level when acknowledged: pages "
                              "hold until it rises (notifier.core.paging); None = the latest level known")
    risk: float | None = Field(default=None, ge=0, le=1, description="the learned risk when acknowledged: pages "
                               "hold until it reaches the policy's multiple of it")
    snooze_until_s: float | None = Field(default=None, description="a snooze: pages hold until this wall-clock "
                                         "epoch second (or until the patient is worse); None = an acknowledgement")

    @property
    def holds_pages(self) -> bool:
        """True when this event acknowledges the episode (ack, snooze, close); a comment does not."""
        return self.action != "comment"

    def effective_action(self) -> AckAction:
        """The action, reading an event written before `action` existed: a snooze when it carries an end."""
        return "snooze" if self.action == "ack" and self.snooze_until_s is not None else self.action

    def follow_up_note(self) -> str:
        """What a chat channel that got the page is told: who did what, in a line. Never the free-text comment
        (it may name the patient); a close says its reason code only."""
        who = f"{self.acked_by} ({self.via})"
        action = self.effective_action()
        if action == "snooze" and self.snooze_until_s is not None:
            minutes = max(0, round((self.snooze_until_s - self.acked_at_s) / 60))
            return f"snoozed for {minutes} min by {who}: pages hold until then or until the patient is worse"
        if action == "close":
            return f"closed by {who}: {CLOSE_REASONS.get(self.reason or '', 'no reason given')}"
        return f"acknowledged by {who}: pages hold until the patient is worse"
