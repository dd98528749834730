"""Alerts in from Kafka, at least once: offsets are committed only after the batch's outcomes are logged.

A crash between a delivery and the commit re-delivers the alert; the
notification log (read back at start-up) then stops it from being sent again,
except in the short window between the HTTP 2xx and the log write (PagerDuty's
dedup_key makes even that repeat harmless there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from schemas.alert import Alert
from schemas.base import describe_validation_error
from schemas.codec import UnsupportedSchemaVersion, decode_event
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import group_joined, make_consumer, subscribe_when_known
from sepsis_alert.kafka.join_watch import JoinWatch

__all__ = ["CLOSE_TIMEOUT_MS", "COMMIT_TIMEOUT_MS", "AlertRecord", "AlertSource"]

log = logging.getLogger("notifier.kafka")

COMMIT_TIMEOUT_MS = 15_000
"""Longest wait (milliseconds) for one offset commit: the client's default request timeout, so a slow but
healthy broker is not reported as a failed commit (that turns readiness off until the next probe)."""
CLOSE_TIMEOUT_MS = 2_000
"""Longest wait (milliseconds) for the consumer to leave its group at shutdown."""


@dataclass(frozen=True)
class AlertRecord:
    """One record of the alerts topic: the decoded alert, or the reason it could not be decoded."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    alert: Alert | None
    error: str = ""


def decode_alert(raw: bytes) -> tuple[Alert | None, str]:
    """Decode one record value; (None, reason) for malformed input or a non-alert event."""
    try:
        event = decode_event(raw)
    except ValidationError as exc:
        return None, describe_validation_error(exc)
    except UnsupportedSchemaVersion as exc:  # another major version (docs/upgrades.md)
        return None, str(exc)
    except ValueError as exc:
        return None, f"not JSON: {type(exc).__name__}"
    if not isinstance(event, Alert):
        return None, f"kind: expected 'alert' (got {getattr(event, 'kind', '?')!r})"
    return event, ""


AfterPoll = Callable[[KafkaConsumer], None]
"""Called on the consumer's own thread after every poll (consumer lag, partitions assigned): kafka-python's
KafkaConsumer is not thread-safe, so nothing else may touch it."""


class AlertSource:
    """Consumer-group reader of Topics.ALERTS. All consumer calls run on one dedicated thread."""

    def __init__(self, settings: KafkaSettings, group_id: str, max_poll_records: int = 500,
                 topic: str = Topics.ALERTS, after_poll: AfterPoll | None = None,
                 join_watch: JoinWatch | None = None) -> None:
        self._group_id, self._topic = group_id, topic
        self._max_poll_records = max_poll_records
        self._after_poll = after_poll
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-in")
        self.join_watch = join_watch or JoinWatch()
        # Reconnecting gives up after 3 s, so a rebuild during an outage never holds a stop up for longer.
        self._reconnect = settings.model_copy(update={"bootstrap_timeout_ms": min(settings.bootstrap_timeout_ms,
                                                                                  3_000)})
        self._consumer: KafkaConsumer | None = self._open(settings)  # None after a rebuild that could not reconnect

    def _open(self, settings: KafkaSettings) -> KafkaConsumer:
        consumer = make_consumer(settings, self._group_id, (), max_poll_records=self._max_poll_records,
                                 fetch_max_wait_ms=100, fetch_min_bytes=1)  # answered once 1 byte is there
        try:
            subscribe_when_known(consumer, [self._topic], settings.request_timeout_ms / 1000)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer

    def _poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if self._consumer is None:  # raises while the broker is away; the caller backs off and polls again
            self._consumer = self._open(self._reconnect)
            self.join_watch.restart()
        consumer = self._consumer
        batch: dict[Any, list[Any]] = consumer.poll(timeout_ms=timeout_ms)
        if self._after_poll is not None:
            try:
                self._after_poll(consumer)
            except Exception as exc:  # metrics / readiness bookkeeping must never lose a polled batch
                log.warning("after-poll hook failed: %s", type(exc).__name__)
        if (stalled_s := self.join_watch.overdue(group_joined(consumer))) is not None:
            self._rebuild(consumer, stalled_s)
        return batch

    def _rebuild(self, consumer: KafkaConsumer, stalled_s: float) -> None:
        """Replace a consumer whose group join never completed (sepsis_alert.kafka.join_watch). The batch in hand
        is still processed; its commit may fail, and then it is re-delivered and de-duplicated."""
        log.warning("alerts consumer had no completed group join for %.0f s; rebuilding it (rebuild #%d)",
                    stalled_s, self.join_watch.rebuilds)
        self._consumer = None
        try:
            consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except Exception as exc:  # a consumer that cannot leave its group is dropped anyway
            log.warning("closing the stalled alerts consumer failed: %s", type(exc).__name__)
        try:
            self._consumer = self._open(self._reconnect)
        except Exception as exc:  # the broker is away: the next poll tries again
            log.warning("rebuilding the alerts consumer failed: %s", type(exc).__name__)
        self.join_watch.restart()

    async def poll(self, timeout_ms: int) -> list[AlertRecord]:
        """Records of one poll (waits at most `timeout_ms` milliseconds), decoded; malformed ones carry `error`."""
        loop = asyncio.get_running_loop()
        batch = await loop.run_in_executor(self._executor, self._poll, timeout_ms)
        out: list[AlertRecord] = []
        for records in batch.values():
            for record in records:
                raw = record.value or b""
                alert, error = decode_alert(raw)
                out.append(AlertRecord(record.topic, record.partition, record.offset, record.key, raw, alert, error))
        return out

    async def commit(self, records: list[AlertRecord]) -> None:
        """Commit past `records` only (not past later polls): call once their outcomes are in the log."""
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp not in offsets or offsets[tp].offset <= record.offset:
                offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        if not offsets:
            return
        loop = asyncio.get_running_loop()
        # Bounded: with the broker down an unbounded commit would hold the consumer's only thread, and
        # with it every later poll and the shutdown (issue #20). A failed commit raises; the caller
        # keeps the records uncommitted (re-delivered and de-duplicated later).
        await loop.run_in_executor(self._executor, self._commit, offsets)

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self._consumer is None:
            raise CommitFailedError("the alerts consumer is being rebuilt")
        self._consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)

    def close(self) -> None:
        """Leave the group and release the consumer; bounded (about CLOSE_TIMEOUT_MS) even with the broker down."""
        def _close() -> None:
            if self._consumer is not None:
                self._consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)

        try:
            self._executor.submit(_close).result(timeout=CLOSE_TIMEOUT_MS / 1000 + COMMIT_TIMEOUT_MS / 1000 + 2)
        finally:
            self._executor.shutdown(wait=False)
