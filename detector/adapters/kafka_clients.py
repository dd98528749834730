"""Kafka client helpers of the detector stream (detector/adapters/kafka_stream.py): restoring a changelog
partition and installing it in the engine, the rebalance listener, a bounded producer close, log fields of a
record, a record's dead letter, the check of a flushed batch's sends."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from kafka import AsyncConsumerRebalanceListener, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.net.selector import KernelEvent
from kafka.producer.future import FutureRecordMetadata

from detector.core.engine import DetectorEngine
from schemas.dead_letter import DeadLetter
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import at_end, make_consumer
from sepsis_alert.kafka.errors import KafkaUnavailableError

__all__ = ["Rebalance", "beside_the_loop", "close_producer", "dead_letter_for", "install_partition",
           "raise_if_any_failed", "record_fields", "restore_partition"]

log = logging.getLogger("detector.adapters.kafka_stream")


def restore_partition(settings: KafkaSettings, state_topic: str, partition: int,
                      timeout_s: float = 60.0) -> dict[str, bytes | None]:
    """Read one changelog partition from the beginning to its current end; newest value per key (None =
    tombstone). Raises KafkaUnavailableError if the end is not reached within `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s

    def remaining_ms() -> int:
        return max(1, int((deadline - time.monotonic()) * 1000))

    consumer = make_consumer(settings, None, max_partition_fetch_bytes=8 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024, max_poll_records=50_000)
    try:
        tp = TopicPartition(state_topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        # Every call bounded by the deadline: a wait without a cap would stall the detector silently (issue #20);
        # a KafkaError or the timeout restarts its clients.
        end = consumer.end_offsets([tp], timeout_ms=remaining_ms())[tp]
        latest: dict[str, bytes | None] = {}
        while not at_end(consumer, {tp: end}, min(remaining_ms(), 1_000)):
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"restoring {state_topic}[{partition}] did not reach offset {end} "
                                            f"in {timeout_s} s")
            for records in consumer.poll(timeout_ms=min(remaining_ms(), 500)).values():
                for record in records:
                    if record.key is not None:
                        latest[record.key.decode()] = record.value
        return latest
    finally:
        consumer.close(autocommit=False)


def install_partition(engine: DetectorEngine, partition_of: dict[str, int], latest: dict[str, bytes | None],
                      partition: int) -> tuple[int, int | None]:
    """Install each patient's newest state of a restored changelog partition (tombstones skipped) in the engine
    and note its partition; returns how many patients were installed and the newest event time among them."""
    installed, newest = 0, None
    for key, value in latest.items():
        if value is not None:
            engine.import_state(key, value)
            partition_of[key] = partition
            installed += 1
            state = engine.patients[key]
            newest = state.window.newest_s if newest is None else max(newest, state.window.newest_s)
    return installed, newest


class Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python ships no type hints
    """Tells the stream which partitions it lost and got (the stream's `_revoke` / `_assign`).

    kafka-python 3 runs rebalance listeners on its network loop, which also sends the heartbeats: a plain listener
    that restores for longer than the session timeout gets the member evicted, and each rejoin restores again.
    `_assign` therefore runs in a worker thread while this listener waits in the loop's own short sleeps, so the
    heartbeats go on; the partitions are still not fetched before it returns. `_revoke` only drops state: inline."""

    def __init__(self, revoke: Callable[[set[int]], None], assign: Callable[[set[int]], None]) -> None:
        self.revoke = revoke
        self.assign = assign

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await beside_the_loop(self.assign, {tp.partition for tp in assigned})


async def beside_the_loop(work: Callable[[set[int]], None], partitions: set[int], tick_s: float = 0.02) -> None:
    """Run `work(partitions)` in a worker thread and wait for it inside kafka-python's network loop without
    blocking it; re-raise what it raised. The wait is the loop's sleep event (kafka-python 3.0.12 has no public
    way to await a thread; tests/detector/adapters/test_kafka_stream.py holds a restore longer than the session
    timeout through the broker to catch a change)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(partitions)
        except BaseException as exc:  # re-raised in the listener, where kafka-python reports it from poll()
            failure.append(exc)

    thread = threading.Thread(target=run, name="detector-restore", daemon=True)
    thread.start()
    while thread.is_alive():
        await KernelEvent("_sleep", tick_s)
    if failure:
        raise failure[0]


def close_producer(producer: KafkaProducer, timeout_s: float = 2.0) -> None:
    """Close within about `timeout_s` seconds even with the broker down (unsent records are dropped: their
    input offsets were not committed, so it is re-read)."""
    try:
        producer.close(timeout=timeout_s)
    except Exception:  # close() raises when it cannot flush in time: stop the sender thread instead
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(timeout_s)


def record_fields(record: ConsumerRecord, patient_key: str | None) -> dict[str, object]:
    """Structured log fields naming one input record: topic, partition, offset and patient key (no body)."""
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset,
            "patient_key": patient_key}


def dead_letter_for(record: ConsumerRecord, code: str, message: str, now: datetime,
                    patient_key: str | None = None) -> DeadLetter:
    """A dead letter for `record`, logged with its coordinates (never its body)."""
    key = patient_key or (record.key.decode(errors="replace") if record.key else None)
    log.warning("detector dead-lettered a record: %s", code, extra={**record_fields(record, key), "reason": code})
    return DeadLetter.for_payload(record.value or b"", source="detector", worker="detector", error_code=code,
                                  error_message=message[:2000], received_at=now, patient_key=key)


def raise_if_any_failed(sent: list[FutureRecordMetadata], what: str) -> None:
    """Raise when any of the flushed sends failed (after a flush every one of them is decided)."""
    failed = [future for future in sent if future.failed()]
    if failed:
        raise KafkaError(f"{len(failed)} of {len(sent)} {what} not stored: {failed[0].exception!r}")
