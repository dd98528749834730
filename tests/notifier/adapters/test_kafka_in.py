"""The notifier's alerts consumer against the session broker: a group join that never completes is rebuilt."""

from __future__ import annotations

import asyncio
import time
import uuid

from kafka import KafkaConsumer

from notifier.adapters.kafka_in import AlertSource
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.join_watch import JoinWatch


def test_an_alerts_consumer_whose_join_is_held_is_rebuilt_and_gets_its_partitions(
        kafka_settings: KafkaSettings, unique_topic: str) -> None:
    group = f"notifier-{uuid.uuid4().hex[:8]}"
    # A member that joined and stopped polling holds every later member's join (up to its rebalance timeout).
    ghost = KafkaConsumer(**kafka_settings.client_kwargs(), group_id=group, enable_auto_commit=False,
                          max_poll_interval_ms=120_000, session_timeout_ms=60_000)
    ghost.subscribe(topics=[unique_topic])
    deadline = time.monotonic() + 60
    while not ghost.assignment():
        assert time.monotonic() < deadline, "the ghost member was never assigned a partition"
        ghost.poll(timeout_ms=200)
    assigned: list[int] = []
    source = AlertSource(kafka_settings, group, topic=unique_topic, join_watch=JoinWatch(limit_s=2, max_limit_s=4),
                         after_poll=lambda consumer: assigned.append(len(consumer.assignment())))
    try:
        deadline = time.monotonic() + 60
        while source.join_watch.rebuilds < 2:
            assert time.monotonic() < deadline, f"rebuilds: {source.join_watch.rebuilds}"
            asyncio.run(source.poll(100))
        assert not any(assigned)
        ghost.close(autocommit=False)  # leaves the group: the held join completes
        deadline = time.monotonic() + 90
        while not assigned or assigned[-1] != 6:
            assert time.monotonic() < deadline, f"partitions after the ghost left: {assigned[-1:]}"
            asyncio.run(source.poll(100))
    finally:
        ghost.close(autocommit=False)
        source.close()
