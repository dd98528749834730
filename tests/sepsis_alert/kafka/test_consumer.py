"""Consumer helpers against the session broker: bounded positions and whether a group join completed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from kafka import ConsumerRebalanceListener, TopicPartition

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import group_joined, make_consumer, position_within, subscribe_when_known
from sepsis_alert.kafka.errors import TopicNotFoundError


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


def test_a_member_subscribed_once_its_metadata_is_known_gets_every_partition_on_its_first_join(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str]) -> None:
    """Topics created a moment ago, joined at once by a lone member that leads the group: it must assign itself
    all of them in that first join. Metadata is refreshed only every 5 min here, so a join made on partial
    metadata would show as missing partitions (the detector's stall after restarting its clients)."""
    topics = [make_topic() for _ in range(3)]
    consumer = make_consumer(kafka_settings, f"first-join-{uuid.uuid4().hex[:8]}", metadata_max_age_ms=300_000)
    try:
        subscribe_when_known(consumer, topics, timeout_s=30)
        deadline = time.monotonic() + 60
        while not group_joined(consumer):
            assert time.monotonic() < deadline, "the group join never completed"
            consumer.poll(timeout_ms=200)
        assert consumer.assignment() == {TopicPartition(t, p) for t in topics for p in range(6)}
    finally:
        consumer.close(autocommit=False)


class CountingListener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python ships no type hints
    def __init__(self) -> None:
        self.assigned = 0

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assigned += 1


def test_metadata_refreshes_after_the_first_join_do_not_rebalance_the_group(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str]) -> None:
    """kafka-python compares each metadata update with its snapshot of the subscribed topics at the join; a
    snapshot left empty (metadata fetched before subscribing) makes the first refresh rejoin the group, which for
    the detector is a second restore of all its state."""
    topics = [make_topic() for _ in range(3)]
    consumer = make_consumer(kafka_settings, f"one-join-{uuid.uuid4().hex[:8]}", metadata_max_age_ms=1_000)
    listener = CountingListener()
    try:
        subscribe_when_known(consumer, topics, timeout_s=30, listener=listener)
        deadline = time.monotonic() + 60
        while not group_joined(consumer):
            assert time.monotonic() < deadline, "the group join never completed"
            consumer.poll(timeout_ms=200)
        settle = time.monotonic() + 5  # five metadata refreshes
        while time.monotonic() < settle:
            consumer.poll(timeout_ms=200)
        assert listener.assigned == 1
        assert consumer.assignment() == {TopicPartition(t, p) for t in topics for p in range(6)}
    finally:
        consumer.close(autocommit=False)


def test_subscribing_to_a_topic_that_does_not_exist_says_so(kafka_settings: KafkaSettings) -> None:
    consumer = make_consumer(kafka_settings, f"missing-{uuid.uuid4().hex[:8]}")
    try:
        with pytest.raises(TopicNotFoundError, match="never-created"):
            subscribe_when_known(consumer, ["t.never-created"], timeout_s=1)
        assert not consumer.subscription()
    finally:
        consumer.close(autocommit=False)
