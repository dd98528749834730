"""Where the FHIR endpoint puts what it accepts: the Kafka sink, and the memory of accepted resources.

Duplicates: a bounded LRU of (type, id, meta.versionId, status) and
(type, identifier system|value, versionId, status) of accepted single-resource POSTs.
The first key of each accepted resource is also written as a marker to the compacted
ingest-dedup topic in the same acks=all batch (prefix `fhir-rest|`), and the worker
reloads those markers at start-up, so a duplicate POST after a restart is still
answered 200 without being stored again. Events carry a stable `source_id` as well, so
consumers de-duplicate anything that slips through (at-least-once). The status is part
of the key so a correction is never taken for a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, Protocol

from ingest.adapters.dedup import FHIR_KEY_PREFIX
from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.landed import KafkaLandedCheck
from ingest.core.result import ClinicalEvent
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.errors import KafkaPlumbingError, KafkaUnavailableError
from sepsis_alert.kafka.producer import EventProducer

__all__ = ["FhirSink", "KafkaFhirSink", "SeenSet"]


class FhirSink(Protocol):
    """Where accepted and rejected input goes. Both calls raise KafkaUnavailableError when not acknowledged."""

    async def store(self, raw: bytes, message_id: str, events: list[ClinicalEvent], received_at: datetime,
                    dedup_key: str | None = None) -> None:
        ...

    async def dead_letter(self, letter: DeadLetter) -> None: ...


class KafkaFhirSink:
    """The shared ingest sink (ingest/adapters/kafka_sink.py) with the FHIR raw topic: events keyed by
    patient key, the raw body on sepsis.raw.fhir, dead letters; one acks=all batch per request."""

    def __init__(self, producer: EventProducer, timeout_s: float) -> None:
        self._sink = KafkaEventSink(producer, raw_topic=Topics.RAW_FHIR, timeout_s=timeout_s, source="fhir",
                                    landed=KafkaLandedCheck(producer.settings))

    async def store(self, raw: bytes, message_id: str, events: list[ClinicalEvent], received_at: datetime,
                    dedup_key: str | None = None) -> None:
        """`dedup_key` (a SeenSet key) also writes a marker, so a restarted endpoint still knows the resource."""
        marker = FHIR_KEY_PREFIX + dedup_key if dedup_key else None
        try:
            await self._sink.write_accepted(events, raw, message_id=message_id, sender="", received_at=received_at,
                                            dedup_key=marker)
        except KafkaUnavailableError:
            raise
        except KafkaPlumbingError as exc:  # e.g. a record too large for the broker: still "not stored"
            raise KafkaUnavailableError(str(exc)) from exc

    async def dead_letter(self, letter: DeadLetter) -> None:
        try:
            await self._sink.write_dead_letter(letter)
        except KafkaUnavailableError:
            raise
        except KafkaPlumbingError as exc:
            raise KafkaUnavailableError(str(exc)) from exc


class SeenSet:
    """Bounded LRU of duplicate keys of accepted resources (in memory, see module docstring)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    @staticmethod
    def keys_for(resource: dict[str, Any]) -> list[str]:
        rtype = resource.get("resourceType")
        meta = resource.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        tail = f"{meta.get('versionId') or ''}|{resource.get('status') or ''}"
        keys = []
        if isinstance(resource.get("id"), str) and resource["id"]:
            keys.append(f"{rtype}/{resource['id']}|{tail}")
        identifiers = resource.get("identifier")
        for ident in identifiers if isinstance(identifiers, list) else []:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                keys.append(f"{rtype}|{ident.get('system') or ''}|{ident['value']}|{tail}")
        return keys

    def seen(self, keys: list[str]) -> bool:
        return any(k in self._keys for k in keys)

    def add(self, keys: list[str]) -> None:
        if self.capacity <= 0:
            return
        for k in keys:
            self._keys[k] = None
            self._keys.move_to_end(k)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
