"""Generic webhook: a JSON body signed Stripe-style (see notifier.core.signing for the verification recipe).

Headers: `X-Sepsis-Signature: t=<unix s>,v1=<hex HMAC-SHA256 over "<t>.<body>">`
and `X-Sepsis-Delivery: <alert id>|<receiver>` (stable across retries, so a
receiver can drop a duplicate delivery). A receiver with a `group` section gets,
when rate-limited, one body `{"version": 1, "kind": "group", "alerts": [...]}` whose
items are the single-alert documents, and `X-Sepsis-Delivery: group-<digest>|<receiver>`.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import orjson
from pydantic import Field, model_validator

from notifier.core.model import Notification
from notifier.core.phi import AlertView, PhiPolicy
from notifier.core.signing import SIGNATURE_HEADER, sign_webhook, standard_webhook_headers
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef

__all__ = ["DELIVERY_HEADER", "WebhookIntegration", "WebhookReceiver", "webhook_body"]

DELIVERY_HEADER = "X-Sepsis-Delivery"


class WebhookReceiver(ReceiverBase):
    type: Literal["webhook"] = Field(default="webhook",
                                  description="receiver kind: generic JSON webhook signed with HMAC-SHA256")
    url: SecretRef = Field(description="endpoint URL")
    secret: SecretRef = Field(description="shared HMAC secret for the X-Sepsis-Signature header")

    @model_validator(mode="after")
    def _grouping_needs_a_rate(self) -> Self:
        # Grouping only combines what waits for the rate limit; a webhook has none unless configured.
        if self.group is not None and self.rate_per_s is None:
            raise ValueError(f"receiver {self.name!r} (webhook): 'group' needs 'rate_per_s' (a webhook has no "
                             "default rate limit, and grouping only combines notifications that wait for it)")
        return self

    def build(self) -> WebhookIntegration:
        return WebhookIntegration(self)


def webhook_body(item: Notification, view: AlertView) -> dict[str, Any]:
    """The JSON document: only fields of the view (the PHI policy is already applied)."""
    body: dict[str, Any] = {
        "version": 1,
        "action": str(item.action),
        "paging": str(item.kind),
        "episode_id": view.episode_id,
        "alert_id": view.alert_id,
        "tier": item.tier,
        "location": view.location,
    }
    optional: dict[str, Any] = {
        "level": view.level, "level_name": view.level_name, "transition": view.transition,
        "facility": view.facility, "unit": view.unit, "room": view.room, "bed": view.bed,
        "masked_mrn": view.masked_mrn, "event_time": view.event_time, "ack_url": view.ack_url,
        "infection_suspected": view.infection_suspected, "treatment_started": view.treatment_started,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if view.scores:
        body["scores"] = [{"name": s.name, "value": s.value, "band": s.band} for s in view.scores]
    if view.reasons:
        body["reasons"] = list(view.reasons)
    return body


class WebhookIntegration:
    kind = "webhook"
    default_rate_per_s: float | None = None  # our own endpoints: no throttle unless configured
    default_burst = 1.0
    deduplicates = True  # webhook-id / X-Sepsis-Delivery are stable across attempts (SECURITY.md recipe)

    def __init__(self, config: WebhookReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._url = config.url.resolve().get_secret_value()
        self._secret = config.secret.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url, self._secret]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        body = orjson.dumps(webhook_body(item, view))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(self._secret.encode(), int(now_s), body),
            DELIVERY_HEADER: item.log_key,
            **standard_webhook_headers(self._secret.encode(), item.log_key, int(now_s), body),
        }
        return OutgoingRequest(self._url, body, headers)

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """One signed body listing every member (`alerts`: each the single-alert document, with its own
        ack_url); `X-Sepsis-Delivery` is the group's delivery id, stable across retries."""
        document = {"version": 1, "kind": "group", "action": str(item.action), "tier": item.tier,
                    "size": len(views), "alerts": [webhook_body(m, v) for m, v in zip(item.group, views, strict=True)]}
        body = orjson.dumps(document)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(self._secret.encode(), int(now_s), body),
            DELIVERY_HEADER: item.delivery_id,
            **standard_webhook_headers(self._secret.encode(), item.delivery_id, int(now_s), body),
        }
        return OutgoingRequest(self._url, body, headers)
