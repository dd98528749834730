"""Hostile EHR text in every payload format: escaped for its markup, within each integration's size limits,
the first reason always visible. Formatting is pure, so these call format() directly; the last test sends the
formatted payloads over real HTTP to the local receiver and reads its HTML page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from devstack.local_receiver import LocalReceiver
from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import PhiPolicy, build_view
from notifier.core.signing import verify_webhook
from notifier.integrations import PagerDutyReceiver, SlackReceiver, TeamsReceiver, WebhookReceiver
from notifier.integrations.teams import MAX_MESSAGE_BYTES
from notifier.integrations.text import slack_text, teams_text
from schemas.alert import Alert
from schemas.base import Location
from tests.notifier.helpers import make_alert

HOSTILE_REASONS = ["<!channel> lactate 4.1 & rising <@U123>", "<script>alert(1)</script> **bold** [click](https://evil.example)",
                   "\u202eRLO 21 deb\u202c then\r\n- forged line", "emoji \U0001F9EA\U0001F469\u200d\u2695\ufe0f ok",
                   "x" * 5000]
RTL_UNIT = "\u05d8\u05d9\u05e4\u05d5\u05dc \u05e0\u05de\u05e8\u05e5"  # Hebrew "intensive care": RTL as is
ACK = "https://notifier.test/ack/ep?t=1.sig"
ALLOW_ALL: Any = ["unit", "bed", "level", "transition", "scores", "reasons", "links", "facility"]


def _alert(unit: str = "A&E", reasons: list[str] | None = None, **extra: Any) -> Alert:
    alert = make_alert(reasons=HOSTILE_REASONS if reasons is None else reasons, **extra)
    return alert.model_copy(update={"location": Location(facility="St <Mary>", unit=unit, bed="<@U123>")})


def _view(alert: Alert, max_reasons: int = 10) -> Any:
    return build_view(alert, PhiPolicy(allow=ALLOW_ALL, max_reasons=max_reasons), ACK)


def _slack() -> Any:
    return SlackReceiver(name="slack", url={"value": "https://hooks.slack.test/services/T/B/x"}).build()


def _teams() -> Any:
    return TeamsReceiver(name="teams", url={"value": "https://teams.test/workflows/x"}).build()


def _mrkdwn_texts(node: Any) -> Iterator[str]:
    """Every string Slack parses as mrkdwn: text objects of type mrkdwn and the top-level `text`."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node["text"]
        for value in node.values():
            yield from _mrkdwn_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mrkdwn_texts(value)


def _teams_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            yield node["text"]
        if "title" in node and "value" in node:
            yield node["title"]
            yield node["value"]
        for value in node.values():
            yield from _teams_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _teams_texts(value)


@pytest.mark.parametrize(("raw", "escaped"), [
    ("A&E", "A&amp;E"), ("<!channel>", "&lt;!channel&gt;"), ("<@U123>", "&lt;@U123&gt;"),
    ("RR >= 22", "RR &gt;= 22"), ("plain", "plain"), (RTL_UNIT, RTL_UNIT),
])
def test_slack_escapes_exactly_the_three_control_characters(raw: str, escaped: str) -> None:
    assert slack_text(raw) == escaped


def test_slack_cut_never_splits_an_entity() -> None:
    cut = slack_text("&" * 100, 12)
    assert cut == "&amp;&amp;\u2026" and len(cut) <= 12


@pytest.mark.parametrize(("raw", "escaped"), [
    ("[click](https://evil.example)", "\\[click\\]\u200b(https://evil.example)"),
    ("**bold** a_b", "\\*\\*bold\\*\\* a\\_b"), ("- forged", "\\- forged"), ("1. one", "1\\. one"),
    ("A&E RR >= 22 (x)", "A&E RR >= 22 (x)"),
])
def test_teams_escapes_markdown_and_breaks_links(raw: str, escaped: str) -> None:
    assert teams_text(raw) == escaped


