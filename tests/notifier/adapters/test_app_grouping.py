"""Grouping end to end on the real broker: Kafka in, a rate-limited chat receiver on 127.0.0.1 out.

A burst becomes group messages; each member is logged once in the notification-log topic,
is not re-sent by a restarted replica, and keeps its own escalation timer and ack link.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import httpx
import orjson
import pytest

from notifier.adapters.kafka_state import NotifierTopics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.notifier.adapters.kafka_harness import eventually, make_app, make_topics, produce
from tests.notifier.harness import fast_retry
from tests.notifier.helpers import Receiver, make_alert, running_receiver

pytestmark = pytest.mark.integration

EPISODE = re.compile(r"episode (ep-[0-9a-f]+)")


def _doc(rx: Receiver, route: dict, escalation: list | None = None) -> dict:
    return {
        "receivers": [
            {"name": "ward-chat", "type": "slack", "url": {"value": rx.url("/ward-chat")}, "rate_per_s": 1.0,
             "burst": 1, "group": {"max_group_size": 20}},
            {"name": "rrt", "type": "webhook", "url": {"value": rx.url("/rrt")},
             "secret": {"value": "whsec-0123456789"}},
        ],
        "escalation_policies": escalation or [],
        "route": route,
        "retry": fast_retry(), "escalation_tick_s": 0.1, "paging": {"min_level": 1},
    }


def _episodes(rx: Receiver, path: str) -> list[str]:
    return [e for r in rx.at(path) for e in EPISODE.findall(r.body.decode())]


@pytest.fixture
def topics(kafka_topics: dict, make_topic) -> NotifierTopics:
    return make_topics(make_topic)


def test_burst_is_grouped_logged_once_per_member_and_not_resent_after_restart(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    alerts = [make_alert(patient=f"P-GRP-{i:02d}", level=2) for i in range(10)]
    doc_route = {"receiver": "ward-chat"}

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx, doc_route))
        await app.start()
        try:
            produce(kafka_settings, topics.alerts, *alerts)
            await eventually(lambda: len(_episodes(rx, "/ward-chat")) >= 10, what="every alert of the burst")
        finally:
            await app.stop()
        sent = len(rx.at("/ward-chat"))
        assert sent < 10  # grouped: one message per token instead of one per alert
        # A replica in a new consumer group re-reads every alert: only the notification log stops a re-send.
        replica = make_app(kafka_settings, topics, _doc(rx, doc_route))
        await replica.start()
        try:
            assert all(replica.log_view.get(f"{a.alert_id}|ward-chat") is not None for a in alerts)
            await eventually(lambda: replica.metrics.registry.get_sample_value(
                "sepsis_notifier_deduplicated_total", {"reason": "already_delivered"}) == 10, what="re-read burst")
            await asyncio.sleep(0.5)  # give a wrong re-send the time to happen
            assert len(rx.at("/ward-chat")) == sent
        finally:
            await replica.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        assert Counter(_episodes(rx, "/ward-chat")) == Counter(a.episode_id for a in alerts)  # each exactly once
    log = [json.loads(r.value) for r in read_all(kafka_settings, topics.notification_log)]
    assert Counter((e["alert_id"], e["receiver"], e["outcome"]) for e in log) == Counter(
        (a.alert_id, "ward-chat", "delivered") for a in alerts)  # every member recorded once, as sent


def test_grouped_members_escalate_per_episode_and_each_ack_link_stops_its_own(
        kafka_settings: KafkaSettings, topics: NotifierTopics) -> None:
    alerts = [make_alert(patient=f"P-GESC-{i}", level=3) for i in range(3)]
    chain = [{"name": "chain", "tiers": [{"receiver": "ward-chat"}, {"receiver": "rrt", "delay_s": 2.0}]}]

    async def scenario(rx: Receiver) -> None:
        app = make_app(kafka_settings, topics, _doc(rx, {"escalation": "chain"}, chain))
        await app.start()
        try:
            produce(kafka_settings, topics.alerts, *alerts)
            await eventually(lambda: len(_episodes(rx, "/ward-chat")) >= 3, what="tier 0 of every alert")
            groups = [orjson.loads(r.body) for r in rx.at("/ward-chat")
                      if len(EPISODE.findall(r.body.decode())) > 1]
            assert groups, "the tier-0 burst should have produced a group message"
            section = next(b for b in groups[0]["blocks"] if b["type"] == "section" and "accessory" in b)
            acked = EPISODE.findall(section["text"]["text"])[0]
            async with httpx.AsyncClient() as client:  # the member's own link, from inside the group message
                done = await client.post(section["accessory"]["url"])
                assert done.status_code == 200
            others = {a.episode_id for a in alerts} - {acked}
            await eventually(lambda: {json.loads(r.body)["episode_id"] for r in rx.at("/rrt")} == others,
                             timeout_s=15, what="tier 1 for the two unacknowledged episodes")
            await asyncio.sleep(0.5)
            assert acked not in {json.loads(r.body)["episode_id"] for r in rx.at("/rrt")}
            assert app.tracker.states[acked].acked_at_s is not None
        finally:
            await app.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx))
        assert len(rx.at("/rrt")) == 2
