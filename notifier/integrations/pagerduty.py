"""PagerDuty Events API v2: trigger / acknowledge / resolve with dedup_key = episode id.

One incident per alert episode: every trigger of the episode updates the same
incident (new severity and summary), a resolve closes it, and an
acknowledgement made in our API or CLI is mirrored as an `acknowledge`.
Summary at most 1,024 characters (the first reason right after the headline, so
a cut never hides it); `timestamp` the alert's event time in ISO 8601; severity
from the level; custom_details with the scores and reasons the PHI policy
allows. PagerDuty renders summary and details as plain text: nothing to escape. PagerDuty answers 202 when it
accepted the event, 400 for an invalid one (permanent), 429 over about 120
events per minute per integration key, 5xx when it could not take it (retry).
"""

from __future__ import annotations

from typing import Any, Literal, Self

import orjson
from pydantic import Field, model_validator

from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import AlertView, PhiPolicy, clip
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef

__all__ = ["PagerDutyIntegration", "PagerDutyReceiver", "severity_for"]

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX_CHARS = 1024
DEDUP_KEY_MAX_CHARS = 255

_SEVERITY = {1: "info", 2: "warning", 3: "error", 4: "critical"}


def severity_for(level: int | None) -> str:
    """PagerDuty severity for an alert level (1 review -> info ... 4 critical -> critical)."""
    return _SEVERITY.get(level or 0, "critical" if (level or 0) > 4 else "info")


class PagerDutyReceiver(ReceiverBase):
    """A PagerDuty service integration (Events API v2)."""

    type: Literal["pagerduty"] = Field(default="pagerduty", description="receiver kind: PagerDuty Events API v2")
    routing_key: SecretRef = Field(description="the 32-character integration key of the service")
    url: SecretRef = Field(default_factory=lambda: SecretRef(value=DEFAULT_EVENTS_URL),  # type: ignore[arg-type]
                           description="Events API endpoint; override only for a proxy or a test double")
    source: str = Field(default="sepsis-alert", max_length=255, description="payload.source")

    @model_validator(mode="after")
    def _no_grouping(self) -> Self:
        # One incident per episode (dedup_key = episode id): one event could not trigger, escalate or resolve
        # several incidents, and merging episodes under one key would hide all but one patient from the pager.
        if self.group is not None:
            raise ValueError(f"receiver {self.name!r} (pagerduty): 'group' is not allowed on a PagerDuty receiver: "
                             "each episode must stay its own incident (dedup_key = episode id); group chat or "
                             "webhook receivers instead, PagerDuty's own rate limit is handled by throttling")
        return self

    def build(self) -> PagerDutyIntegration:
        return PagerDutyIntegration(self)


class PagerDutyIntegration:
    kind = "pagerduty"
    default_rate_per_s: float | None = 2.0  # ~120/min per integration key
    default_burst = 10.0
    deduplicates = True  # dedup_key = episode id: a repeated event updates the same incident

    def __init__(self, config: PagerDutyReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._source = config.source
        self._routing_key = config.routing_key.resolve().get_secret_value()
        self._url = config.url.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._routing_key, self._url] if self._url != DEFAULT_EVENTS_URL else [self._routing_key]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": str(item.action),
            "dedup_key": view.episode_id[:DEDUP_KEY_MAX_CHARS],
        }
        if item.action == NotifyAction.TRIGGER:
            details: dict[str, Any] = {"episode_id": view.episode_id, "alert_id": view.alert_id,
                                       "location": view.location, "tier": item.tier}
            if view.level is not None:
                details["level"] = view.level
            if view.scores:
                details["scores"] = {s.name: s.value + (f" ({s.band})" if s.band else "") for s in view.scores}
            if view.reasons:
                details["reasons"] = list(view.reasons)
            if view.masked_mrn:
                details["mrn"] = view.masked_mrn
            summary = view.headline()
            if view.reasons:
                summary += ": " + "; ".join(view.reasons)
            event["payload"] = {
                "summary": clip(summary, SUMMARY_MAX_CHARS),
                # When the alert's event happened, not when this attempt is sent: retries and a backlog after an
                # outage must not make an old deterioration look new. Taken from the alert itself (not the view)
                # because the page's own arrival already tells its time; the policy's `event_time` field governs
                # the time fields of the webhook document.
                "timestamp": item.alert.event_time.isoformat(),
                "source": self._source,
                "severity": severity_for(view.level),
                "component": view.unit or "ward",
                "group": view.facility or "hospital",
                "class": "sepsis",
                "custom_details": details,
            }
            if view.ack_url:
                event["links"] = [{"href": view.ack_url, "text": "Acknowledge"}]
        return OutgoingRequest(self._url, orjson.dumps(event), {"Content-Type": "application/json"})
