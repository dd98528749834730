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
  (HL7 AE, HTTP 503). Records may still land later (producer retries):
  consumers de-duplicate by `source_id` (at-least-once).
* Raw and dead-letter records carry headers: source, source_message_id, sender, received_at.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from ingest.core.result import ClinicalEvent
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord

__all__ = ["TOPIC_BY_KIND", "KafkaEventSink", "accepted_records", "dedup_record"]

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
                 dead_letter_topic: str = Topics.DEAD_LETTER) -> None:
        self.producer = producer
        self.raw_topic = raw_topic
        self.timeout_s = timeout_s
        self.source = source
        self.dead_letter_topic = dead_letter_topic

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

        Raises KafkaUnavailableError (not stored) after about `timeout_s` seconds.
        """
        records = self._accepted(events, raw, message_id, sender, received_at, dedup_key)
        await self.producer.send_all_async(records, self.timeout_s)
        return len(records)

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
