"""Shared state topics: the notification log, acks and silences, each read whole at start and then tailed.

Every replica reads every partition of these compacted topics (no consumer
group), so all replicas, and a restarted one, hold the same notification log,
acknowledgements and silences. Writes go through the shared EventProducer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from pydantic import ValidationError

from notifier.core.model import AckEvent, DeliveryOutcome, LogRecord, Notification, NotificationLogEntry
from notifier.core.silence import SilenceAudit
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import assign_all, at_end, make_consumer
from sepsis_alert.kafka.errors import KafkaPlumbingError, KafkaUnavailableError
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord

if TYPE_CHECKING:
    from notifier.config import NotifierTopicSettings

__all__ = ["KafkaDeadLetters", "KafkaLogSink", "NotifierTopics", "OwnWrites", "StateTail", "publish_ack",
           "publish_silence_audit"]

log = logging.getLogger("notifier.kafka")

StateRecord = NotificationLogEntry | LogRecord | AckEvent | SilenceAudit
LOG_WRITE_DELAY_S = 0.005
"""How long notification-log entries are gathered before they go to the producer (seconds)."""
RETRY_FAILED_WRITES_S = 1.0
"""Wait before writing again the notification-log entries the broker did not acknowledge (an outage)."""


@dataclass(frozen=True)
class NotifierTopics:
    """Topic names the notifier reads and writes (defaults: schemas.topics.Topics; tests use throwaway ones)."""

    alerts: str = Topics.ALERTS
    notification_log: str = Topics.NOTIFICATION_LOG
    acks: str = Topics.ACKS
    silences: str = Topics.SILENCES
    dead_letter: str = Topics.DEAD_LETTER

    @classmethod
    def from_settings(cls, settings: NotifierTopicSettings) -> NotifierTopics:
        """The names configured by `SEPSIS_NOTIFIER_TOPIC_*` (defaults: the shared topics)."""
        return cls(alerts=settings.topic_alerts, notification_log=settings.topic_notification_log,
                   acks=settings.topic_acks, silences=settings.topic_silences, dead_letter=settings.topic_dead_letter)


class OwnWrites:
    """Notification-log records this replica wrote and has not read back yet.

    The tail reads every record of the log, this replica's own too; those are already in its
    view (the record stage adds them before writing), so decoding and applying them again is
    wasted work (a pydantic parse of a whole alert per notification). Records are remembered by
    (key, digest of the value), so two writes of one key are each recognised and neither older
    echo can overwrite the newer entry. Written from the event loop, read by the tail's thread:
    single dict operations, atomic under the GIL. Bounded: past `max_entries` the oldest are
    forgotten (their echo is then decoded and applied as before, which is harmless).
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._pending: dict[tuple[bytes, bytes], None] = {}

    @staticmethod
    def _id(key: bytes, value: bytes) -> tuple[bytes, bytes]:
        return key, hashlib.blake2b(value, digest_size=16).digest()

    def remember(self, key: bytes, value: bytes) -> None:
        if len(self._pending) >= self._max:
            self._pending.pop(next(iter(self._pending)), None)
        self._pending[self._id(key, value)] = None

    def is_echo(self, key: bytes | None, value: bytes) -> bool:
        """True (once) when this exact record is one this replica wrote."""
        if key is None:
            return False
        try:
            del self._pending[self._id(key, value)]
        except KeyError:
            return False
        return True


