"""The producer fails fast while the broker is away and recovers when it is back.

Uses its own LocalBroker so the shared session broker is never disturbed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devstack.broker import LocalBroker, free_port
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.errors import BrokerStartError, KafkaUnavailableError
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord
from sepsis_alert.kafka.topics import create_topic

pytestmark = pytest.mark.integration

SLACK_S = 2.5
"""Allowed overrun of a send_all timeout on a busy 2-core machine."""


def _expect_unavailable(producer: EventProducer, topic: str, timeout_s: float, *, use_async: bool = False) -> None:
    records = [OutboundRecord(topic, "MRN-1", b"while-down")]
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as err:
        if use_async:
            asyncio.run(producer.send_all_async(records, timeout_s))
        else:
            producer.send_all(records, timeout_s)
    elapsed = time.monotonic() - started
    assert elapsed < timeout_s + SLACK_S, f"send_all took {elapsed:.1f} s with a {timeout_s} s timeout"
    assert err.value.total == 1 and err.value.acknowledged == 0


def test_producer_fails_fast_when_broker_is_down_and_recovers(own_broker: LocalBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    topic = "fault.test"
    create_topic(settings, topic)
    producer = EventProducer(settings)
    try:
        producer.send_all([OutboundRecord(topic, "MRN-1", b"before")], timeout_s=30)

        own_broker.stop()  # graceful
        _expect_unavailable(producer, topic, 3.0)
        _expect_unavailable(producer, topic, 2.0, use_async=True)
        own_broker.start(180)  # same ports, same data
        producer.send_all([OutboundRecord(topic, "MRN-1", b"after-restart")], timeout_s=30)

        own_broker.kill()  # crash, no clean shutdown
        _expect_unavailable(producer, topic, 3.0)
        own_broker.start(180)
        producer.send_all([OutboundRecord(topic, "MRN-1", b"after-crash")], timeout_s=30)
    finally:
        producer.close()

    values = [r.value for r in read_all(settings, topic, timeout_s=30)]
    assert values[0] == b"before"
    assert b"after-restart" in values and b"after-crash" in values
    assert values.index(b"after-restart") < values.index(b"after-crash")
    # Records whose send_all timed out may still have been written later (at-least-once).
    assert set(values) <= {b"before", b"while-down", b"after-restart", b"after-crash"}


def test_producer_without_any_broker_fails_within_timeout() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    producer = EventProducer(settings)  # must not block or raise: the broker may come later
    try:
        _expect_unavailable(producer, "any.topic", 2.0)
    finally:
        started = time.monotonic()
        producer.close()
        assert time.monotonic() - started < 10


def test_restart_keeps_ports_and_data(own_broker: LocalBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    create_topic(settings, "kept")
    ports = (own_broker.port, own_broker.controller_port)
    own_broker.restart(down_s=1.0)
    assert (own_broker.port, own_broker.controller_port) == ports
    again = LocalBroker(own_broker.data_dir)  # a new handle finds the running broker and its ports
    assert again.is_running() and again.bootstrap == own_broker.bootstrap
    with EventProducer(settings) as producer:
        producer.send_all([OutboundRecord("kept", "k", b"v")], timeout_s=30)


def test_start_failure_reports_reason_and_log(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    busy = LocalBroker(tmp_path / "busy", port=kafka_broker.port)
    with pytest.raises(BrokerStartError, match="already in use"):
        busy.start(30)
    broken = LocalBroker(tmp_path / "broken", jvm_opts=["-Xmx1k"])
    with pytest.raises(BrokerStartError) as err:
        broken.start(60)
    assert "heap" in str(err.value).lower()
    assert not broken.is_running()
