"""Durable output of the ingest workers (HL7 v2 and FHIR): canonical events, raw input, dead letters.

API (shared by the HL7 v2 and FHIR workers):

    sink = KafkaEventSink(producer, raw_topic=Topics.RAW_HL7, timeout_s=settings.send_timeout_s)
    n = await sink.write_accepted(events, raw, message_id=..., sender=..., received_at=..., dedup_key=...)
    await sink.write_dead_letter(dead_letter)
    # blocking twins for CLIs / backfills: write_accepted_sync, write_dead_letter_sync

* `write_accepted` writes, in ONE producer batch, every event to its topic
  (Observation -> Topics.OBSERVATIONS, PatientEvent -> PATIENT_EVENTS,
  CareEvent -> CARE_EVENTS, keyed by patient key), the raw input to `raw_topic`
  (keyed by the first event's patient key, else the sender, so a reprocessing
  job keeps per-patient order), and, with `dedup_key`, a marker on
  Topics.INGEST_DEDUP (compacted) that lets a restarted worker recognise a
  retransmission. It returns only when the broker acknowledged (acks=all)
  EVERY record; otherwise it raises sepsis_alert.kafka.errors.KafkaUnavailableError
  within about `timeout_s` seconds, and the caller must answer "not stored"
  (HL7 AE, HTTP 503).
* Late deliveries and retransmissions. A write that timed out may still land a little
  later (the producer's own retries; `ingest_producer_settings` bounds them by
  delivery_timeout_ms <= timeout_s). The sink therefore keeps, per message (HL7: the dedup
  key sender|MSH-10; FHIR: message id + body digest), the producer futures of a write that
  failed. When the same message comes again, it first waits (within this call's own
  `timeout_s`) for the earlier futures to settle, then writes ONLY the records whose earlier
  attempt did not land; if all landed, nothing is written and the message counts as stored.
  If the earlier attempt is still undecided, the retransmission fails again ("not stored",
  the sender retries) instead of risking a second copy. A record the producer reports failed
  may still be on the broker (it appended the batch, then crashed before acknowledging): with
  a `landed` check (ingest/adapters/landed.py, what the workers use) such records are read
  back from Kafka before anything is written again; without one they are written again
  (consumers still de-duplicate by `source_id`).
* Raw and dead-letter records carry headers: source, source_message_id, sender, received_at.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ingest.adapters.landed import LandedCheck
from ingest.core.result import ClinicalEvent
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaPlumbingError, KafkaUnavailableError
from sepsis_alert.kafka.producer import (
    EventProducer,
    FutureRecordMetadata,
    OutboundRecord,
    bridge_future,
)

__all__ = ["TOPIC_BY_KIND", "KafkaEventSink", "accepted_records", "dedup_record", "ingest_producer_settings"]

log = logging.getLogger(__name__)

_MAX_FAILED_ATTEMPTS = 10_000
"""Failed writes remembered for retransmission (oldest forgotten first; bounded memory)."""


def ingest_producer_settings(kafka: KafkaSettings, send_timeout_s: float) -> KafkaSettings:
    """`kafka` with producer timeouts bounded by the ingest send timeout (seconds).

    The sender is told "not stored" after `send_timeout_s`; a producer that kept retrying the
    same records for its default 30 s would store them behind the sender's back and the
    retransmission would be a second copy. So delivery_timeout_ms <= send_timeout_s * 1000,
    and request_timeout_ms below it (kafka requires request <= delivery; >= 1 s).
    """
    delivery_ms = max(2_000, int(send_timeout_s * 1000))
    request_ms = min(kafka.request_timeout_ms, max(1_001, delivery_ms - 1_000))
    data = kafka.model_dump()
    data.update(delivery_timeout_ms=min(kafka.delivery_timeout_ms, delivery_ms),
                request_timeout_ms=min(request_ms, min(kafka.delivery_timeout_ms, delivery_ms)),
                max_block_ms=min(kafka.max_block_ms, delivery_ms))
    return type(kafka).model_validate(data)


@dataclass
class _FailedWrite:
    """The records of a write that was reported "not stored", with the producer's futures for them."""

    records: list[OutboundRecord]
    futures: list[FutureRecordMetadata | None]
    """None for a record that never reached the producer's buffer (it cannot land)."""
    first_sent_ms: int
    """Wall-clock epoch ms of the first attempt: where a read-back of what landed starts."""

TOPIC_BY_KIND = {
    "observation": Topics.OBSERVATIONS,
    "patient_event": Topics.PATIENT_EVENTS,
    "care_event": Topics.CARE_EVENTS,
}


