"""Consumers: `make_consumer` for the workers, `read_all` for tests and tools.

Workers commit offsets themselves (enable_auto_commit=False) after their
outputs are acknowledged, so a crash re-delivers instead of losing input.
Keys and values are returned as raw bytes; decode with schemas.codec.decode_event.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import MemberState

from sepsis_alert.kafka.clients import closed_on_failure
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError, TopicNotFoundError

__all__ = ["ConsumerRecord", "assign_all", "at_end", "group_joined", "make_consumer", "partitions_of",
           "position_within", "read_all", "subscribe_when_known"]

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "allow_auto_create_topics": False,
    # A dead worker's partitions move to the survivors after 10 s instead of 45 s.
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
}
"""Defaults of `make_consumer` on top of KafkaSettings.client_kwargs() (isolation stays read_uncommitted)."""


def make_consumer(settings: KafkaSettings, group_id: str | None, topics: Sequence[str] = (),
                  **overrides: Any) -> KafkaConsumer:
    """A connected KafkaConsumer: no auto-commit, `auto_offset_reset="earliest"`, bytes keys/values.

    With a `group_id`, `topics` are subscribed (the group coordinator assigns
    partitions; commit with `consumer.commit()`). Without one, every partition
    of `topics` is assigned directly. `overrides` are extra KafkaConsumer
    keyword arguments (e.g. isolation_level="read_committed", max_poll_records=100).
    Raises KafkaUnavailableError if no broker answers within
    `settings.bootstrap_timeout_ms` milliseconds.
    """
    config: dict[str, Any] = {**settings.client_kwargs(), **CONSUMER_DEFAULTS, "group_id": group_id, **overrides}
    try:
        with closed_on_failure() as kafka_client:
            consumer = KafkaConsumer(**config, kafka_client=kafka_client)
    except (KafkaError, OSError) as exc:
        raise KafkaUnavailableError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc!r}") from exc
    if topics:
        try:
            if group_id is not None:
                subscribe_when_known(consumer, topics, timeout_s=settings.request_timeout_ms / 1000)
            else:
                assign_all(consumer, topics, timeout_s=settings.request_timeout_ms / 1000)
        except BaseException:
            consumer.close(autocommit=False)
            raise
    return consumer


def partitions_of(consumer: KafkaConsumer, topics: Sequence[str], timeout_s: float = 15.0) -> list[TopicPartition]:
    """Every partition of `topics` as the consumer's own metadata knows them, waiting up to `timeout_s` seconds
    for that metadata; raises TopicNotFoundError naming a topic still unknown then."""
    deadline = time.monotonic() + timeout_s
    partitions: list[TopicPartition] = []
    for topic in topics:
        while True:
            try:
                ids = consumer.partitions_for_topic(topic)
            except KafkaError as exc:
                raise KafkaUnavailableError(f"metadata for {topic!r} unavailable: {exc!r}") from exc
            if ids:
                partitions += [TopicPartition(topic, p) for p in sorted(ids)]
                break
            if time.monotonic() > deadline:
                raise TopicNotFoundError(f"topic {topic!r} not found (waited {timeout_s} s)")
            time.sleep(0.1)
    return partitions


def assign_all(consumer: KafkaConsumer, topics: Sequence[str], timeout_s: float = 15.0) -> list[TopicPartition]:
    """Assign every partition of `topics` to a group-less consumer (`partitions_of`); returns them."""
    partitions = partitions_of(consumer, topics, timeout_s)
    consumer.assign(partitions)
    return partitions


def subscribe_when_known(consumer: KafkaConsumer, topics: Sequence[str], timeout_s: float = 15.0,
                         listener: ConsumerRebalanceListener | None = None) -> None:
    """Subscribe a group consumer to `topics` and return once its own metadata knows their partitions.

    A member that joins first and leads the group assigns from whatever metadata it has: topics it does not
    know yet get no partitions, and it reads nothing until a metadata refresh makes it rejoin (up to
    metadata.max.age.ms). A detector restarting its clients after a broker blip on a busy host did exactly
    that (tests/detector/adapters/test_kafka_stream.py). The metadata is fetched after subscribing, because
    kafka-python's coordinator takes its snapshot of the subscribed topics from the next metadata update: one
    fetched before would leave the snapshot empty, and the first periodic refresh would then trigger a second,
    needless rebalance (for the detector, a second restore of every partition's state). The group is joined at
    the first poll. Raises TopicNotFoundError after `timeout_s`, unsubscribed."""
    if listener is None:
        consumer.subscribe(topics=list(topics))
    else:
        consumer.subscribe(topics=list(topics), listener=listener)
    try:
        consumer.topics()  # a metadata update with the subscription in place (see above)
        partitions_of(consumer, topics, timeout_s)
    except BaseException:
        consumer.unsubscribe()
        raise


def position_within(consumer: KafkaConsumer, tp: TopicPartition, timeout_ms: int) -> int | None:
    """The consumer's position on an assigned partition, or None when it is not known within `timeout_ms`
    (kafka-python's `position()` without a timeout waits for as long as the broker cannot answer)."""
    try:
        position: int | None = consumer.position(tp, timeout_ms=max(0, timeout_ms))
    except KafkaTimeoutError:
        return None
    return position


def group_joined(consumer: KafkaConsumer) -> bool:
    """Whether a subscribed consumer is in a completed group join (sepsis_alert.kafka.join_watch); True for a
    consumer without a group or subscription.

    kafka-python has no public call for this; it is its coordinator's member state. Should a later version
    move it, this says joined, which only turns the join watch off (tests/sepsis_alert/kafka/test_consumer.py
    checks both answers against a real broker)."""
    if consumer.config.get("group_id") is None or not consumer.subscription():
        return True  # nothing to join: partitions are assigned by the caller
    state = getattr(getattr(consumer, "_coordinator", None), "state", MemberState.STABLE)
    return bool(state == MemberState.STABLE)


def read_all(settings: KafkaSettings, topic: str, timeout_s: float = 30.0, expected: int | None = None,
             **overrides: Any) -> list[ConsumerRecord]:
    """Read a topic from the beginning without a consumer group (nothing is committed).

    With `expected=None`: returns every record up to the end offsets seen at
    the start, or raises KafkaUnavailableError if they cannot be read within
    `timeout_s` seconds. With `expected=N`: returns as soon as N records were
    read (including ones written after the call started), else whatever was
    read when `timeout_s` seconds have passed, so a test can assert on the
    count and show what arrived. Records are in offset order per partition
    and ordered by (partition, offset) overall.
    """
    deadline = time.monotonic() + timeout_s
    consumer = make_consumer(settings, None, **overrides)
    try:
        partitions = assign_all(consumer, [topic], timeout_s)
        consumer.seek_to_beginning(*partitions)
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        try:
            end = consumer.end_offsets(partitions, timeout_ms=remaining_ms) if expected is None else {}
        except KafkaError as exc:
            raise KafkaUnavailableError(f"end offsets of {topic!r} unavailable: {exc!r}") from exc
        records: list[ConsumerRecord] = []
        while True:
            if expected is not None and len(records) >= expected:
                break
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                if expected is not None:
                    break
                raise KafkaUnavailableError(f"could not read {topic!r} to its end in {timeout_s} s "
                                            f"(read {len(records)} records)")
            if expected is None and at_end(consumer, end, remaining_ms):
                break
            batch = consumer.poll(timeout_ms=min(remaining_ms, 500))
            for tp_records in batch.values():
                records.extend(tp_records)
    finally:
        consumer.close(autocommit=False)
    return sorted(records, key=lambda r: (r.partition, r.offset))


def at_end(consumer: KafkaConsumer, end: dict[TopicPartition, int], timeout_ms: int) -> bool:
    """True when the consumer's position reached `end` on every partition; False while a position is behind or not
    known within `timeout_ms` per partition, or the broker cannot answer (never an unbounded wait)."""
    try:
        for tp, offset in end.items():
            if offset == 0:
                continue
            position = position_within(consumer, tp, timeout_ms)
            if position is None or position < offset:
                return False
    except KafkaError:
        return False
    return True