class StateTail:
    """Reads the three state topics from the beginning, then keeps returning what is new."""

    def __init__(self, settings: KafkaSettings, topics: NotifierTopics | None = None,
                 echoes: OwnWrites | None = None,
                 shrink: Callable[[NotificationLogEntry], NotificationLogEntry | LogRecord] | None = None) -> None:
        """`shrink` is applied to each log entry as it is decoded (on the tail's thread), so that the whole
        log read at start-up is never held with every alert in it (see notifier.core.model.compact_entry)."""
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-tail")
        self._echoes = echoes
        self._shrink = shrink
        self._settings = settings
        names = topics or NotifierTopics()
        self._parsers: dict[str, Callable[[bytes], StateRecord]] = {
            names.notification_log: NotificationLogEntry.model_validate_json,
            names.acks: AckEvent.model_validate_json,
            names.silences: SilenceAudit.model_validate_json,
        }
        self._topics = tuple(self._parsers)
        self._log_topic = names.notification_log
        self._consumer: KafkaConsumer | None = None
        self.poll_failures = 0
        """How many tail polls failed with a Kafka error (broker unreachable)."""

    def _open(self) -> KafkaConsumer:
        # The broker answers a fetch as soon as one byte is there (fetch_min_bytes=1): a long wait costs no
        # latency, while a short one makes an idle replica send a fetch every few milliseconds.
        consumer = make_consumer(self._settings, None, fetch_max_wait_ms=500)
        partitions = assign_all(consumer, list(self._topics), timeout_s=self._settings.request_timeout_ms / 1000)
        consumer.seek_to_beginning(*partitions)
        return consumer

    def _load(self, timeout_s: float) -> list[StateRecord]:
        consumer = self._consumer = self._open()
        partitions = list(consumer.assignment())
        deadline = time.monotonic() + timeout_s

        def remaining_ms() -> int:
            return max(1, int((deadline - time.monotonic()) * 1000))

        end = consumer.end_offsets(partitions, timeout_ms=remaining_ms())
        records: list[StateRecord] = []
        while not at_end(consumer, end, min(remaining_ms(), 1_000)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"state topics not read to their end within {timeout_s} s")
            records.extend(self._decode(consumer.poll(timeout_ms=200)))
        return records

    def _poll(self, timeout_ms: int) -> list[StateRecord]:
        assert self._consumer is not None
        try:
            batch = self._consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:
            # The broker is away: keep tailing once it is back (the consumer reconnects by itself) instead
            # of ending the tail loop; wait the poll time so a persistent error does not spin.
            self.poll_failures += 1
            if self.poll_failures == 1 or self.poll_failures % 50 == 0:
                log.warning("state topics poll failed (%s; %d times so far)", type(exc).__name__,
                            self.poll_failures)
            time.sleep(timeout_ms / 1000)
            return []
        return self._decode(batch)

    def _decode(self, batch: dict) -> list[StateRecord]:  # type: ignore[type-arg]
        out: list[StateRecord] = []
        for records in batch.values():
            for record in sorted(records, key=lambda r: r.offset):
                if record.value is None:
                    continue  # tombstone
                if (self._echoes is not None and record.topic == self._log_topic
                        and self._echoes.is_echo(record.key, record.value)):
                    continue  # written by this replica: already applied
                try:
                    parsed = self._parsers[record.topic](record.value)
                except ValidationError as exc:
                    log.error("unreadable record in %s partition %d offset %d skipped (%d errors)", record.topic,
                              record.partition, record.offset, exc.error_count())
                    continue
                if self._shrink is not None and isinstance(parsed, NotificationLogEntry):
                    shrunk = self._shrink(parsed)  # always called: it also folds the entry into the paging state
                    # A `retrying` entry keeps its alert: it is what a pending delivery is resumed from.
                    out.append(parsed if parsed.outcome == DeliveryOutcome.RETRYING else shrunk)
                else:
                    out.append(parsed)
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
        """Release the consumer; bounded (a few seconds) even with the broker down."""
        def _close() -> None:
            if self._consumer is not None:
                self._consumer.close(autocommit=False, timeout_ms=2_000)

        try:
            self._executor.submit(_close).result(timeout=10)
        finally:
            self._executor.shutdown(wait=False)


