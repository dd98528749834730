"""The ops pages' Kafka reader: with no broker it reports "unreachable since" and stops when asked (the pages
read a copy of its book, never the broker); on the session broker it names a missing topic, reads it once it
exists, and never counts a record twice when its consumer is re-created."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson
import pytest

from devstack.broker import free_port
from notifier.adapters.kafka_ops import KafkaOpsMonitor
from notifier.console.ops import OpsBook, OpsSnapshot
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.kafka.topics import create_topic


def test_a_broker_outage_is_reported_with_its_start_and_the_reader_stops() -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=500,
                          request_timeout_ms=1_001)
    book = OpsBook()
    monitor = KafkaOpsMonitor(kafka, book, feed_topics=["raw"], dead_letter_topic="dlq", lookback_s=3600,
                              refresh_s=1.0)
    before = time.time()
    monitor.start()
    deadline = time.monotonic() + 20
    while book.snapshot().unreachable_since_s is None:
        assert time.monotonic() < deadline, "the outage was never reported"
        time.sleep(0.05)
    snap = book.snapshot()
    assert snap.unreachable_since_s is not None and snap.unreachable_since_s >= before
    assert snap.problem and snap.lag_read_at_s is None
    first = snap.unreachable_since_s
    time.sleep(1.5)  # a retry fails again: the outage keeps its start
    assert book.snapshot().unreachable_since_s == first
    monitor.stop()
    assert monitor.join(10), "the reader thread did not end after stop()"


def _wait_for(book: OpsBook, what: str, predicate: Callable[[OpsSnapshot], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate(book.snapshot()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


@pytest.mark.integration
def test_a_missing_feed_topic_is_named_then_read_once_created_without_counting_twice(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str]) -> None:
    dead_letters = make_topic(1)
    later = f"t.ops-later.{uuid.uuid4().hex[:10]}"
    with EventProducer(kafka_settings) as producer:
        producer.send(dead_letters, "k", orjson.dumps({"source": "fhir", "error_code": "bad_json"}))
        producer.flush(30)
    book = OpsBook()
    monitor = KafkaOpsMonitor(kafka_settings, book, feed_topics=[later], dead_letter_topic=dead_letters,
                              lookback_s=3600, refresh_s=1.0)
    monitor.start()
    try:
        _wait_for(book, "the missing topic named", lambda s: s.missing_topics == (later,))
        _wait_for(book, "the dead letter counted", lambda s: s.dead_letter_counts == {("fhir", "bad_json"): 1})
        create_topic(kafka_settings, later, 1, None)
        with EventProducer(kafka_settings) as producer:
            producer.send(later, "k", b"raw", [("source", b"fhir"), ("sender", b"EHR")])
            producer.flush(30)
        _wait_for(book, "the new topic's feed", lambda s: (later, "fhir", "EHR") in s.feeds)
        snap = book.snapshot()
        assert snap.missing_topics == () and snap.unreachable_since_s is None
        assert snap.dead_letter_counts == {("fhir", "bad_json"): 1}  # the re-created reader went on, not back
    finally:
        monitor.stop()
        assert monitor.join(10)
