"""Sending: build the PHI-limited view, let the integration format it, POST once, classify.

`Sender.attempt` is one attempt; the retry stage decides whether there is
another. `SendStage` is the single-attempt stage for pipelines without retry
(dry runs, the benchmark's reference figure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import cast

import httpx

from notifier.clock import Clock
from notifier.core.grouping import settle
from notifier.core.model import DeliveryOutcome, Notification, NotifyAction
from notifier.core.phi import AlertView, build_view
from notifier.core.retry_policy import AttemptResult, FailureKind
from notifier.integrations.base import GroupingIntegration, Integration, OutgoingRequest, post_request, supports_groups
from notifier.metrics import NotifierMetrics

__all__ = ["SendStage", "Sender"]

AckLinkMaker = Callable[[str], str]
"""Episode id -> signed acknowledge URL."""


class Sender:
    """Formats and posts one attempt through the receiver's integration."""

    def __init__(self, integrations: Mapping[str, Integration], client: httpx.AsyncClient, ack_link: AckLinkMaker,
                 clock: Clock, metrics: NotifierMetrics) -> None:
        self._integrations = integrations
        self._client = client
        self._ack_link = ack_link
        self._clock = clock
        self._metrics = metrics

    def supports_groups(self, receiver: str) -> bool:
        """Whether `receiver` can take a group message (chat, webhook) or needs one message per alert (PagerDuty)."""
        return supports_groups(self._integrations[receiver])

    def deduplicates(self, receiver: str) -> bool:
        """Whether `receiver` drops a repeated request by its idempotency key (so one that may have arrived can
        be sent again)."""
        return self._integrations[receiver].deduplicates

    def _view(self, item: Notification, integration: Integration) -> AlertView:
        """The PHI-limited view of one alert, with its own signed acknowledge link on a trigger."""
        link = self._ack_link(item.alert.episode_id) if item.action == NotifyAction.TRIGGER else None
        view = build_view(item.alert, integration.phi, link)
        # Delivery notes ("delayed 12 min: receiver was unavailable") hold no patient data: shown whatever the
        # policy allows, first, so a cut never hides them.
        return replace(view, reasons=(*item.notes, *view.reasons)) if item.notes else view

    def _format(self, item: Notification, integration: Integration, now_s: float) -> OutgoingRequest:
        if not item.group:
            return integration.format(item, self._view(item, integration), now_s)
        if not supports_groups(integration):
            raise TypeError(f"receiver {item.receiver} cannot take a group message")
        views = [self._view(member, integration) for member in item.group]
        return cast(GroupingIntegration, integration).format_group(item, views, now_s)

    async def attempt(self, item: Notification) -> AttemptResult:
        """One POST of `item` (one alert, or a group as ONE message) to its receiver; never raises."""
        integration = self._integrations[item.receiver]
        now_s = self._clock.now_s()
        try:
            request = self._format(item, integration, now_s)
        except Exception as exc:  # a formatting bug must not kill the worker; it is permanent, not retryable
            result = AttemptResult(False, False, FailureKind.OTHER, detail=f"format failed: {type(exc).__name__}")
        else:
            result = await post_request(self._client, request, integration.timeout_s, now_s)
        self._metrics.attempts.labels(item.receiver, str(result.kind)).inc()
        return result


class SendStage:
    """One attempt per item, no retry."""

    name = "send"

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    async def run(self, items: list[Notification]) -> list[Notification]:
        out = []
        for item in items:
            result = await self._sender.attempt(item)
            outcome = DeliveryOutcome.DELIVERED if result.ok else DeliveryOutcome.FAILED
            out.append(settle(item, outcome, 1, failure_reason=result.detail))
        return out
