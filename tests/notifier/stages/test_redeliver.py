"""Background retries against real HTTP receivers on 127.0.0.1 (no Kafka: the log is in memory).

A receiver that answers 500 for longer than the quick attempts gets the page once it recovers, marked late;
the fallback is told at the first failure and again at the recovery; a resolve stops the retries of the
episode's trigger; a `retrying` entry left by a crashed replica is resumed once its heartbeat is stale.
"""

from __future__ import annotations

import asyncio
import json
import time

from notifier.clock import SystemClock
from notifier.core.dedup import NotificationLogView
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry, action_for
from notifier.integrations.base import http_client
from notifier.metrics import NotifierMetrics
from notifier.ports import InMemoryDeadLetters, InMemoryLog
from notifier.stages.redeliver import resumable
from notifier.wiring import build_pipeline
from schemas.alert import AlertTransition
from tests.notifier.harness import fast_retry, make_harness
from tests.notifier.helpers import Reply, make_alert, running_receiver

HOOK_SECRET = "whsec_redeliver_0123456789"
HOOK_PATH = "/hooks/primary-Redeliver42"
FALLBACK_PATH = "/hooks/fallback-Redeliver43"


def _doc(primary_url: str, fallback_url: str, deadline_s: float = 30.0) -> dict:
    return {"receivers": [{"name": "hook", "type": "webhook", "url": {"value": primary_url},
                           "secret": {"value": HOOK_SECRET}},
                          {"name": "fallback", "type": "webhook", "url": {"value": fallback_url},
                           "secret": {"value": HOOK_SECRET}}],
            "route": {"receiver": "hook"}, "fallback_receiver": "fallback",
            "retry": {**fast_retry(3, deadline_s=deadline_s), "max_delay_s": 0.2}}


def test_receiver_answering_500_for_a_while_gets_the_page_late_and_says_so() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, *[Reply(500)] * 8)  # 3 quick attempts, then 5 more in the background
        harness = make_harness(_doc(rx.url(HOOK_PATH), rx.url(FALLBACK_PATH)))
        alert = make_alert()
        [item] = asyncio.run(harness.send(alert))
        primary = rx.at(HOOK_PATH)
        fallback = rx.at(FALLBACK_PATH)
    assert item.outcome == DeliveryOutcome.RETRYING
    assert len(primary) == 9
    delivered = json.loads(primary[-1].body)
    assert delivered["alert_id"] == alert.alert_id
    assert delivered["reasons"][0].startswith("delayed ") and "receiver was unavailable" in delivered["reasons"][0]
    assert "NEWS2 7 (RR 26, SpO2 91%)" in delivered["reasons"]  # the page itself is still all there
    assert len({r.headers["webhook-id"] for r in primary}) == 1  # one idempotency key for every attempt
    # the fallback: told at once that the primary is failing, then that it recovered
    notes = [json.loads(r.body)["reasons"][0] for r in fallback]
    assert len(notes) == 2
    assert notes[0].startswith("receiver hook unavailable: still retrying it for up to 30 s")
    assert notes[1].startswith("receiver hook is taking messages again")
    outcomes = [e.outcome for e in harness.log.entries]
    assert outcomes[0] == DeliveryOutcome.RETRYING and outcomes[-1] == DeliveryOutcome.DELIVERED
    assert harness.log.entries[-1].attempts == 9
    assert harness.metric("sepsis_notifier_deliveries_total", receiver="hook", outcome="delivered_late") == 1
    assert harness.metric("sepsis_notifier_deliveries_retrying", receiver="hook") == 0
    assert harness.dead_letters.items == []


def test_a_resolve_stops_the_retries_of_the_episode_trigger() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, *[Reply(503)] * 12)
        harness = make_harness(_doc(rx.url(HOOK_PATH), rx.url(FALLBACK_PATH)))
        opened = make_alert(level=4)
        resolved = make_alert(sequence=1, level=0, transition=AlertTransition.RESOLVED)
        asyncio.run(harness.send(opened, resolved))
        answered = rx.at(HOOK_PATH)[12:]  # what came after the outage
    last = {e.key: e for e in harness.log.entries}
    assert last[f"{opened.alert_id}|hook"].outcome == DeliveryOutcome.FAILED
    assert last[f"{resolved.alert_id}|hook"].outcome == DeliveryOutcome.DELIVERED
    assert [json.loads(r.body)["action"] for r in answered] == ["resolve"], \
        "a trigger reached the pager after its episode was resolved (it would reopen the incident)"
    assert harness.metric("sepsis_notifier_deliveries_total", receiver="hook", outcome="superseded") == 1


def test_a_retrying_entry_left_by_a_crashed_replica_is_resumed_once_stale() -> None:
    async def scenario(primary_url: str, fallback_url: str) -> InMemoryLog:
        harness = make_harness(_doc(primary_url, fallback_url))
        clock, log_view, log = SystemClock(), NotificationLogView(), InMemoryLog()
        alert = make_alert()
        pending = Notification(alert, receiver="hook", route="x", action=action_for(alert),
                               outcome=DeliveryOutcome.RETRYING, attempts=3, failing_since_s=clock.now_s() - 240)
        # what the crashed replica last wrote: its heartbeat stopped 200 s ago (the stale limit here: 135 s)
        left = NotificationLogEntry.from_notification(pending, clock.now_s() - 200)
        fresh = NotificationLogEntry.from_notification(pending.with_(alert=make_alert(patient="OTHER1")),
                                                       clock.now_s())
        async with http_client(8) as http:
            built = build_pipeline(harness.config, harness.integrations, http, clock, NotifierMetrics(), log_view,
                                   log, InMemoryDeadLetters(), list, lambda episode: "https://n.test/ack")
            for entry in (left, fresh):
                log_view.add(entry)
                built.redelivery.observe(entry)
            assert built.redelivery.adopt_stale() == 1  # the live replica's entry (fresh heartbeat) is left alone
            await built.redelivery.wait_idle(10)
            await built.redelivery.close()
        return log

    with running_receiver() as rx:
        log = asyncio.run(scenario(rx.url(HOOK_PATH), rx.url(FALLBACK_PATH)))
        [request] = rx.at(HOOK_PATH)
    body = json.loads(request.body)
    assert body["reasons"][0] == "delayed 4 min: receiver was unavailable"
    assert [(e.key.split("|")[1], e.outcome, e.attempts) for e in log.entries] == [
        ("hook", DeliveryOutcome.DELIVERED, 4)]


def test_resumable_rebuilds_the_same_log_key() -> None:
    alert = make_alert()
    for tier, action in ((0, action_for(alert)), (2, action_for(alert))):
        item = Notification(alert, receiver="hook", tier=tier, action=action, outcome=DeliveryOutcome.RETRYING,
                            attempts=5, failing_since_s=time.time())
        entry = NotificationLogEntry.from_notification(item, time.time())
        resumed = resumable(entry)
        assert resumed is not None and resumed.log_key == item.log_key and resumed.attempts == 5
    delivered = NotificationLogEntry.from_notification(item.with_(outcome=DeliveryOutcome.DELIVERED), time.time())
    assert resumable(delivered) is None
