"""Microsoft Teams through a Workflows ("Post to a channel when a webhook request is received") webhook.

The retired Office 365 connectors took MessageCards; Workflows take a message
whose single attachment is an Adaptive Card
(`contentType: application/vnd.microsoft.card.adaptive`). The Acknowledge
button is an `Action.OpenUrl` to the signed link.

Every text from the view goes through `teams_text` (notifier.integrations.text):
TextBlocks and Fact values are Markdown. A Workflows request holds about 28 KB; a
card over MAX_MESSAGE_BYTES is rebuilt with less detail, in this order: reasons
after the first, scores, then (groups) one compact block per alert. The first
reason of every alert stays on the card (in a compact card, its beginning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson
from pydantic import Field

from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import AlertView, PhiPolicy, clip
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef, chat_title, group_title
from notifier.integrations.text import teams_text

__all__ = ["TeamsIntegration", "TeamsReceiver"]

ADAPTIVE_CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_COLOUR = {1: "Default", 2: "Warning", 3: "Attention", 4: "Attention"}
MAX_MESSAGE_BYTES = 27_000
"""Under the ~28 KB a Workflows request accepts, leaving room for what the HTTP layer adds."""
COMPACT_REASON_CHARS = (300, 160, 80, 40)
"""In a compact group card, how much of each alert's first reason is shown, most first."""
DETAIL_LEVELS = 3 + len(COMPACT_REASON_CHARS)
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


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
    deduplicates = False  # a Workflows webhook posts every request it gets as a new card

    def __init__(self, config: TeamsReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._url = config.url.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        def card(detail: int) -> dict[str, Any]:
            body: list[dict[str, Any]] = [
                {"type": "TextBlock", "text": teams_text(chat_title(item, view), 400), "weight": "Bolder",
                 "size": "Medium", "wrap": True, "color": _COLOUR.get(view.level or 0, "Default")},
                {"type": "FactSet", "facts": _facts(view, detail)},
                *_reason_blocks(view, detail),
                {"type": "TextBlock", "text": teams_text(f"episode {view.episode_id}"), "isSubtle": True,
                 "size": "Small"},
            ]
            content: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.4", "$schema": _SCHEMA, "body": body}
            if view.ack_url and item.action == NotifyAction.TRIGGER:
                content["actions"] = [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": view.ack_url}]
            return content

        return OutgoingRequest(self._url, _fit(card), {"Content-Type": "application/json"})

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """One Adaptive Card for a group: a title, then one container per alert (level, location, scores, reasons,
        episode) with its own Acknowledge button (an ActionSet, Adaptive Cards 1.2+)."""
        def card(detail: int) -> dict[str, Any]:
            body: list[dict[str, Any]] = [{"type": "TextBlock", "text": teams_text(group_title(item, views), 400),
                                           "weight": "Bolder", "size": "Medium", "wrap": True}]
            for member, view in zip(item.group, views, strict=True):
                headline = view.headline() if member.action == NotifyAction.TRIGGER else chat_title(member, view)
                if detail >= 3:  # compact: one line per alert, the beginning of its first reason kept
                    reason = clip(view.reasons[0], COMPACT_REASON_CHARS[detail - 3]) if view.reasons else ""
                    line = teams_text(clip(headline, 120)) + (": " + teams_text(reason) if reason else "")
                    items: list[dict[str, Any]] = [{"type": "TextBlock", "text": line, "wrap": True}]
                else:
                    items = [{"type": "TextBlock", "text": teams_text(headline, 400), "weight": "Bolder",
                              "wrap": True, "color": _COLOUR.get(view.level or 0, "Default")},
                             {"type": "FactSet", "facts": _facts(view, detail)},
                             *_reason_blocks(view, detail),
                             {"type": "TextBlock", "text": teams_text(f"episode {view.episode_id}"),
                              "isSubtle": True, "size": "Small"}]
                if view.ack_url and member.action == NotifyAction.TRIGGER:
                    items.append({"type": "ActionSet", "actions": [
                        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": view.ack_url}]})
                body.append({"type": "Container", "separator": True, "items": items} if detail < 3 else items[0])
                body.extend(items[1:] if detail >= 3 else [])
            return {"type": "AdaptiveCard", "version": "1.4", "$schema": _SCHEMA, "body": body}

        return OutgoingRequest(self._url, _fit(card), {"Content-Type": "application/json"})


def _facts(view: AlertView, detail: int) -> list[dict[str, str]]:
    facts = [{"title": "Location", "value": teams_text(view.location, 200)}]
    if view.level_name:
        facts.append({"title": "Level", "value": teams_text(f"{view.level} ({view.level_name})")})
    if view.masked_mrn:
        facts.append({"title": "MRN", "value": teams_text(view.masked_mrn)})
    if detail < 2:
        facts.extend({"title": teams_text(s.name, 100), "value": teams_text(s.value + (f" ({s.band})" if s.band
                                                                                      else ""), 200)}
                     for s in view.scores)
    return facts


def _reason_blocks(view: AlertView, detail: int) -> list[dict[str, Any]]:
    """One list line per reason; from detail 1 on only the first, which is never dropped."""
    reasons = view.reasons if detail == 0 else view.reasons[:1]
    return [{"type": "TextBlock", "text": "- " + teams_text(r, 400), "wrap": True, "spacing": "None"}
            for r in reasons]


def _message(card: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD_TYPE, "contentUrl": None,
                                                             "content": card}]})


def _fit(card: Callable[[int], dict[str, Any]]) -> bytes:
    """The most detailed rendering of `card` within MAX_MESSAGE_BYTES, else the least detailed one (a group of
    MAX_GROUP_SIZE compact alerts is far below the limit)."""
    for detail in range(DETAIL_LEVELS):
        body = _message(card(detail))
        if len(body) <= MAX_MESSAGE_BYTES:
            return body
    return body
