"""The ops pages over real HTTP on a real notifier (session broker): raw events and dead letters produced to
Kafka show on the pages for the ops role (never a dead letter's body), a consumer group's lag, the routing
tree without secrets, silences created, expired and audited through the forms; a responder gets 403."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from notifier.adapters.kafka_state import NotifierTopics
from notifier.app import NotifierApp
from schemas.dead_letter import DeadLetter, DeadLetterDetail
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import make_consumer
from sepsis_alert.kafka.producer import EventProducer
from tests.notifier.adapters.kafka_harness import make_topics
from tests.notifier.console.conftest import console_app, csrf_of, running, sign_in, users_file, with_receiver
from tests.notifier.helpers import Receiver

pytestmark = pytest.mark.integration

OPS_PAGES = ("/console/ops/feeds", "/console/ops/lag", "/console/ops/dead-letters", "/console/ops/routing",
             "/console/silences")
NAME = "DOE^JANE"


def _doc(rx: Receiver) -> dict[str, Any]:
    receivers = [{"name": name, "type": "webhook", "url": {"value": rx.url(f"/{name}-T0K3N")},
                  "secret": {"value": "whsec-0123456789"}} for name in ("nurse", "rrt")]
    return {"receivers": receivers,
            "escalation_policies": [{"name": "chain", "tiers": [{"receiver": "nurse"},
                                                                {"receiver": "rrt", "delay_s": 90}]}],
            "route": {"receiver": "nurse", "routes": [{"name": "severe", "match": {"min_level": 3},
                                                       "escalation": "chain"}]}}


def _produce_input(kafka: KafkaSettings, raw_topic: str, dead_letter_topic: str) -> None:
    letter = DeadLetter.for_payload(f"MSH|^~\\&|LAB|...\rPID|1||123||{NAME}".encode(), source="hl7v2",
                                    worker="hl7-test", error_code="parse_error",
                                    error_message=f"PID-5 {NAME!r} not valid",
                                    details=[DeadLetterDetail(location="PID-5", message=NAME)],
                                    received_at=datetime.now(UTC))
    with EventProducer(kafka) as producer:
        for sender in ("LAB1", "LAB1", "ADT9"):
            producer.send(raw_topic, "P1", f"MSH|^~\\&|{sender}|...|{NAME}".encode(),
                          [("source", b"hl7v2"), ("sender", sender.encode())])
        producer.send(dead_letter_topic, "P1", letter.to_json_bytes())
        producer.flush(30)


def _commit_one(kafka: KafkaSettings, topic: str, group: str) -> None:
    """A consumer group that read one record of three: 2 behind."""
    consumer = make_consumer(kafka, group, [topic])
    try:
        while not consumer.poll(timeout_ms=500, max_records=1):
            pass
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(1, "", -1)})
    finally:
        consumer.close(autocommit=False)


async def _page_with(client: httpx.AsyncClient, path: str, text: str, timeout_s: float = 30.0) -> str:
    """The page once it shows `text` (the reader thread fills the book within a poll or a refresh)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page = await client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        if text in page.text or time.monotonic() > deadline:
            assert text in page.text, f"{path} never showed {text!r}"
            return page.text
        await asyncio.sleep(0.2)


def test_ops_pages_show_feeds_lag_dead_letters_routing_and_silences(
        kafka_settings: KafkaSettings, kafka_topics: object, make_topic: Callable[..., str], tmp_path: Path) -> None:
    topics: NotifierTopics = make_topics(make_topic)
    raw_topic = make_topic(1)
    group = f"ops-test-{uuid.uuid4().hex[:6]}"
    _produce_input(kafka_settings, raw_topic, topics.dead_letter)
    _commit_one(kafka_settings, raw_topic, group)

    async def scenario(rx: Receiver) -> None:
        app: NotifierApp = console_app(kafka_settings, topics, _doc(rx), users_file(tmp_path),
                                       console_feed_topics=[raw_topic], console_feed_silent_minutes=0.001,
                                       console_ops_refresh_s=1)
        async with running(app), httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.api_port}",
                                                   timeout=10) as client:
            assert (await sign_in(client, "ops")).status_code == 303
            feeds = await _page_with(client, "/console/ops/feeds", "ADT9")
            assert re.search(r'<tr class="silent"><td data-label="Feed">hl7v2 · LAB1</td>', feeds)
            assert NAME not in feeds

            letters = await _page_with(client, "/console/ops/dead-letters", "parse_error")
            assert "hl7-test" in letters and "PID-5" in letters
            assert "DOE" not in letters and "JANE" not in letters  # neither body, nor message, nor detail text

            lag = await _page_with(client, "/console/ops/lag", group)
            row = re.search(rf"<td data-label=\"Group\">{group}</td>.*?</tr>", lag, re.S)
            assert row is not None and '<td data-label="Behind" class="behind">2</td>' in row.group(0)

            routing = await client.get("/console/ops/routing")
            assert "escalation chain: nurse → rrt (+90 s)" in routing.text and "min_level=3" in routing.text
            assert "T0K3N" not in routing.text and "whsec" not in routing.text

            page = await client.get("/console/silences")
            created = await client.post("/console/silences", data={"csrf": csrf_of(page.text), "matchers": "unit=MICU",
                                                                   "hours": "2", "comment": "EHR downtime"})
            assert created.status_code == 303
            page = await client.get("/console/silences")
            silence_id = re.search(r'/console/silences/([^/"]+)/expire', page.text)
            assert silence_id is not None and "No silence has ended yet." in page.text
            expired = await client.post(f"/console/silences/{silence_id.group(1)}/expire",
                                        data={"csrf": csrf_of(page.text)})
            assert expired.status_code == 303
            page = await client.get("/console/silences")
            ended = page.text.split("<h2>Ended</h2>")[1]
            assert "unit=MICU" in ended and "EHR downtime" in ended and '<td data-label="Ended by">ops</td>' in ended
            assert "No current silences." in page.text

            without_token = await client.post("/console/silences", data={"matchers": "unit=X", "hours": "1",
                                                                         "comment": "no token"})
            assert without_token.status_code == 403

            nav = (await client.get("/console/")).text
            assert all(f'href="{p}"' in nav for p in OPS_PAGES)

    with_receiver(scenario)


def test_ops_pages_refuse_responders_and_viewers(
        kafka_settings: KafkaSettings, kafka_topics: object, make_topic: Callable[..., str], tmp_path: Path) -> None:
    topics: NotifierTopics = make_topics(make_topic)

    async def scenario(rx: Receiver) -> None:
        app = console_app(kafka_settings, topics, _doc(rx), users_file(tmp_path), console_feed_topics=[])
        async with running(app):
            for user in ("responder", "viewer"):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.api_port}", timeout=10) as client:
                    assert (await sign_in(client, user)).status_code == 303
                    for path in OPS_PAGES:
                        assert (await client.get(path)).status_code == 403, (user, path)
                    worklist = await client.get("/console/")
                    csrf = csrf_of(worklist.text)
                    assert 'href="/console/ops/feeds"' not in worklist.text
                    refused = await client.post("/console/silences", data={"csrf": csrf, "matchers": "unit=MICU",
                                                                          "hours": "1", "comment": "not allowed"})
                    assert refused.status_code == 403
                    assert app.list_silences() == []

    with_receiver(scenario)
