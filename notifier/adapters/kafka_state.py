"""Shared state topics: the notification log, acks and silences, each read whole at start and then tailed.

Every replica reads every partition of these compacted topics (no consumer
group), so all replicas, and a restarted one, hold the same notification log,
acknowledgements and silences. Writes go through the shared EventProducer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer
from pydantic import ValidationError

from notifier.core.model import AckEvent, Notification, NotificationLogEntry
from notifier.core.silence import SilenceAudit
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import assign_all, make_consumer
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord

__all__ = ["KafkaDeadLetters", "KafkaLogSink", "NotifierTopics", "StateTail", "publish_ack", "publish_silence_audit"]

log = logging.getLogger("notifier.kafka")

StateRecord = NotificationLogEntry | AckEvent | SilenceAudit


@dataclass(frozen=True)
class NotifierTopics:
    """Topic names the notifier reads and writes (defaults: schemas.topics.Topics; tests use throwaway ones)."""

    alerts: str = Topics.ALERTS
    notification_log: str = Topics.NOTIFICATION_LOG
    acks: str = Topics.ACKS
    silences: str = Topics.SILENCES
    dead_letter: str = Topics.DEAD_LETTER


class StateTail:
    """Reads the three state topics from the beginning, then keeps returning what is new."""

    def __init__(self, settings: KafkaSettings, topics: NotifierTopics | None = None) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-tail")
        self._settings = settings
        names = topics or NotifierTopics()
        self._parsers: dict[str, Callable[[bytes], StateRecord]] = {
            names.notification_log: NotificationLogEntry.model_validate_json,
            names.acks: AckEvent.model_validate_json,
            names.silences: SilenceAudit.model_validate_json,
        }
        self._topics = tuple(self._parsers)
        self._consumer: KafkaConsumer | None = None

    def _open(self) -> KafkaConsumer:
        consumer = make_consumer(self._settings, None, fetch_max_wait_ms=50)
        partitions = assign_all(consumer, list(self._topics), timeout_s=self._settings.request_timeout_ms / 1000)
        consumer.seek_to_beginning(*partitions)
        return consumer

    def _load(self, timeout_s: float) -> list[StateRecord]:
        consumer = self._consumer = self._open()
        partitions = list(consumer.assignment())
        end = consumer.end_offsets(partitions)
        records: list[StateRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < offset for tp, offset in end.items() if offset > 0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"state topics not read to their end within {timeout_s} s")
            records.extend(self._decode(consumer.poll(timeout_ms=200)))
        return records

    def _poll(self, timeout_ms: int) -> list[StateRecord]:
        assert self._consumer is not None
        return self._decode(self._consumer.poll(timeout_ms=timeout_ms))

    def _decode(self, batch: dict) -> list[StateRecord]:  # type: ignore[type-arg]
        out: list[StateRecord] = []
        for records in batch.values():
            for record in sorted(records, key=lambda r: r.offset):
                if record.value is None:
                    continue  # tombstone
                try:
                    out.append(self._parsers[record.topic](record.value))
                except ValidationError as exc:
                    log.error("unreadable record in %s partition %d offset %d skipped (%d errors)", record.topic,
                              record.partition, record.offset, exc.error_count())
        return out

    async def load(self, timeout_s: float = 60.0) -> list[StateRecord]:
        """Everything up to the end offsets seen at the start (start-up)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._load, timeout_s)

    async def poll(self, timeout_ms: int = 200) -> list[StateRecord]:
        """Records written since the last call (by this or another replica)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._poll, timeout_ms)

    def close(self) -> None:
        def _close() -> None:
            if self._consumer is not None:
                self._consumer.close(autocommit=False)

        self._executor.submit(_close).result(timeout=30)
        self._executor.shutdown(wait=True)


class KafkaLogSink:
    """LogSink writing to the compacted notification-log topic keyed (alert id, receiver)."""

    def __init__(self, producer: EventProducer, topic: str = Topics.NOTIFICATION_LOG) -> None:
        self._producer = producer
        self._topic = topic

    async def append(self, entry: NotificationLogEntry) -> None:
        # Queued, not awaited: the worker flushes the producer before it commits the alert offsets.
        self._producer.send(self._topic, entry.key, entry.model_dump_json().encode())


class KafkaDeadLetters:
    """DeadLetterSink writing schemas.DeadLetter records (the alert verbatim + why it was not delivered)."""

    def __init__(self, producer: EventProducer, worker: str, topic: str = Topics.DEAD_LETTER) -> None:
        self._producer = producer
        self._worker = worker
        self._topic = topic

    async def dead_letter(self, item: Notification, error_code: str, message: str) -> None:
        await self.dead_letter_raw(item.alert.to_json_bytes(), error_code, message, item.alert.patient_key,
                                   item.alert.alert_id)

    async def dead_letter_raw(self, raw: bytes, error_code: str, message: str, patient_key: str | None,
                              source_message_id: str | None) -> None:
        record = DeadLetter.for_payload(raw, source="notifier", worker=self._worker, error_code=error_code,
                                        error_message=message, received_at=datetime.now(UTC),
                                        patient_key=patient_key, source_message_id=source_message_id)
        await self._producer.send_all_async([OutboundRecord(self._topic, record.kafka_key().decode(),
                                                            record.to_json_bytes())], timeout_s=10.0)


async def publish_ack(producer: EventProducer, ack: AckEvent, topic: str = Topics.ACKS) -> None:
    """Write an acknowledgement (keyed by episode; the latest per episode survives compaction)."""
    await producer.send_all_async([OutboundRecord(topic, ack.episode_id, ack.model_dump_json().encode())], 10.0)


async def publish_silence_audit(producer: EventProducer, record: SilenceAudit, topic: str = Topics.SILENCES) -> None:
    """Write one audited silence action (keyed (silence id, action): the whole trail survives compaction)."""
    await producer.send_all_async([OutboundRecord(topic, record.kafka_key().decode(),
                                                  record.model_dump_json().encode())], 10.0)