class KafkaLogSink:
    """LogSink writing to the compacted notification-log topic keyed (alert id, receiver)."""

    def __init__(self, producer: EventProducer, topic: str = Topics.NOTIFICATION_LOG,
                 echoes: OwnWrites | None = None) -> None:
        self._producer = producer
        self._topic = topic
        self._echoes = echoes
        self._pending: list[tuple[str, bytes, float]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._newest: dict[str, bytes] = {}
        """Value of the newest entry appended per key and not yet acknowledged by the broker: a write that failed
        is written again only while it is still its key's newest (an older `retrying` must never overwrite the
        `delivered` after it in the compacted topic)."""
        self._failed: deque[tuple[str, bytes, float]] = deque()
        """Entries whose write the broker never acknowledged (appended on the producer's I/O thread; deque appends
        and pops are thread-safe): the worker must not commit alert offsets past them until written again."""
        self.drain_failures = 0
        self.on_acked: Callable[[float], None] | None = None
        """Called (on the producer's I/O thread) with the seconds from `append` to the broker's acknowledgement:
        the window in which a crash makes a delivered notification look unsent (docs/operations.md)."""

    async def append(self, entry: NotificationLogEntry) -> None:
        # Buffered, then handed to the producer a few milliseconds later in one go: one producer batch (and one
        # wake-up of its I/O thread) for many entries instead of one per notification. The worker calls drain()
        # before it flushes the producer and commits the alert offsets, so at-least-once holds.
        value = entry.model_dump_json().encode()
        if self._echoes is not None:
            self._echoes.remember(entry.key.encode(), value)
        self._pending.append((entry.key, value, time.monotonic()))
        self._newest[entry.key] = value
        self._loop = asyncio.get_running_loop()
        self._schedule(LOG_WRITE_DELAY_S)

    def _schedule(self, delay_s: float) -> None:
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_later(delay_s, self._drain_soon)

    def drain(self) -> int:
        """Hand every buffered entry to the producer now (not flushed); returns how many.

        When the producer refuses an entry (broker unreachable past max_block_ms), that entry and the
        ones after it stay buffered, in order, for the next drain, and KafkaUnavailableError is raised,
        so the worker's flush-and-commit path does not commit past entries that are not in Kafka.
        """
        self._scheduled = False
        retried = self._take_failed()
        pending, self._pending = retried + self._pending, []
        for i, (key, value, appended_at) in enumerate(pending):
            try:
                future = self._producer.send(self._topic, key, value)
            except KafkaPlumbingError as exc:
                self._pending = pending[i:] + self._pending
                self.drain_failures += 1
                raise KafkaUnavailableError(f"{len(self._pending)} notification-log entries not handed to "
                                            f"Kafka: {type(exc).__name__}") from exc
            future.add_callback(self._written, key, value, appended_at)
            future.add_errback(self._not_written, key, value, appended_at)
        return len(pending)

    def _take_failed(self) -> list[tuple[str, bytes, float]]:
        """Failed writes to write again, oldest first, each only while it is still its key's newest entry."""
        taken: list[tuple[str, bytes, float]] = []
        while self._failed:
            key, value, appended_at = self._failed.popleft()
            if self._newest.get(key) == value:
                taken.append((key, value, appended_at))
        return taken

    def _written(self, key: str, value: bytes, appended_at: float, _metadata: object) -> None:
        # On the producer's I/O thread. A dict pop of one key is atomic in CPython; a newer value stays.
        if self._newest.get(key) == value:
            self._newest.pop(key, None)
        if self.on_acked is not None:
            self.on_acked(time.monotonic() - appended_at)

    def _not_written(self, key: str, value: bytes, appended_at: float, exc: BaseException) -> None:
        # On the producer's I/O thread: the broker never acknowledged it (e.g. expired during an outage). Kept
        # for the next drain, which the event loop runs soon; until then the offsets are not committed past it.
        self._failed.append((key, value, appended_at))
        self.drain_failures += 1
        log.warning("a notification-log write failed (%s); written again when Kafka takes it", type(exc).__name__)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._schedule, RETRY_FAILED_WRITES_S)

    def check_written(self) -> None:
        """After a producer flush: raise KafkaUnavailableError when a log write failed and is not yet written
        again (the caller must not commit the alert offsets of that batch)."""
        if self._failed:
            raise KafkaUnavailableError(f"{len(self._failed)} notification-log writes failed; kept to write again")

    def _drain_soon(self) -> None:
        """The delayed drain scheduled by `append` (an event-loop callback: must not raise)."""
        try:
            self.drain()
        except KafkaUnavailableError as exc:
            # Kept buffered; the next append or the worker's flush-and-commit drains them again.
            log.warning("%s; kept for the next try", exc)

    @property
    def undrained(self) -> int:
        """Entries buffered and not yet handed to the producer, including failed writes kept to write again."""
        return len(self._pending) + len(self._failed)


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
