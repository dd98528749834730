"""The ops pages' Kafka reader with no broker: it reports "unreachable since" and stops when asked, without
ever blocking the caller (the pages read a copy of its book)."""

from __future__ import annotations

import time

from notifier.adapters.kafka_ops import KafkaOpsMonitor
from notifier.console.ops import OpsBook
from sepsis_alert.kafka.broker import free_port
from sepsis_alert.kafka.config import KafkaSettings


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
