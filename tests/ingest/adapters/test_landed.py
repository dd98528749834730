"""Reading back from the real session broker whether records of a failed write are there after all."""

from __future__ import annotations

import time

import pytest

from ingest.adapters.landed import CLOCK_SLACK_MS, KafkaLandedCheck, partition_of
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord
from tests.conftest import TopicFactory


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_records_on_the_broker_are_found_and_others_are_not(kafka_settings: KafkaSettings,
                                                            make_topic: TopicFactory) -> None:
    topic = make_topic(partitions=6)
    other = make_topic(partitions=3)
    since = _now_ms()
    stored = [OutboundRecord(topic, f"patient-{n}", f'{{"n": {n}}}'.encode()) for n in range(20)]
    stored.append(OutboundRecord(other, "S|M1", b"marker"))
    with EventProducer(kafka_settings) as producer:
        producer.send_all([*stored, OutboundRecord(topic, "patient-x", b"noise")], 10.0)
    never_written = [OutboundRecord(topic, "patient-3", b'{"n": 999}'),  # same key, other value
                     OutboundRecord(topic, "patient-404", b'{"n": 3}'),  # same value, other key
                     OutboundRecord(other, "S|M2", b"marker")]
    check = KafkaLandedCheck(kafka_settings)
    assert check([*stored, *never_written], since, 20.0) == [True] * len(stored) + [False] * len(never_written)


def test_only_what_was_written_since_the_earlier_attempt_counts(kafka_settings: KafkaSettings,
                                                                make_topic: TopicFactory) -> None:
    topic = make_topic(partitions=2)
    record = OutboundRecord(topic, "patient-1", b"same bytes")
    with EventProducer(kafka_settings) as producer:
        producer.send_all([record], 10.0)
    later = _now_ms() + CLOCK_SLACK_MS + 60_000
    assert KafkaLandedCheck(kafka_settings)([record], later, 20.0) == [False]


def test_the_partition_is_the_producers() -> None:
    # A keyed record's partition must be the one kafka-python's default partitioner (the producer's) chose, or
    # the read-back would look in the wrong place.
    assert [partition_of(b"patient-1", 6), partition_of(b"patient-2", 6), partition_of(b"", 6)] == [
        _producer_partition(b"patient-1", 6), _producer_partition(b"patient-2", 6), _producer_partition(b"", 6)]


def _producer_partition(key: bytes, partitions: int) -> int:
    from kafka.partitioner import DefaultPartitioner

    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

    chosen: int = DefaultPartitioner().partition("t", key, key, b"", b"", Cluster())
    return chosen


def test_a_broker_that_cannot_be_reached_raises_unavailable() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", bootstrap_timeout_ms=1_000)
    with pytest.raises(KafkaUnavailableError):
        KafkaLandedCheck(settings)([OutboundRecord("t", "k", b"v")], _now_ms(), 3.0)


def test_a_topic_the_broker_does_not_know_is_unavailable_not_a_crash(kafka_settings: KafkaSettings) -> None:
    """kafka-python answers an unknown topic with no partitions: the check waits for it until its deadline, then
    says it cannot tell (the sink then answers the sender with a negative acknowledgement), never dividing by
    zero partitions."""
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError):
        KafkaLandedCheck(kafka_settings)([OutboundRecord("t.never-created-landed", "patient-1", b"x")],
                                         _now_ms(), 2.0)
    assert time.monotonic() - started < 15
