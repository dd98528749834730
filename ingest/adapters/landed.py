"""Whether records of a write reported "not stored" are in Kafka after all: read, not guessed.

A broker killed after appending a batch but before acknowledging it (a crash, a SIGKILL, a power cut with the
log already flushed) leaves the producer with failed futures for records that are on disk. Writing them again
on the sender's retransmission would store them twice. Before a retransmission writes what its earlier attempt
did not confirm, the sink (ingest/adapters/kafka_sink.py) asks this check: it reads each record's partition
(the producer's default partitioner: murmur2 of the key) from the earlier attempt's time to the end and
compares key and value byte for byte. Only messages whose earlier attempt failed are checked, so it runs after
outages, once per unconfirmed message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.partitioner import murmur2

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import make_consumer, position_within
from sepsis_alert.kafka.errors import KafkaUnavailableError
from sepsis_alert.kafka.producer import OutboundRecord

__all__ = ["KafkaLandedCheck", "LandedCheck", "partition_of"]

LandedCheck = Callable[[Sequence[OutboundRecord], int, float], list[bool]]
"""(records, written no earlier than this epoch ms, timeout s) -> whether each one is in its topic. Blocking;
raises KafkaUnavailableError when it cannot tell."""

CLOCK_SLACK_MS = 10_000
"""Read from this much before the earlier attempt: record timestamps are the producer's clock (same host) or,
with LogAppendTime, the broker's; either is within seconds of it."""


def partition_of(key: bytes, partitions: int) -> int:
    """The partition kafka-python's (and the Java client's) default partitioner gives a keyed record."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class KafkaLandedCheck:
    """A LandedCheck that reads the broker with a group-less consumer of its own (opened per check)."""

    def __init__(self, settings: KafkaSettings) -> None:
        # The check runs inside one message's send timeout: never wait long for a broker that is away again.
        self._settings = settings.model_copy(update={"bootstrap_timeout_ms": min(settings.bootstrap_timeout_ms,
                                                                                 3_000)})

    def __call__(self, records: Sequence[OutboundRecord], since_ms: int, timeout_s: float) -> list[bool]:
        deadline = time.monotonic() + timeout_s
        consumer = make_consumer(self._settings, None)
        try:
            return self._find(consumer, records, since_ms - CLOCK_SLACK_MS, deadline)
        except KafkaError as exc:
            raise KafkaUnavailableError(f"cannot read back an earlier write: {exc!r}") from exc
        finally:
            consumer.close(autocommit=False)

    @staticmethod
    def _find(consumer: KafkaConsumer, records: Sequence[OutboundRecord], since_ms: int,
              deadline: float) -> list[bool]:
        def remaining_ms() -> int:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                raise KafkaUnavailableError("reading back an earlier write took too long")
            return left

        wanted: dict[TopicPartition, list[int]] = {}
        for i, record in enumerate(records):
            # kafka-python 3 answers an unknown topic with an empty set (not None): wait, bounded by the deadline
            while not (partitions := consumer.partitions_for_topic(record.topic)):
                remaining_ms()
                time.sleep(0.05)
            ordered = sorted(partitions)
            candidates = ordered if record.key is None else [
                ordered[partition_of(record.key.encode(), len(ordered))]]
            for partition in candidates:
                wanted.setdefault(TopicPartition(record.topic, partition), []).append(i)
        found = [False] * len(records)
        consumer.assign(list(wanted))
        starts = consumer.offsets_for_times({tp: since_ms for tp in wanted}, timeout_ms=remaining_ms())
        ends = consumer.end_offsets(list(wanted), timeout_ms=remaining_ms())
        reading: dict[TopicPartition, int] = {}
        for tp in wanted:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue  # nothing written since the earlier attempt
            consumer.seek(tp, start.offset)
            reading[tp] = ends[tp]
        consumer.pause(*[tp for tp in wanted if tp not in reading])
        while reading:
            for tp, batch in consumer.poll(timeout_ms=min(200, remaining_ms())).items():
                for message in batch:
                    if message.offset >= reading.get(tp, 0):
                        continue
                    for i in wanted[tp]:
                        record = records[i]
                        if (not found[i] and message.value == record.value
                                and message.key == (record.key.encode() if record.key is not None else None)):
                            found[i] = True
            for tp in list(reading):
                position = position_within(consumer, tp, remaining_ms())
                if position is not None and position >= reading[tp]:
                    del reading[tp]
                    consumer.pause(tp)
        return found