def dedup_record(dedup_key: str, message_id: str, received_at: datetime, records: int) -> OutboundRecord:
    """The Topics.INGEST_DEDUP marker of an accepted message (key = dedup key, value = small JSON)."""
    value = json.dumps({"message_id": message_id, "accepted_at": received_at.isoformat(),
                        "records": records}).encode()
    return OutboundRecord(Topics.INGEST_DEDUP, dedup_key, value)


def accepted_records(events: Sequence[ClinicalEvent], raw: bytes, *, raw_topic: str, source: str,
                     message_id: str, sender: str, received_at: datetime,
                     dedup_key: str | None = None) -> list[OutboundRecord]:
    """Every record an accepted message produces, in the order they are written."""
    headers = (("source", source.encode()), ("source_message_id", message_id.encode()),
               ("sender", sender.encode()), ("received_at", received_at.isoformat().encode()))
    records = [OutboundRecord(TOPIC_BY_KIND[e.kind], e.patient_key, e.to_json_bytes(), headers) for e in events]
    raw_key = events[0].patient_key if events else (sender or message_id)
    records.append(OutboundRecord(raw_topic, raw_key, raw, headers))
    if dedup_key is not None:
        records.append(dedup_record(dedup_key, message_id, received_at, len(records)))
    return records


class KafkaEventSink:
    """Writes accepted messages and dead letters, waiting for acks=all (see the module docstring)."""

    def __init__(self, producer: EventProducer, *, raw_topic: str, timeout_s: float, source: str = "hl7v2",
                 dead_letter_topic: str = Topics.DEAD_LETTER, landed: LandedCheck | None = None) -> None:
        self.producer = producer
        self._landed = landed
        self.raw_topic = raw_topic
        self.timeout_s = timeout_s
        self.source = source
        self.dead_letter_topic = dead_letter_topic
        self._failed: OrderedDict[str, _FailedWrite] = OrderedDict()

    def _accepted(self, events: Sequence[ClinicalEvent], raw: bytes, message_id: str, sender: str,
                  received_at: datetime, dedup_key: str | None) -> list[OutboundRecord]:
        return accepted_records(events, raw, raw_topic=self.raw_topic, source=self.source, message_id=message_id,
                                sender=sender, received_at=received_at, dedup_key=dedup_key)

    def _dead(self, letter: DeadLetter) -> OutboundRecord:
        headers = (("source", letter.source.encode()),
                   ("source_message_id", (letter.source_message_id or "").encode()),
                   ("received_at", letter.received_at.isoformat().encode()))
        return OutboundRecord(self.dead_letter_topic, letter.kafka_key().decode(), letter.to_json_bytes(), headers)

    async def write_accepted(self, events: Sequence[ClinicalEvent], raw: bytes, *, message_id: str, sender: str,
                             received_at: datetime, dedup_key: str | None = None) -> int:
        """Write the events, the raw message (and the dedup marker); returns the record count once all are acked.

        Raises KafkaUnavailableError (not stored) after about `timeout_s` seconds. A retransmission of a
        message whose earlier write failed writes only what did not land then (module docstring).
        """
        records = self._accepted(events, raw, message_id, sender, received_at, dedup_key)
        key = dedup_key or f"{message_id}|{hashlib.sha256(raw).hexdigest()[:32]}"
        await self._write_once(key, records)
        return len(records)

    async def _write_once(self, key: str, records: list[OutboundRecord]) -> None:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout_s
        earlier = self._failed.pop(key, None)
        todo = list(range(len(records)))
        if earlier is not None:
            todo = await self._still_missing(key, earlier, records, deadline)
            if not todo:
                return  # the earlier attempt landed after all: stored, write nothing again
        futures: list[FutureRecordMetadata | None] = [None] * len(records)
        sent_ms = time.time_ns() // 1_000_000
        sent, error = await loop.run_in_executor(None, self._enqueue, [records[i] for i in todo], deadline)
        for i, future in zip(todo, sent, strict=False):
            futures[i] = future
        waiters = [bridge_future(f, loop) for f in sent]
        if waiters and error is None:
            await asyncio.wait(waiters, timeout=max(0.0, deadline - time.monotonic()))
        acked = sum(1 for w in waiters if w.done() and w.exception() is None)
        for w in waiters:
            if not w.done():
                w.cancel()
        if error is not None or acked < len(todo):
            self._remember_failure(key, records, futures, earlier, todo, sent_ms)
            acknowledged = len(records) - len(todo) + acked
            raise KafkaUnavailableError(
                f"{len(records) - acknowledged} of {len(records)} records not acknowledged within "
                f"{self.timeout_s:.1f} s (broker unreachable or partition leader missing)"
                + (f": {error}" if error is not None else ""),
                acknowledged=acknowledged, total=len(records)) from error

    def _enqueue(self, records: list[OutboundRecord],
                 deadline: float) -> tuple[list[FutureRecordMetadata], KafkaPlumbingError | None]:
        """Hand records to the producer one by one; stops at the first failure or at `deadline`.

        Each send blocks at most the producer's max_block_ms (metadata), so with
        ingest_producer_settings the call returns within about twice the send timeout.
        """
        futures: list[FutureRecordMetadata] = []
        for record in records:
            if time.monotonic() >= deadline:
                return futures, KafkaUnavailableError("send timeout reached before every record was queued")
            try:
                futures.append(self.producer.send(record.topic, record.key, record.value, record.headers))
            except KafkaPlumbingError as exc:
                return futures, exc
        return futures, None

    async def _still_missing(self, key: str, earlier: _FailedWrite, records: list[OutboundRecord],
                             deadline: float) -> list[int]:
        """Indexes of `records` the earlier failed attempt did not store; waits for its futures to settle.

        Raises KafkaUnavailableError (the earlier attempt is kept) when they are still undecided at
        `deadline`: writing again then could store a second copy.
        """
        pending = [f for f in earlier.futures if f is not None]
        if not await _settled(pending, deadline, self.producer.check_stuck):
            self._remember(key, earlier)
            raise KafkaUnavailableError("an earlier attempt to store this message is still undecided; retransmit",
                                        total=len(records))
        landed = [f is not None and _succeeded(f) for f in earlier.futures]
        unsure = [i for i, f in enumerate(earlier.futures) if f is not None and not landed[i]]
        if unsure and self._landed is not None:
            check = self._landed
            try:
                found = await asyncio.get_running_loop().run_in_executor(
                    None, check, [earlier.records[i] for i in unsure], earlier.first_sent_ms,
                    max(0.1, deadline - time.monotonic()))
            except KafkaPlumbingError as exc:
                self._remember(key, earlier)
                raise KafkaUnavailableError("cannot yet tell whether an earlier attempt to store this message "
                                            "landed; retransmit", total=len(records)) from exc
            for i, there in zip(unsure, found, strict=True):
                landed[i] = there
            if any(found):
                log.info("%d of %d records the producer reported failed were on the broker after all; not "
                         "written again", sum(found), len(unsure))
        same_layout = len(earlier.records) == len(records) and all(
            (a.topic, a.key) == (b.topic, b.key) for a, b in zip(earlier.records, records, strict=True))
        if not same_layout:  # normalised differently this time: all or nothing
            return [] if all(landed) else list(range(len(records)))
        return [i for i, ok in enumerate(landed) if not ok]

    def _remember_failure(self, key: str, records: list[OutboundRecord], futures: list[FutureRecordMetadata | None],
                          earlier: _FailedWrite | None, todo: list[int], sent_ms: int) -> None:
        if earlier is None:
            self._remember(key, _FailedWrite(records, futures, sent_ms))
            return
        # Records the earlier attempt stored keep its futures (a read-back finds them again: it starts at the
        # first attempt).
        for i in range(len(records)):
            if i not in todo:
                futures[i] = earlier.futures[i]
        self._remember(key, _FailedWrite(records, futures, earlier.first_sent_ms))

    def _remember(self, key: str, attempt: _FailedWrite) -> None:
        self._failed[key] = attempt
        self._failed.move_to_end(key)
        while len(self._failed) > _MAX_FAILED_ATTEMPTS:
            self._failed.popitem(last=False)

    async def write_dead_letter(self, letter: DeadLetter) -> None:
        """Write one dead letter (keyed by patient key, else message id, else source); acks=all."""
        await self.producer.send_all_async([self._dead(letter)], self.timeout_s)

    def write_accepted_sync(self, events: Sequence[ClinicalEvent], raw: bytes, *, message_id: str, sender: str,
                            received_at: datetime, dedup_key: str | None = None) -> int:
        """Blocking `write_accepted`, for command-line backfills."""
        records = self._accepted(events, raw, message_id, sender, received_at, dedup_key)
        self.producer.send_all(records, self.timeout_s)
        return len(records)

    def write_dead_letter_sync(self, letter: DeadLetter) -> None:
        """Blocking `write_dead_letter`."""
        self.producer.send_all([self._dead(letter)], self.timeout_s)


def _succeeded(future: FutureRecordMetadata) -> bool:
    return bool(future.is_done and future.succeeded())


async def _settled(futures: list[FutureRecordMetadata], deadline: float,
                   check_stuck: Callable[[], bool]) -> bool:
    """Wait (without blocking the loop) until every future is done, at most until `deadline` (monotonic s).

    `check_stuck` (EventProducer.check_stuck) fails the futures of a wedged producer, so an earlier
    attempt is never "undecided" for longer than the producer's stuck bound.
    """
    while not all(f.is_done for f in futures):
        check_stuck()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(0.05, remaining))
    return True
