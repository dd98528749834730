"""Values that flow through the notifier: notifications, log entries, acknowledgements.

Time basis: every `*_at_s` field is wall-clock (processing) time in epoch
seconds, passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert import Alert, AlertTransition

__all__ = [
    "AckEvent",
    "DeliveryOutcome",
    "Notification",
    "NotificationLogEntry",
    "NotifyAction",
    "action_for",
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


def action_for(alert: Alert) -> NotifyAction:
    """A resolve closes the incident; every other transition (re)triggers it with the current level."""
    return NotifyAction.RESOLVE if alert.transition == AlertTransition.RESOLVED else NotifyAction.TRIGGER


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
    received_at_s: float = 0.0
    not_before_s: float = 0.0  # monotonic seconds; set by the throttle stage
    outcome: DeliveryOutcome = DeliveryOutcome.PENDING
    attempts: int = 0
    delivered_by: str = ""
    failure_reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

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

    def log_fields(self) -> dict[str, object]:
        """Identifiers for a delivery log line (`extra=`): correlation id, alert, episode, receiver, tier, action.

        Never the message body, the patient's name or the patient key.
        """
        return {"correlation_id": self.alert.correlation_id, "alert_id": self.alert.alert_id,
                "episode_id": self.alert.episode_id, "receiver": self.receiver or None, "tier": self.tier,
                "action": str(self.action)}

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
    outcome: DeliveryOutcome
    attempts: int = Field(ge=0)
    sent_at_s: float = Field(description="wall-clock epoch seconds when the delivery finished")
    alert: Alert

    @classmethod
    def from_notification(cls, item: Notification, sent_at_s: float) -> NotificationLogEntry:
        """The log entry recording how `item` ended."""
        return cls(key=item.log_key, alert_id=item.alert.alert_id, episode_id=item.alert.episode_id,
                   receiver=item.receiver, tier=item.tier, escalation_policy=item.escalation_policy,
                   action=item.action, outcome=item.outcome, attempts=item.attempts, sent_at_s=sent_at_s,
                   alert=item.alert)


class AckEvent(BaseModel):
    """A human acknowledged an alert episode; shared by all notifier replicas through the acks topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ack"] = "ack"
    episode_id: str = Field(min_length=1, max_length=128)
    acked_by: str = Field(min_length=1, max_length=128, description="who: a user name, 'pagerduty:<agent>', 'link'")
    via: Literal["api", "link", "cli", "pagerduty"]
    acked_at_s: float = Field(description="wall-clock epoch seconds")
    resolved: bool = Field(default=False, description="True when PagerDuty reported the incident resolved")