def test_slack_message_mentions_nobody_and_renders_a_and_e() -> None:
    alert = _alert()
    item = Notification(alert=alert, receiver="slack")
    body = orjson.loads(_slack().format(item, _view(alert), time.time()).body)
    texts = [*_mrkdwn_texts(body), body["text"]]
    for text in texts:
        assert not re.search(r"<[!@#]", text), text  # no mention, channel or link syntax reaches Slack
        assert "<script>" not in text
        assert "\r" not in text and "\u202e" not in text
    location = body["blocks"][1]["fields"][0]["text"]
    assert location == "*Location*\nSt &lt;Mary&gt; A&amp;E &lt;@U123&gt;"
    header = body["blocks"][0]["text"]
    assert header["type"] == "plain_text" and "A&E" in header["text"] and len(header["text"]) <= 150
    # The lock-screen notification carries the first reason, escaped.
    assert "&lt;!channel&gt; lactate 4.1 &amp; rising" in body["text"]
    assert len(body["blocks"]) <= 50
    for block in body["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000


def test_teams_card_has_no_live_link_or_emphasis_from_ehr_text() -> None:
    alert = _alert()
    item = Notification(alert=alert, receiver="teams")
    body = orjson.loads(_teams().format(item, _view(alert), time.time()).body)
    texts = list(_teams_texts(body))
    assert any("A&E" in t for t in texts)  # Adaptive Cards take no HTML: no entity in Teams
    for text in texts:
        assert "](" not in text, text
        assert not re.search(r"(?<!\\)\*\*", text), text
        assert "\n" not in text and "\u202e" not in text
    reason_blocks = [t for t in texts if t.startswith("- ")]
    assert reason_blocks[0].startswith("- <!channel> lactate 4.1 & rising")


def _group(receiver: str, size: int) -> tuple[Notification, list[Any]]:
    alerts = [_alert(patient=f"MRN{i:08d}", reasons=[f"first reason {i} " + "\U0001F9EA" * 190, *HOSTILE_REASONS])
              for i in range(size)]
    members = tuple(Notification(alert=a, receiver=receiver) for a in alerts)
    return Notification(alert=alerts[0], receiver=receiver, group=members), [_view(a) for a in alerts]


def test_a_full_teams_group_fits_the_workflows_limit_and_keeps_every_first_reason() -> None:
    item, views = _group("teams", 40)
    request = _teams().format_group(item, views, time.time())
    assert len(request.body) <= MAX_MESSAGE_BYTES
    text = request.body.decode()
    for i in range(40):
        assert f"first reason {i} " in text


def test_a_single_teams_card_keeps_all_reasons_when_it_fits() -> None:
    alert = _alert(reasons=["r1", "r2", "r3"])
    body = orjson.loads(_teams().format(Notification(alert=alert, receiver="teams"), _view(alert), 0).body)
    assert [t for t in _teams_texts(body) if t.startswith("- ")] == ["- r1", "- r2", "- r3"]


def test_a_full_slack_group_keeps_the_block_and_text_limits_and_every_first_reason() -> None:
    item, views = _group("slack", 40)
    body = orjson.loads(_slack().format_group(item, views, time.time()).body)
    assert len(body["blocks"]) <= 50
    sections = [b for b in body["blocks"] if b["type"] == "section"]
    for i, section in enumerate(sections):
        assert len(section["text"]["text"]) <= 3000
        assert f"Why: first reason {i} " in section["text"]["text"]
    for text in _mrkdwn_texts(body):
        assert not re.search(r"<[!@#]", text)


def test_pagerduty_carries_the_alert_event_time_as_timestamp() -> None:
    alert = _alert()
    pagerduty = PagerDutyReceiver(name="pd", routing_key={"value": "k" * 32}).build()
    event = orjson.loads(pagerduty.format(Notification(alert=alert, receiver="pd"), _view(alert), time.time()).body)
    stamp = event["payload"]["timestamp"]
    assert datetime.fromisoformat(stamp) == alert.event_time and stamp.endswith("+00:00")
    assert len(event["payload"]["summary"]) <= 1024
    assert event["payload"]["summary"].startswith("Sepsis alert EMERGENCY (opened) - St <Mary> A&E <@U123>: <!channel>")


def test_webhook_json_round_trips_hostile_text_and_stays_signed() -> None:
    alert = _alert(reasons=[*HOSTILE_REASONS[:4], "lone \ud800 surrogate"])
    hook = WebhookReceiver(name="hook", url={"value": "https://hook.test/x"}, secret={"value": "s3cret-value"}).build()
    request = hook.format(Notification(alert=alert, receiver="hook"), _view(alert), time.time())
    body = orjson.loads(request.body)  # valid JSON even with a lone surrogate in the alert
    assert body["unit"] == "A&E" and body["bed"] == "<@U123>"  # JSON needs no markup escaping: data as is
    assert body["reasons"][1].startswith("<script>") and body["reasons"][4] == "lone \ufffd surrogate"
    assert body["reasons"][2] == "RLO 21 deb then - forged line"
    assert verify_webhook(request.headers["X-Sepsis-Signature"], request.body, [b"s3cret-value"],
                          time.time()) == "valid"


def test_local_receiver_page_shows_hostile_text_escaped_once(tmp_path: Any) -> None:
    alert = _alert(reasons=HOSTILE_REASONS[:2])
    view = _view(alert)
    with LocalReceiver() as receiver:
        for path, integration in (("/slack/x", _slack()), ("/teams/x", _teams())):
            request = integration.format(Notification(alert=alert, receiver="r", action=NotifyAction.TRIGGER),
                                         view, time.time())
            httpx.post(receiver.url + path, content=request.body, headers=request.headers, timeout=10)
        evil = {"episode_id": "ep", "alert_id": "a", "location": "x", "ack_url": "javascript:alert(1)"}
        httpx.post(receiver.url + "/webhook/x", json=evil, timeout=10)
        page = httpx.get(receiver.url + "/", timeout=10).text
        pages = httpx.get(receiver.url + "/pages.json", timeout=10).json()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp;amp;" not in page and "St &lt;Mary&gt; A&amp;E" in page  # A&E escaped once, for HTML only
    assert "javascript:" not in page
    slack, teams = pages[0], pages[1]
    assert slack["location"] == teams["location"] == "St <Mary> A&E <@U123>"
    assert slack["reasons"][0] == teams["reasons"][0] == "<!channel> lactate 4.1 & rising <@U123>"
    assert teams["reasons"][1].startswith("<script>alert(1)</script> **bold** [click](https://evil.example)")


def test_right_to_left_unit_names_are_kept_and_bidi_overrides_dropped() -> None:
    alert = _alert(unit=RTL_UNIT + "\u202e")
    body = orjson.loads(_slack().format(Notification(alert=alert, receiver="s"), _view(alert), 0).body)
    assert body["blocks"][1]["fields"][0]["text"] == f"*Location*\nSt &lt;Mary&gt; {RTL_UNIT} &lt;@U123&gt;"
