"""Consumer helpers against the session broker: bounded positions and whether a group join completed."""

from __future__ import annotations

import time
import uuid

from kafka import TopicPartition

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import group_joined, make_consumer, position_within


def test_group_joined_is_false_until_the_join_completes(kafka_settings: KafkaSettings, unique_topic: str) -> None:
    consumer = make_consumer(kafka_settings, f"joined-{uuid.uuid4().hex[:8]}", [unique_topic])
    try:
        assert group_joined(consumer) is False  # subscribed, never polled
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the group never assigned a partition"
            consumer.poll(timeout_ms=200)
        assert group_joined(consumer) is True
    finally:
        consumer.close(autocommit=False)
    assert group_joined(make_consumer(kafka_settings, None)) is True  # no group: nothing to join


def test_position_within_gives_up_at_its_bound_instead_of_waiting(kafka_settings: KafkaSettings,
                                                                   unique_topic: str) -> None:
    consumer = make_consumer(kafka_settings, None)
    try:
        tp = TopicPartition(unique_topic, 0)
        consumer.assign([tp])
        assert position_within(consumer, tp, 0) is None  # needs an offset lookup; no time was allowed for it
        deadline = time.monotonic() + 30
        while (position := position_within(consumer, tp, 1_000)) is None:
            assert time.monotonic() < deadline, "no position within 30 s"
        assert position == 0  # an empty partition, read from the beginning
    finally:
        consumer.close(autocommit=False)
