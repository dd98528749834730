"""The notifier end to end on the real broker: Kafka in, loopback receivers out, acks, silences, restarts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import httpx
import orjson
import pytest

from notifier.adapters.kafka_state import NotifierTopics
from schemas.alert import AlertTransition
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.notifier.adapters.kafka_harness import (
    API_TOKEN,
    PD_WEBHOOK_SECRET,
    eventually,
    make_app,
    make_topics,
    produce,
)
from tests.notifier.harness import fast_retry
from tests.notifier.helpers import Receiver, make_alert, running_receiver

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _doc(rx: Receiver, **extra: object) -> dict:
    receivers = [{"name": name, "type": "webhook", "url": {"value": rx.url(f"/{name}")},
                  "secret": {"value": "whsec-0123456789"},
                  "phi": {"allow": ["unit", "bed", "level", "transition", "scores", "reasons", "links"]}}
                 for name in ("nurse", "rrt", "intensivist", "ward")]
    doc: dict = {
        "receivers": receivers,
        "escalation_policies": [{"name": "chain", "tiers": [
            {"receiver": "nurse"}, {"receiver": "rrt", "delay_s": 1.0}, {"receiver": "intensivist", "delay_s": 1.0}]}],
        "route": {"receiver": "ward", "routes": [{"match": {"min_level": 3}, "escalation": "chain"}]},
        "retry": fast_retry(), "escalation_tick_s": 0.1, "max_silence_s": 3600,
        "paging": {"min_level": 1},  # these tests are about delivery: every first alert of an episode pages
    }
    doc.update(extra)
    return doc


@pytest.fixture
def topics(kafka_topics: dict, make_topic) -> NotifierTopics:
    return make_topics(make_topic)


def test_alert_from_kafka_is_delivered_logged_and_not_resent_after_restart(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    first, second = make_alert(patient="P-A", level=2), make_alert(patient="P-B", level=2)

    async def scenario(rx: Receiver) -> None:
        produce(kafka_settings, topics.alerts, first)
        app = make_app(kafka_settings, topics, _doc(rx))
        await app.start()
        try:
            await eventually(lambda: len(rx.at("/ward")) == 1, what="first delivery")
        finally:
            await app.stop()
        # A second notifier and a restarted one, each in a new consumer group so that it re-reads every alert
        # from the beginning: only the notification log can stop them from paging again.
        for round_ in (1, 2):
            replica = make_app(kafka_settings, topics, _doc(rx))
            await replica.start()
            try:
                assert replica.log_view.get(f"{first.alert_id}|ward") is not None  # loaded at start-up
                if round_ == 2:
                    produce(kafka_settings, topics.alerts, second)
                    await eventually(lambda: len(rx.at("/ward")) == 2, what="the new alert")
                await asyncio.sleep(1.0)  # give a wrong re-send the time to happen
            finally:
                await replica.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        episodes = [json.loads(r.body)["episode_id"] for r in rx.at("/ward")]
    assert episodes == [first.episode_id, second.episode_id]  # each sent exactly once
    log = [json.loads(r.value) for r in read_all(kafka_settings, topics.notification_log)]
    assert {(e["alert_id"], e["receiver"], e["outcome"]) for e in log} == {
        (first.alert_id, "ward", "delivered"), (second.alert_id, "ward", "delivered")}


def test_escalates_when_not_acknowledged_and_stops_on_ack_link(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    alert = make_alert(patient="P-ESC", level=3)

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx))
        await app.start()
        try:
            produce(kafka_settings, topics.alerts, alert)
            await eventually(lambda: len(rx.at("/nurse")) == 1, what="tier 0")
            await eventually(lambda: len(rx.at("/rrt")) == 1, timeout_s=10, what="tier 1 after its delay")
            link = json.loads(rx.at("/rrt")[0].body)["ack_url"]
            async with httpx.AsyncClient() as client:
                page = await client.get(link)  # a phone's preview fetching the link acknowledges nothing
                assert page.status_code == 200 and "<form method='post'" in page.text
                assert app.tracker.states[alert.episode_id].acked_at_s is None
                forged = await client.post(link.replace("?t=", "?t=1"))
                assert forged.status_code == 403
                done = await client.post(link)
                assert done.status_code == 200 and "acknowledged" in done.text
            await asyncio.sleep(1.5)  # longer than the next tier's delay
            assert rx.at("/intensivist") == []
            assert app.metrics.registry.get_sample_value("sepsis_notifier_time_to_acknowledge_seconds_count",
                                                         {"via": "link"}) == 1
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
    acks = [json.loads(r.value) for r in read_all(kafka_settings, topics.acks)]
    assert [(a["episode_id"], a["via"]) for a in acks] == [(alert.episode_id, "link")]


def test_escalation_timer_survives_a_restart_and_a_higher_level_escalates_at_once(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    opened = make_alert(patient="P-RESTART", level=3)
    worse = make_alert(patient="P-RESTART", sequence=1, level=4, previous_level=3,
                       transition=AlertTransition.ESCALATED)

    async def scenario(rx: Receiver) -> None:
        doc = _doc(rx)
        doc["escalation_policies"][0]["tiers"][1]["delay_s"] = 2.0
        app = make_app(kafka_settings, topics, doc, group="restart-group")
        await app.start()
        try:
            produce(kafka_settings, topics.alerts, opened)
            await eventually(lambda: len(rx.at("/nurse")) == 1, what="tier 0")
        finally:
            await app.stop()
        assert rx.at("/rrt") == []
        restarted = make_app(kafka_settings, topics, doc, group="restart-group")
        await restarted.start()
        try:
            await eventually(lambda: len(rx.at("/rrt")) == 1, timeout_s=10, what="tier 1 after the restart")
            produce(kafka_settings, topics.alerts, worse)
            await eventually(lambda: len(rx.at("/intensivist")) == 1, timeout_s=10,
                             what="immediate escalation on a higher level")
            await eventually(lambda: len(rx.at("/nurse")) == 2, what="tier 0 of the new alert")
        finally:
            await restarted.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        assert len(rx.at("/nurse")) == 2  # tier 0 for each alert, never twice for the same one
        assert json.loads(rx.at("/intensivist")[0].body)["level"] == 4


def test_silence_suppresses_then_expires_and_is_audited(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    muted = make_alert(patient="P-SIL", level=2)
    later = make_alert(patient="P-SIL-2", level=2)  # another episode on the silenced unit

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx))
        await app.start()
        base = f"http://127.0.0.1:{app.api_port}"
        try:
            async with httpx.AsyncClient() as client:
                too_long = await client.post(f"{base}/silences", headers=AUTH, json={
                    "unit": "MICU", "duration_s": 7200, "created_by": "charge.rn", "reason": "EHR downtime"})
                assert too_long.status_code == 422 and "longer than the maximum" in too_long.text
                unauthorised = await client.post(f"{base}/silences", json={
                    "unit": "MICU", "duration_s": 2, "created_by": "x", "reason": "no token"})
                assert unauthorised.status_code == 401
                created = await client.post(f"{base}/silences", headers=AUTH, json={
                    "unit": "MICU", "duration_s": 2.5, "created_by": "charge.rn", "reason": "EHR downtime"})
                assert created.status_code == 201
                silence = created.json()
                assert (await client.get(f"{base}/silences")).status_code == 401  # silences name units and reasons
                listed = (await client.get(f"{base}/silences", headers=AUTH)).json()
                assert [s["id"] for s in listed] == [silence["id"]]
            produce(kafka_settings, topics.alerts, muted)
            await eventually(lambda: app.metrics.registry.get_sample_value("sepsis_notifier_silenced_total") == 1,
                             what="the silenced alert")
            assert rx.at("/ward") == []
            await eventually(lambda: time.time() > silence["ends_at_s"], timeout_s=5, what="silence end")
            produce(kafka_settings, topics.alerts, later)
            await eventually(lambda: len(rx.at("/ward")) == 1, what="delivery after the silence expired")
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        assert json.loads(rx.at("/ward")[0].body)["alert_id"] == later.alert_id
    audit = [json.loads(r.value) for r in read_all(kafka_settings, topics.silences)]
    assert [(a["action"], a["actor"], a["silence"]["reason"]) for a in audit] == [
        ("create", "charge.rn", "EHR downtime")]


def test_pagerduty_webhook_acknowledges_and_malformed_alert_is_dead_lettered(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    alert = make_alert(patient="P-PD", level=3)

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx))
        await app.start()
        base = f"http://127.0.0.1:{app.api_port}"
        try:
            produce(kafka_settings, topics.alerts, alert, raw=b'{"kind": "alert", "level": 9}')
            await eventually(lambda: len(rx.at("/nurse")) == 1, what="tier 0")
            body = orjson.dumps({"event": {"id": "01X", "event_type": "incident.acknowledged",
                                           "resource_type": "incident", "agent": {"id": "PUSER1"},
                                           "data": {"id": "Q1", "type": "incident", "incident_key": alert.episode_id}}})
            signature = "v1=" + hmac.new(PD_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            async with httpx.AsyncClient() as client:
                bad = await client.post(f"{base}/webhooks/pagerduty", content=body,
                                        headers={"X-PagerDuty-Signature": "v1=00"})
                assert bad.status_code == 401
                ok = await client.post(f"{base}/webhooks/pagerduty", content=body,
                                       headers={"X-PagerDuty-Signature": f"v1=dead,{signature}"})
                assert ok.status_code == 204
            assert app.tracker.states[alert.episode_id].acked_at_s is not None
            await asyncio.sleep(1.5)
            assert rx.at("/rrt") == []
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
    acks = [json.loads(r.value) for r in read_all(kafka_settings, topics.acks)]
    assert [(a["via"], a["acked_by"]) for a in acks] == [("pagerduty", "pagerduty:PUSER1")]
    dead = [json.loads(r.value) for r in read_all(kafka_settings, topics.dead_letter)]
    assert [(d["error_code"], d["source"]) for d in dead] == [("invalid_alert", "notifier")]
    assert "level" in dead[0]["error_message"]


def test_api_ack_with_bearer_token_is_mirrored_to_pagerduty(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    alert = make_alert(patient="P-MIRROR", level=4)

    async def scenario(rx: Receiver) -> None:
        doc = _doc(rx)
        doc["receivers"].append({"name": "pd", "type": "pagerduty", "routing_key": {"value": "pd-routing-key-0001"},
                                 "url": {"value": rx.url("/v2/enqueue")}})
        doc["route"] = {"receiver": "pd"}
        app = make_app(kafka_settings, topics, doc)
        await app.start()
        base = f"http://127.0.0.1:{app.api_port}"
        try:
            produce(kafka_settings, topics.alerts, alert)
            await eventually(lambda: len(rx.at("/v2/enqueue")) == 1, what="the trigger")
            async with httpx.AsyncClient() as client:
                denied = await client.post(f"{base}/ack/{alert.episode_id}", json={"by": "rn.jones"})
                assert denied.status_code == 401
                ok = await client.post(f"{base}/ack/{alert.episode_id}", json={"by": "rn.jones"}, headers=AUTH)
                assert ok.status_code == 200 and ok.json()["acked_by"] == "rn.jones"
            await eventually(lambda: len(rx.at("/v2/enqueue")) == 2, what="the acknowledge event")
        finally:
            await app.stop()

    with running_receiver(202) as rx:
        asyncio.run(scenario(rx))
        events = [orjson.loads(r.body) for r in rx.at("/v2/enqueue")]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", alert.episode_id), ("acknowledge", alert.episode_id)]


def test_an_acknowledgement_follows_the_page_into_every_channel_that_got_it(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    """Chat and webhooks that got the page hear at once who took it (never the free-text comment), so a channel
    does not send a second person; one follow-up per alert and receiver."""
    alert = make_alert(patient="P-FOLLOW", level=3)

    async def scenario(rx: Receiver) -> None:
        doc = _doc(rx)
        doc["receivers"].append({"name": "team-chat", "type": "slack", "url": {"value": rx.url("/slack")},
                                 "phi": {"allow": ["unit", "bed", "level", "transition", "reasons", "links"]}})
        doc["route"] = {"receiver": "ward", "continue": True,
                        "routes": [{"match": {"min_level": 3}, "receiver": "team-chat"}]}
        doc["escalation_policies"] = []
        app = make_app(kafka_settings, topics, doc)
        await app.start()
        base = f"http://127.0.0.1:{app.api_port}"
        try:
            produce(kafka_settings, topics.alerts, alert)
            await eventually(lambda: len(rx.at("/slack")) == 1, what="the page in chat")
            async with httpx.AsyncClient() as client:
                ok = await client.post(f"{base}/ack/{alert.episode_id}", headers=AUTH,
                                       json={"by": "rn.jones", "snooze_minutes": 60})
                assert ok.status_code == 200
            await eventually(lambda: len(rx.at("/slack")) == 2, what="the follow-up in chat")
            await app.record_action(alert.episode_id, "dr.lee", "close", reason="not_sepsis",
                                    comment="Mrs Example is on comfort care")
            await asyncio.sleep(1.0)
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        chat = [orjson.loads(r.body) for r in rx.at("/slack")]
    assert len(chat) == 2, "the close of an alert already acknowledged in chat is not posted again"
    follow_up = json.dumps(chat[1])
    assert chat[1]["text"].startswith("Acknowledged")
    assert "snoozed for 60 min by rn.jones (api)" in follow_up
    assert "Mrs Example" not in follow_up


def test_topic_names_come_from_the_settings_when_none_are_passed(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    """`SEPSIS_NOTIFIER_TOPIC_*` (here as settings) point a whole replica at private topics."""
    alert = make_alert(patient="P-TOPICS", level=2)

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx), topics_in_settings=True)
        assert app.topics == topics
        produce(kafka_settings, topics.alerts, alert)
        await app.start()
        try:
            await eventually(lambda: len(rx.at("/ward")) == 1, what="delivery from the private alerts topic")
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
    logged = [json.loads(r.value) for r in read_all(kafka_settings, topics.notification_log)]
    assert [entry["alert_id"] for entry in logged] == [alert.alert_id]


def test_a_page_does_not_wait_behind_a_throttled_chat_channel(kafka_settings: KafkaSettings,
                                                              topics: NotifierTopics) -> None:
    """Chat takes one message every 2 s here; four ward messages take 6 s. A page to the pager polled meanwhile
    goes out at once: the notifier polls again without waiting for the earlier poll's deliveries."""
    ward = [make_alert(patient=f"P-W{n}", level=2, unit="4W") for n in range(4)]
    urgent = make_alert(patient="P-URGENT", level=4, unit="MICU")

    async def scenario(rx: Receiver) -> None:
        doc = _doc(rx, route={"receiver": "rrt", "routes": [{"match": {"units": ["4W"]}, "receiver": "ward"}]})
        next(r for r in doc["receivers"] if r["name"] == "ward").update(rate_per_s=0.5, burst=1)
        app = make_app(kafka_settings, topics, doc)
        await app.start()
        try:
            produce(kafka_settings, topics.alerts, *ward)
            await eventually(lambda: len(rx.at("/ward")) >= 1, what="the first ward message")
            produce(kafka_settings, topics.alerts, urgent)
            await eventually(lambda: len(rx.at("/rrt")) >= 1, what="the page")
            await eventually(lambda: len(rx.at("/ward")) == 4, timeout_s=30, what="every ward message")
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        ward_times = [r.at for r in rx.at("/ward")]
        [page] = rx.at("/rrt")
    assert ward_times[-1] - ward_times[0] > 5.0  # the throttle spaced them
    assert page.at < ward_times[-1] - 1.0, "the page waited behind the throttled ward channel"
