"""Slack incoming webhook with Block Kit: header, location and level, scores, reasons, an Acknowledge button.

`text` is always set: Slack uses it for the notification on the phone's lock
screen and as the fallback where blocks cannot be shown. Slack allows about one
message per second per channel (short bursts tolerated) and answers 429 with
Retry-After beyond that.

Every text from the view goes through `slack_text` (notifier.integrations.text) in
mrkdwn and through nothing in plain_text, and every limit Slack documents is kept:
50 blocks, 150 characters of header, 2,000 per field, 3,000 per section or
context text. The first reason is placed before anything that may be cut, and
the notification `text` (the lock-screen line) carries it too.
"""


from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import Field

from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import AlertView, PhiPolicy, clip
from notifier.integrations.base import OutgoingRequest, ReceiverBase, SecretRef, chat_title, group_title
from notifier.integrations.text import slack_text

__all__ = ["SlackIntegration", "SlackReceiver"]

MAX_BLOCKS = 50
HEADER_MAX = 150
FIELD_MAX = 2000
SECTION_TEXT_MAX = 3000
NOTIFICATION_MAX = 3000


class SlackReceiver(ReceiverBase):
    type: Literal["slack"] = Field(default="slack", description="receiver kind: Slack incoming webhook (Block Kit)")
    url: SecretRef = Field(description="incoming-webhook URL (https://hooks.slack.com/services/...)")

    def build(self) -> SlackIntegration:
        return SlackIntegration(self)


def _fitting_lines(lines: list[str], limit: int) -> str:
    """Escaped lines joined by newlines, in order, while they fit in `limit`; the first is clipped to fit, later
    ones that do not fit are left out whole (a half score line reads as a wrong value)."""
    out = [slack_text(lines[0], limit)]
    used = len(out[0])
    for line in lines[1:]:
        escaped = slack_text(line, limit)
        if used + 1 + len(escaped) > limit:
            break
        out.append(escaped)
        used += 1 + len(escaped)
    return "\n".join(out)


def _score_text(view: AlertView) -> list[str]:
    return [f"{s.name}: {s.value}" + (f" ({s.band})" if s.band else "") for s in view.scores]


def _notification_text(title: str, item: Notification, view: AlertView) -> str:
    first = f": {view.reasons[0]}" if view.reasons and (item.action == NotifyAction.TRIGGER or item.notes) else ""
    return slack_text(title + first, NOTIFICATION_MAX)


class SlackIntegration:
    kind = "slack"
    default_rate_per_s: float | None = 1.0
    default_burst = 3.0
    deduplicates = False  # an incoming webhook posts every request it gets as a new message

    def __init__(self, config: SlackReceiver) -> None:
        self.name = config.name
        self.phi: PhiPolicy = config.phi
        self.timeout_s = config.timeout_s
        self._url = config.url.resolve().get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url]

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        title = chat_title(item, view)
        blocks: list[dict[str, Any]] = [{"type": "header",
                                         "text": {"type": "plain_text", "text": clip(title, HEADER_MAX)}}]
        fields = [{"type": "mrkdwn", "text": "*Location*\n" + slack_text(view.location, FIELD_MAX - 11)}]
        if view.level_name:
            fields.append({"type": "mrkdwn", "text": f"*Level*\n{view.level} ({slack_text(view.level_name)})"})
        if view.masked_mrn:
            fields.append({"type": "mrkdwn", "text": f"*MRN*\n{slack_text(view.masked_mrn)}"})
        blocks.append({"type": "section", "fields": fields})
        if view.reasons:
            text = _fitting_lines(["*Why*", *(f"• {r}" for r in view.reasons)], SECTION_TEXT_MAX)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if view.scores:
            text = _fitting_lines(["*Scores*", *(f"• {line}" for line in _score_text(view))], SECTION_TEXT_MAX)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if view.ack_url and item.action == NotifyAction.TRIGGER:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "style": "primary", "action_id": "ack",
                "text": {"type": "plain_text", "text": "Acknowledge"}, "url": view.ack_url}]})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": slack_text(f"episode {view.episode_id}", SECTION_TEXT_MAX)}]})
        body = {"text": _notification_text(title, item, view), "blocks": blocks}
        return OutgoingRequest(self._url, orjson.dumps(body), {"Content-Type": "application/json"})

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """One message for a group: a header, then one section per alert (its level, location, reasons, scores,
        episode) with its own Acknowledge button, then a footer: at most 50 blocks. Members beyond 48 (never with
        max_group_size <= 40) share the last section, one line each, so none is left out."""
        title = group_title(item, views)
        blocks: list[dict[str, Any]] = [{"type": "header",
                                         "text": {"type": "plain_text", "text": clip(title, HEADER_MAX)}}]
        members = list(zip(item.group, views, strict=True))
        room = MAX_BLOCKS - 2
        own, shared = (members, []) if len(members) <= room else (members[: room - 1], members[room - 1:])
        for index, (member, view) in enumerate(own):
            block: dict[str, Any] = {"type": "section",
                                     "text": {"type": "mrkdwn", "text": _member_text(member, view)}}
            if view.ack_url and member.action == NotifyAction.TRIGGER:
                block["accessory"] = {"type": "button", "action_id": f"ack-{index}", "url": view.ack_url,
                                      "text": {"type": "plain_text", "text": "Acknowledge"}}
            blocks.append(block)
        if shared:
            lines = [_member_line(member, view) for member, view in shared]
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": _fitting_lines(lines, SECTION_TEXT_MAX)}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"{len(views)} alerts in one message: the channel's rate limit was reached")}]})
        body = {"text": slack_text(title, NOTIFICATION_MAX), "blocks": blocks}
        return OutgoingRequest(self._url, orjson.dumps(body), {"Content-Type": "application/json"})


def _headline(member: Notification, view: AlertView) -> str:
    return view.headline() if member.action == NotifyAction.TRIGGER else chat_title(member, view)


def _member_line(member: Notification, view: AlertView) -> str:
    return _headline(member, view) + (f": {view.reasons[0]}" if view.reasons else "")


def _member_text(member: Notification, view: AlertView) -> str:
    """One alert of a group message, in mrkdwn, built only from the PHI-limited view; the reasons come right
    after the headline so a cut drops the scores first."""
    headline = "*" + slack_text(_headline(member, view), SECTION_TEXT_MAX // 3) + "*"
    lines = []
    if view.reasons:
        lines.append("Why: " + "; ".join(view.reasons))
    if view.masked_mrn:
        lines.append(f"MRN {view.masked_mrn}")
    if view.scores:
        lines.append("Scores: " + ", ".join(s.name + f" {s.value}" + (f" ({s.band})" if s.band else "")
                                            for s in view.scores))
    lines.append(f"episode {view.episode_id}")
    rest = _fitting_lines(lines, SECTION_TEXT_MAX - len(headline) - 1)
    return headline + "\n" + rest
