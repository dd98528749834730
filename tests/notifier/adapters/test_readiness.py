"""Readiness of a notifier replica: the Kafka probe decides `kafka_connected`; `partitions_assigned` is informational.

* A broker outage during which the alerts poll just returns nothing (kafka-python does not raise) must
  turn `kafka_connected` false: proved with a replica whose broker address is a closed port and an
  alert source that keeps answering empty polls.
* A standby replica that the consumer group gives no partition (more replicas than partitions) is still
  ready, because it serves the acknowledgement API from the shared state topics: proved on the real broker.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from devstack.broker import free_port
from notifier.adapters.kafka_state import NotifierTopics
from sepsis_alert.kafka.config import KafkaSettings
from tests.notifier.adapters.kafka_harness import API_TOKEN, COMPACTED, eventually, make_app
from tests.notifier.harness import fast_retry
from tests.notifier.helpers import make_alert, running_receiver


def _doc(url: str) -> dict:
    return {"receivers": [{"name": "ward", "type": "webhook", "url": {"value": url},
                           "secret": {"value": "whsec-0123456789"}}],
            "route": {"receiver": "ward"}, "retry": fast_retry()}


class EmptyPolls:
    """Stands in for the alerts source during an outage: every poll returns nothing, nothing raises."""

    def __init__(self) -> None:
        self.polls = 0

    async def poll(self, timeout_ms: int) -> list:
        self.polls += 1
        await asyncio.sleep(timeout_ms / 1000)
        return []

    async def commit(self, records: list) -> None:
        raise AssertionError("nothing to commit")


def test_an_outage_with_empty_polls_turns_kafka_connected_false() -> None:
    unreachable = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1_000,
                                request_timeout_ms=2_000)
    topics = NotifierTopics(alerts="a", notification_log="l", acks="k", silences="s", dead_letter="d")
    app = make_app(unreachable, topics, _doc("http://127.0.0.1:9/hook"))

    async def scenario() -> None:
        source = EmptyPolls()
        app._source = source  # type: ignore[assignment]
        app.kafka_probe.report(True, "connected before the outage")  # what start() reports after loading state
        app.kafka_probe.start()
        app._probe_started = True
        loop = asyncio.create_task(app._alert_loop())
        try:
            await eventually(lambda: source.polls >= 3, 10, "a few empty polls")
            await eventually(lambda: not _check(app, "kafka_connected").ok, 30, "kafka_connected to turn false")
            polls = source.polls
            await eventually(lambda: source.polls >= polls + 3, 10, "more empty polls")
            assert not _check(app, "kafka_connected").ok, "an empty poll must not report the broker as reachable"
            assert "cannot reach" in _check(app, "kafka_connected").detail
        finally:
            app._stopping.set()
            await asyncio.wait_for(loop, 10)
            await asyncio.get_running_loop().run_in_executor(None, app.kafka_probe.stop)
            await app.http.aclose()

    asyncio.run(scenario())
    assert not app.readiness.is_ready()


def _check(app, name: str):  # type: ignore[no-untyped-def]
    return {c.name: c for c in app.readiness.report().checks}[name]


@pytest.mark.integration
def test_a_standby_replica_without_partitions_is_ready_and_serves_acks(
        kafka_settings: KafkaSettings, kafka_topics: dict, make_topic) -> None:  # type: ignore[no-untyped-def]
    topics = NotifierTopics(alerts=make_topic(1), notification_log=make_topic(3, COMPACTED),
                            acks=make_topic(3, COMPACTED), silences=make_topic(1, COMPACTED),
                            dead_letter=make_topic(1))
    group = f"standby-{uuid.uuid4().hex[:8]}"

    async def scenario(url: str) -> None:
        active = make_app(kafka_settings, topics, _doc(url), group=group, worker_id="active")
        standby = make_app(kafka_settings, topics, _doc(url), group=group, worker_id="standby")
        await active.start()
        await standby.start()
        try:
            apps = (active, standby)
            # one partition, two replicas: exactly one holds it once the group has settled
            await eventually(lambda: sorted(_assigned(a) for a in apps) == [0, 1], 60, "the group to settle")
            idle = next(a for a in apps if _assigned(a) == 0)
            for app in apps:
                report = app.readiness.report()
                assert report.ready, report.as_dict()
            assert "none assigned" in _check(idle, "partitions_assigned").detail
            episode = make_alert(patient=f"P-{uuid.uuid4().hex[:6]}").episode_id
            async with httpx.AsyncClient() as client:
                reply = await client.post(f"http://127.0.0.1:{idle.api_port}/ack/{episode}",
                                          headers={"Authorization": f"Bearer {API_TOKEN}"},
                                          json={"acked_by": "rn-standby"}, timeout=15)
            assert reply.status_code < 300, reply.text
            other = active if idle is standby else standby
            await eventually(lambda: episode in other.acks, 30, "the ack to reach the other replica")
        finally:
            await standby.stop()
            await active.stop()

    with running_receiver() as rx:
        asyncio.run(scenario(rx.url("/ward")))


def _assigned(app) -> int:  # type: ignore[no-untyped-def]
    """Partitions the replica reported after its last poll (-1 before its first report)."""
    detail = _check(app, "partitions_assigned").detail
    if detail[:1].isdigit():
        return int(detail.split()[0])
    return 0 if "none assigned" in detail else -1
