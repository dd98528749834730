"""ConsumerLag: the pure lag arithmetic, and the gauges fed by a real consumer on the session broker."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import make_consumer
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.ops.kafka_lag import ConsumerLag, lag_by_partition


def test_lag_arithmetic_leaves_unknown_partitions_out() -> None:
    positions = {("t", 0): 5, ("t", 1): None, ("t", 2): 9}
    highwaters = {("t", 0): 12, ("t", 1): 3, ("t", 2): 7}
    assert lag_by_partition(positions, highwaters) == {("t", 0): 7, ("t", 2): 0}


def test_set_exports_gauges() -> None:
    registry = CollectorRegistry()
    lag = ConsumerLag("g", registry, clock=lambda: 1234.0)
    lag.set({("sepsis.alerts", 3): 42}, assigned=6)
    labels = {"group": "g", "topic": "sepsis.alerts", "partition": "3"}
    assert registry.get_sample_value("sepsis_kafka_consumer_lag_records", labels) == 42
    assert registry.get_sample_value("sepsis_kafka_consumer_assigned_partitions", {"group": "g"}) == 6
    assert registry.get_sample_value("sepsis_kafka_consumer_lag_updated_timestamp_seconds", {"group": "g"}) == 1234.0
    assert lag.total() == 42


@pytest.mark.integration
def test_lag_from_a_real_consumer(kafka_settings: KafkaSettings, make_topic) -> None:  # type: ignore[no-untyped-def]
    topic = make_topic(partitions=1)
    with EventProducer(kafka_settings) as producer:
        for i in range(10):
            producer.send(topic, "k", f"v{i}".encode())
        producer.flush()
    registry = CollectorRegistry()
    lag = ConsumerLag("lag-test", registry, min_interval_s=0)
    consumer = make_consumer(kafka_settings, None, [topic], max_poll_records=4)
    try:
        consumed = 0
        deadline = time.monotonic() + 60
        while consumed == 0 and time.monotonic() < deadline:  # first fetch: 4 of 10 records
            consumed += sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
        assert consumed == 4
        assert lag.update(consumer) == {(topic, 0): 6}
        assert registry.get_sample_value("sepsis_kafka_consumer_lag_records",
                                         {"group": "lag-test", "topic": topic, "partition": "0"}) == 6
        while consumed < 10 and time.monotonic() < deadline:
            consumed += sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
        assert lag.update(consumer) == {(topic, 0): 0}
    finally:
        consumer.close(autocommit=False)


class _ConsumerWithoutBroker:
    """Stands in for a KafkaConsumer whose broker went away: position() raises as kafka-python's does."""

    def __init__(self) -> None:
        from kafka import TopicPartition

        self.tp = TopicPartition("sepsis.observations", 0)

    def assignment(self) -> set[object]:
        return {self.tp}

    def highwater(self, tp: object) -> int:
        return 10

    def position(self, tp: object, timeout_ms: int | None = None) -> int:
        from kafka.errors import KafkaConnectionError

        raise KafkaConnectionError("broker gone")


def test_update_never_raises_and_keeps_the_last_figures() -> None:
    # issue #20: the detector exited when position() raised KafkaConnectionError inside update()
    registry = CollectorRegistry()
    lag = ConsumerLag("g", registry, clock=lambda: 50.0)
    lag.set({("sepsis.observations", 0): 4}, assigned=1)
    assert lag.update(_ConsumerWithoutBroker()) == {}
    assert lag.failures == 1
    assert lag.total() == 4  # unchanged, and the timestamp did not move: the outage shows as staleness
    assert registry.get_sample_value("sepsis_kafka_consumer_lag_updated_timestamp_seconds", {"group": "g"}) == 50.0


class _CountingConsumer:
    """A consumer 3 records behind on one partition that counts how often it is read."""

    def __init__(self) -> None:
        from kafka import TopicPartition

        self.tp = TopicPartition("sepsis.alerts", 0)
        self.reads = 0

    def assignment(self) -> set[object]:
        return {self.tp}

    def highwater(self, tp: object) -> int:
        return 10

    def position(self, tp: object, timeout_ms: int | None = None) -> int:
        self.reads += 1
        return 7


def test_update_reads_the_consumer_at_most_once_per_interval() -> None:
    now = [100.0]
    lag = ConsumerLag("g", registry=None, min_interval_s=1.0, monotonic=lambda: now[0])
    consumer = _CountingConsumer()
    assert lag.update(consumer) == {("sepsis.alerts", 0): 3}
    now[0] += 0.5
    assert lag.update(consumer) == {("sepsis.alerts", 0): 3}  # the last read's figures
    assert consumer.reads == 1
    now[0] += 0.6
    lag.update(consumer)
    assert consumer.reads == 2


def test_update_reads_again_at_once_while_the_last_read_was_incomplete() -> None:
    now = [100.0]
    lag = ConsumerLag("g", registry=None, min_interval_s=1.0, monotonic=lambda: now[0])
    consumer = _CountingConsumer()
    assigned: set[object] = set()
    consumer.assignment = lambda: assigned  # type: ignore[method-assign]
    assert lag.update(consumer) == {}  # before the group assigned anything
    assigned.add(consumer.tp)
    assert lag.update(consumer) == {("sepsis.alerts", 0): 3}  # the assignment changed: read at once
    assert consumer.reads == 1
