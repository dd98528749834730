"""Grouping against real HTTP servers on 127.0.0.1: a burst to a rate-limited receiver arrives as few messages
listing every alert once, each with its own signed acknowledge link; dedup, fallback and dead letters per member."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from notifier.core.dedup import NotificationLogView
from notifier.core.links import LinkCheck, check_ack_token
from notifier.core.model import DeliveryOutcome
from notifier.core.signing import verify_webhook
from schemas.alert import Alert
from tests.notifier.harness import LINK_SECRET, Harness, fast_retry, make_harness
from tests.notifier.helpers import Receiver, Reply, make_alert, running_receiver

SLACK_PATH = "/services/T0000/B0000/SlackGroupToken123"
TEAMS_PATH = "/workflows/group/triggers/manual/paths/invoke"
HOOK_PATH = "/hooks/ehr-group-Token777"
FALLBACK_PATH = "/hooks/fallback-Token888"
HOOK_SECRET = "whsec_group_0123456789"
PD_KEY = "R0UT1NGKEYgroup456789abcdefSECRET"


def _doc(rx: Receiver, route: str, *, group: dict | None = None, rate: float = 2.0, burst: float = 1.0,
         fallback: str | None = None, retry: dict | None = None, hook_phi: dict | None = None) -> dict:
    grouping = {"group": group if group is not None else {"max_group_size": 10}}
    receivers = [
        {"name": "slack", "type": "slack", "url": {"value": rx.url(SLACK_PATH)}, "rate_per_s": rate,
         "burst": burst, **grouping},
        {"name": "teams", "type": "teams", "url": {"value": rx.url(TEAMS_PATH)}, "rate_per_s": rate,
         "burst": burst, **grouping},
        {"name": "hook", "type": "webhook", "url": {"value": rx.url(HOOK_PATH)}, "secret": {"value": HOOK_SECRET},
         "rate_per_s": rate, "burst": burst, **grouping, **({"phi": hook_phi} if hook_phi else {})},
        {"name": "fallback", "type": "webhook", "url": {"value": rx.url(FALLBACK_PATH)},
         "secret": {"value": HOOK_SECRET}},
        {"name": "pager", "type": "pagerduty", "routing_key": {"value": PD_KEY},
         "url": {"value": rx.url("/v2/enqueue")}},
    ]
    doc: dict = {"receivers": receivers, "route": {"receiver": route}, "retry": retry or fast_retry()}
    if fallback:
        doc["fallback_receiver"] = fallback
    return doc


def _burst(count: int, **extra: object) -> list[Alert]:
    return [make_alert(patient=f"MRN{10_000_000 + i}", **extra) for i in range(count)]  # type: ignore[arg-type]


def _check_link(url: str, episode_id: str) -> None:
    parsed = urlparse(url)
    assert parsed.path == f"/ack/{episode_id}"
    assert check_ack_token(LINK_SECRET, episode_id, parse_qs(parsed.query)["t"][0], time.time()) == LinkCheck.VALID


def _slack_episodes(body: dict) -> list[str]:
    """Every episode a Slack message lists (single messages: the context block; groups: one per section)."""
    return re.findall(r"episode (ep-[0-9a-f]+)", json.dumps([b for b in body["blocks"] if b["type"] in ("section",
                                                                                             "context")]))


def test_a_burst_to_a_throttled_slack_channel_arrives_as_groups_listing_every_alert_once() -> None:
    alerts = _burst(30)
    with running_receiver() as rx:
        harness = make_harness(_doc(rx, "slack", rate=2.0, burst=2.0))
        results = asyncio.run(harness.send(*alerts, concurrently=True))
        messages = [orjson.loads(r.body) for r in rx.at(SLACK_PATH)]
    # 2 tokens free at once, then the other 28 wait for the 2/s rate: groups of at most 10 instead of 28 messages.
    sizes = sorted(sum(1 for b in m["blocks"] if b["type"] == "section" and "accessory" in b) for m in messages)
    assert sizes == [0, 0, 8, 10, 10]  # the two singles show their button in an actions block
    listed = [episode for m in messages for episode in _slack_episodes(m)]
    assert Counter(listed) == Counter(a.episode_id for a in alerts)  # every alert exactly once
    for message in messages:
        text = json.dumps(message)
        assert "MRN1000" not in text and "fourth reason" not in text  # PHI policy per alert: no MRN, 3 reasons
        sections = [b for b in message["blocks"] if b["type"] == "section" and "accessory" in b]
        if not sections:
            continue
        # The shared location, as the default policy shows it (unit and bed; no facility, no room).
        assert message["text"] == f"{len(sections)} sepsis alerts (highest EMERGENCY) - MICU 12"
        for section in sections:  # each alert: level, location, scores, reasons and its OWN signed link
            body = section["text"]["text"]
            assert body.startswith("*Sepsis alert EMERGENCY (opened) - MICU 12*")
            assert "news2 7 (high)" in body and "Why: NEWS2 7" in body
            [episode] = re.findall(r"episode (ep-[0-9a-f]+)", body)
            _check_link(section["accessory"]["url"], episode)
        assert len({s["accessory"]["action_id"] for s in sections}) == len(sections)
    assert [r.outcome for r in results] == [DeliveryOutcome.DELIVERED] * 30 and all(not r.group for r in results)
    assert sorted(e.key for e in harness.log.entries) == sorted(f"{a.alert_id}|slack" for a in alerts)
    assert {e.outcome for e in harness.log.entries} == {DeliveryOutcome.DELIVERED}
    assert harness.metric("sepsis_notifier_group_messages_total", receiver="slack") == 3
    assert harness.metric("sepsis_notifier_deliveries_total", receiver="slack", outcome="delivered") == 30
    assert harness.metric("sepsis_notifier_group_admissions_total", receiver="slack", reason="token_free") == 2


def test_grouped_members_are_not_resent_after_a_restart() -> None:
    alerts = _burst(12)
    with running_receiver() as rx:
        first = make_harness(_doc(rx, "slack", rate=5.0))
        asyncio.run(first.send(*alerts, concurrently=True))
        sent = len(rx.at(SLACK_PATH))
        assert 1 < sent < 12  # grouped
        # A restarted replica: a new pipeline whose log view is rebuilt from the notification log alone.
        restarted = Harness(first.config, first.integrations, log_view=NotificationLogView(first.log.entries))
        results = asyncio.run(restarted.send(*alerts, concurrently=True))
        extra = _burst(13)[12:]  # a new alert still goes out
        asyncio.run(restarted.send(*extra))
        after = rx.at(SLACK_PATH)
    assert len(after) == sent + 1 and results == []
    assert restarted.metric("sepsis_notifier_deduplicated_total", reason="already_delivered") == 12
    assert restarted.log.entries[0].key == f"{extra[0].alert_id}|slack"


def test_teams_groups_split_by_unit_each_card_lists_its_alerts_with_ack_buttons() -> None:
    alerts = [a for pair in zip(_burst(3, unit="MICU"), _burst(6, unit="5W")[3:], strict=True) for a in pair]
    with running_receiver() as rx:
        harness = make_harness(_doc(rx, "teams", group={"group_by": ["unit"]}))
        asyncio.run(harness.send(*alerts, concurrently=True))
        cards = [orjson.loads(r.body)["attachments"][0]["content"] for r in rx.at(TEAMS_PATH)]
    grouped = [c for c in cards if any(b["type"] == "Container" for b in c["body"])]
    assert len(cards) == 3 and len(grouped) == 2  # the first alert alone, then one card per unit
    seen: list[str] = []
    for card in grouped:
        containers = [b for b in card["body"] if b["type"] == "Container"]
        units = {c["items"][1]["facts"][0]["value"].split()[0] for c in containers}
        assert len(units) == 1 and card["body"][0]["text"].endswith(f"- {units.pop()} 12")
        for container in containers:
            [episode] = [i["text"].removeprefix("episode ") for i in container["items"]
                         if i["type"] == "TextBlock" and i["text"].startswith("episode ")]
            [action] = next(i for i in container["items"] if i["type"] == "ActionSet")["actions"]
            _check_link(action["url"], episode)
            seen.append(episode)
    assert len(seen) == 5 and len(set(seen)) == 5


def test_webhook_group_is_signed_and_each_alert_follows_the_phi_policy() -> None:
    alerts = _burst(4)
    with running_receiver() as rx:
        harness = make_harness(_doc(rx, "hook", hook_phi={"allow": ["unit", "level", "links"]}))
        asyncio.run(harness.send(*alerts, concurrently=True))
        single, group = rx.at(HOOK_PATH)
    assert verify_webhook(group.headers["x-sepsis-signature"], group.body, [HOOK_SECRET.encode()],
                          time.time()) == "valid"
    body = json.loads(group.body)
    assert (body["kind"], body["size"], body["action"]) == ("group", 3, "trigger")
    assert group.headers["x-sepsis-delivery"].startswith("group-")
    assert json.loads(single.body)["alert_id"] == alerts[0].alert_id  # a free token: sent alone, unchanged format
    assert [a["alert_id"] for a in body["alerts"]] == [a.alert_id for a in alerts[1:]]
    for alert in body["alerts"]:
        assert set(alert) == {"version", "action", "paging", "episode_id", "alert_id", "tier", "location", "level",
                              "level_name", "unit", "ack_url"}  # no scores, reasons, bed, MRN
        _check_link(alert["ack_url"], alert["episode_id"])


@pytest.mark.parametrize("fallback", ["fallback", "pager"])
def test_a_group_that_fails_every_retry_goes_to_fallback_and_dead_letter_with_every_member(fallback: str) -> None:
    alerts = _burst(5)
    with running_receiver(202) as rx:
        rx.on(SLACK_PATH, *[Reply(500)] * 10)
        harness = make_harness(_doc(rx, "slack", fallback=fallback, retry=fast_retry(2)))
        results = asyncio.run(harness.send(*alerts, concurrently=True))
        slack_attempts = len(rx.at(SLACK_PATH))
        to_fallback = [orjson.loads(r.body) for r in rx.at(FALLBACK_PATH)]
        to_pager = [orjson.loads(r.body) for r in rx.at("/v2/enqueue")]
    assert slack_attempts == 4  # the first alert alone and the group of 4: two attempts each, as units
    assert sorted(item.alert.alert_id for item, _, _ in harness.dead_letters.items) == sorted(
        a.alert_id for a in alerts)  # every member dead-lettered on its own
    assert {code for _, code, _ in harness.dead_letters.items} == {"delivery_failed"}
    assert any("one message of 4 alerts" in message for _, _, message in harness.dead_letters.items)
    assert [(r.outcome, r.delivered_by) for r in results] == [(DeliveryOutcome.FAILED, fallback)] * 5
    assert sorted(e.key for e in harness.log.entries) == sorted(f"{a.alert_id}|slack" for a in alerts)
    assert {e.outcome for e in harness.log.entries} == {DeliveryOutcome.FAILED}
    assert harness.metric("sepsis_notifier_dead_letters_total", receiver="slack") == 5
    if fallback == "fallback":  # a webhook fallback takes the group as one message
        assert sorted(m.get("kind", "single") for m in to_fallback) == ["group", "single"]
        [group] = [m for m in to_fallback if m.get("kind") == "group"]
        assert [a["alert_id"] for a in group["alerts"]] == [a.alert_id for a in alerts[1:]]
    else:  # a PagerDuty fallback keeps one incident per episode
        assert sorted(e["dedup_key"] for e in to_pager) == sorted(a.episode_id for a in alerts)
        assert to_fallback == []


def test_group_log_lines_name_every_member_but_no_body_or_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alerts = _burst(4)
    with running_receiver() as rx:
        rx.on(SLACK_PATH, *[Reply(500)] * 4)
        harness = make_harness(_doc(rx, "slack", fallback="fallback", retry=fast_retry(2)))
        asyncio.run(harness.send(*alerts, concurrently=True))
    failed = [r for r in caplog.records if "OPS ALERT" in r.getMessage() and "group of 3 alerts" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].group_alert_ids == [a.alert_id for a in alerts[1:]]  # type: ignore[attr-defined]
    text = "\n".join(caplog.text.splitlines() + [r.getMessage() + repr(vars(r)) for r in caplog.records])
    for forbidden in ("SlackGroupToken123", "Token888", HOOK_SECRET, "MRN1000", "NEWS2 7"):
        assert forbidden not in text, forbidden
