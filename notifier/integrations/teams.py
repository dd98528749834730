"""Microsoft Teams through a Workflows ("Post to a channel when a webhook request is received") webhook.

The retired Office 365 connectors took MessageCards; Workflows take a message
whose single attachment is an Adaptive Card
(`contentType: application/vnd.microsoft.card.adaptive`). The Acknowledge
button is an `Action.OpenUrl` to the signed link.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field

from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import AlertView, PhiPolicy
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef, chat_title, group_title

__all__ = ["TeamsIntegration", "TeamsReceiver"]

ADAPTIVE_CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_COLOUR = {1: "Default", 2: "Warning", 3: "Attention", 4: "Attention"}


class TeamsReceiver(ReceiverBase):
    type: Literal["teams"] = Field(default="teams",
                                  description="receiver kind: Microsoft Teams Workflows webhook (Adaptive Card)")
    url: SecretRef = Field(description="Workflows webhook URL (it carries a signature in its query)")

    def build(self) -> TeamsIntegration:
        return TeamsIntegration(self)


class TeamsIntegration:
    kind = "teams"
    default_rate_per_s: float | None = 1.0
    default_burst = 4.0

    def __init__(self, config: TeamsReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._url = config.url.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        title = chat_title(item, view)
        facts = [{"title": "Location", "value": view.location}]
        if view.level_name:
            facts.append({"title": "Level", "value": f"{view.level} ({view.level_name})"})
        if view.masked_mrn:
            facts.append({"title": "MRN", "value": view.masked_mrn})
        facts.extend({"title": s.name, "value": s.value + (f" ({s.band})" if s.band else "")} for s in view.scores)
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "color": _COLOUR.get(view.level or 0, "Default")},
            {"type": "FactSet", "facts": facts},
        ]
        body.extend({"type": "TextBlock", "text": f"- {r}", "wrap": True, "spacing": "None"} for r in view.reasons)
        body.append({"type": "TextBlock", "text": f"episode {view.episode_id}", "isSubtle": True, "size": "Small"})
        card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.4",
                                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "body": body}
        if view.ack_url and item.action == NotifyAction.TRIGGER:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": view.ack_url}]
        message = {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD_TYPE, "contentUrl": None,
                                                       "content": card}]}
        return OutgoingRequest(self._url, orjson.dumps(message), {"Content-Type": "application/json"})

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """One Adaptive Card for a group: a title, then one container per alert (level, location, scores, reasons,
        episode) with its own Acknowledge button (an ActionSet, Adaptive Cards 1.2+)."""
        body: list[dict[str, Any]] = [{"type": "TextBlock", "text": group_title(item, views), "weight": "Bolder",
                                       "size": "Medium", "wrap": True}]
        for member, view in zip(item.group, views, strict=True):
            facts = [{"title": "Location", "value": view.location}]
            if view.level_name:
                facts.append({"title": "Level", "value": f"{view.level} ({view.level_name})"})
            if view.masked_mrn:
                facts.append({"title": "MRN", "value": view.masked_mrn})
            facts.extend({"title": s.name, "value": s.value + (f" ({s.band})" if s.band else "")}
                         for s in view.scores)
            headline = view.headline() if member.action == NotifyAction.TRIGGER else chat_title(member, view)
            items: list[dict[str, Any]] = [
                {"type": "TextBlock", "text": headline, "weight": "Bolder", "wrap": True,
                 "color": _COLOUR.get(view.level or 0, "Default")},
                {"type": "FactSet", "facts": facts},
            ]
            items.extend({"type": "TextBlock", "text": f"- {r}", "wrap": True, "spacing": "None"}
                         for r in view.reasons)
            items.append({"type": "TextBlock", "text": f"episode {view.episode_id}", "isSubtle": True,
                          "size": "Small"})
            if view.ack_url and member.action == NotifyAction.TRIGGER:
                items.append({"type": "ActionSet", "actions": [
                    {"type": "Action.OpenUrl", "title": "Acknowledge", "url": view.ack_url}]})
            body.append({"type": "Container", "separator": True, "items": items})
        card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.4",
                                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "body": body}
        message = {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD_TYPE, "contentUrl": None,
                                                       "content": card}]}
        return OutgoingRequest(self._url, orjson.dumps(message), {"Content-Type": "application/json"})
