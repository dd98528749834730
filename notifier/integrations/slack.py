"""Slack incoming webhook with Block Kit: header, location and level, scores, reasons, an Acknowledge button.

`text` is always set: Slack uses it for the notification on the phone's lock
screen and as the fallback where blocks cannot be shown. Slack allows about one
message per second per channel (short bursts tolerated) and answers 429 with
Retry-After beyond that.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field

from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import AlertView, PhiPolicy
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef, chat_title, group_title

__all__ = ["SlackIntegration", "SlackReceiver"]

SECTION_TEXT_MAX = 3000


class SlackReceiver(ReceiverBase):
    type: Literal["slack"] = Field(default="slack", description="receiver kind: Slack incoming webhook (Block Kit)")
    url: SecretRef = Field(description="incoming-webhook URL (https://hooks.slack.com/services/...)")

    def build(self) -> SlackIntegration:
        return SlackIntegration(self)


class SlackIntegration:
    kind = "slack"
    default_rate_per_s: float | None = 1.0
    default_burst = 3.0

    def __init__(self, config: SlackReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._url = config.url.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        title = chat_title(item, view)
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
        fields = [{"type": "mrkdwn", "text": f"*Location*\n{view.location}"}]
        if view.level_name:
            fields.append({"type": "mrkdwn", "text": f"*Level*\n{view.level} ({view.level_name})"})
        if view.masked_mrn:
            fields.append({"type": "mrkdwn", "text": f"*MRN*\n{view.masked_mrn}"})
        blocks.append({"type": "section", "fields": fields})
        if view.scores:
            lines = "\n".join(f"• {s.name}: {s.value}" + (f" ({s.band})" if s.band else "") for s in view.scores)
            text = f"*Scores*\n{lines}"[:SECTION_TEXT_MAX]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if view.reasons:
            lines = "\n".join(f"• {r}" for r in view.reasons)
            text = f"*Why*\n{lines}"[:SECTION_TEXT_MAX]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if view.ack_url and item.action == NotifyAction.TRIGGER:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "style": "primary", "action_id": "ack",
                "text": {"type": "plain_text", "text": "Acknowledge"}, "url": view.ack_url}]})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"episode {view.episode_id}"}]})
        body = {"text": title, "blocks": blocks}
        return OutgoingRequest(self._url, orjson.dumps(body), {"Content-Type": "application/json"})

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """One message for a group: a header, then one section per alert (its level, location, scores, reasons,
        episode) with its own Acknowledge button. 1 + n + 1 blocks, within Slack's 50 (max_group_size <= 40)."""
        title = group_title(item, views)
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
        for index, (member, view) in enumerate(zip(item.group, views, strict=True)):
            block: dict[str, Any] = {"type": "section",
                                     "text": {"type": "mrkdwn", "text": _member_text(member, view)}}
            if view.ack_url and member.action == NotifyAction.TRIGGER:
                block["accessory"] = {"type": "button", "action_id": f"ack-{index}", "url": view.ack_url,
                                      "text": {"type": "plain_text", "text": "Acknowledge"}}
            blocks.append(block)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"{len(views)} alerts in one message: the channel's rate limit was reached")}]})
        body = {"text": title, "blocks": blocks}
        return OutgoingRequest(self._url, orjson.dumps(body), {"Content-Type": "application/json"})


def _member_text(member: Notification, view: AlertView) -> str:
    """One alert of a group message, in mrkdwn, built only from the PHI-limited view."""
    lines = [f"*{view.headline() if member.action == NotifyAction.TRIGGER else chat_title(member, view)}*"]
    if view.masked_mrn:
        lines.append(f"MRN {view.masked_mrn}")
    if view.scores:
        lines.append("Scores: " + ", ".join(s.name + f" {s.value}" + (f" ({s.band})" if s.band else "")
                                            for s in view.scores))
    if view.reasons:
        lines.append("Why: " + "; ".join(view.reasons))
    lines.append(f"episode {view.episode_id}")
    return "\n".join(lines)[:SECTION_TEXT_MAX]
