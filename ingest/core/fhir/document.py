"""Entry points: one FHIR JSON document (a resource or a Bundle) -> canonical events (pure).

`normalise_fhir_document` is all-or-nothing (a transaction, or the `parse` CLI): the
first rejected entry rejects the document. `analyse_fhir_document` keeps the
per-entry outcomes for a batch, where good entries are stored and bad ones are
answered one by one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected, ParseError
from ingest.core.fhir.bundle import (
    EntryOutcome,
    Notification,
    check_envelope,
    normalise_entries,
    normalise_resource,
    read_notification,
)
from ingest.core.fhir.context import NormaliseContext
from ingest.core.result import ClinicalEvent, Normalised, Skipped, number_parts

__all__ = [
    "FhirDocument",
    "analyse_fhir_document",
    "document_message_id",
    "events_of",
    "normalise_fhir_document",
    "parse_fhir_json",
]

NOTIFICATION_EVENT_KINDS = ("event-notification", "query-event")


@dataclass(slots=True)
class FhirDocument:
    """A parsed FHIR document and what each part gave.

    For a single resource `entries` is empty and `events`/`skipped` hold its result.
    For a Bundle every entry has an EntryOutcome (first entry of a notification excluded).
    """

    resource_type: str
    message_id: str
    message_type: str
    bundle_type: str | None = None
    notification: Notification | None = None
    entries: list[EntryOutcome] = field(default_factory=list)
    events: list[ClinicalEvent] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def errors(self) -> list[InputRejected]:
        return [e.error for e in self.entries if e.error is not None]


def parse_fhir_json(raw: bytes) -> dict[str, Any]:
    """The JSON object of a FHIR document; ParseError (location `$`) when it is not one."""
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # tolerate a UTF-8 BOM
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"body is not valid JSON: {exc}", location="$") from None
    if not isinstance(doc, dict):
        raise ParseError(f"a FHIR resource must be a JSON object, got {type(doc).__name__}", location="$")
    rtype = doc.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise ParseError("resourceType is missing: not a FHIR resource", location="resourceType")
    return doc


def document_message_id(doc: dict[str, Any], raw: bytes) -> str:
    """`<Type>/<id>[/_history/<versionId>]` of the document, else a digest of the raw bytes."""
    rid = doc.get("id")
    if isinstance(rid, str) and rid:
        version = doc.get("meta", {}).get("versionId") if isinstance(doc.get("meta"), dict) else None
        base = f"{doc['resourceType']}/{rid}"
        return f"{base}/_history/{version}" if isinstance(version, str) and version else base
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def analyse_fhir_document(raw: bytes, settings: IngestSettings, received_at: datetime, *,
                          writes_only: bool = False) -> FhirDocument:
    """Parse and normalise a document, keeping per-entry outcomes of Bundles.

    Raises InputRejected for a document-level defect (not JSON, invalid Bundle envelope,
    invalid notification status, or a rejected single resource). `received_at` is
    processing time, given by the caller.
    """
    doc = parse_fhir_json(raw)
    return analyse_parsed(doc, document_message_id(doc, raw), settings, received_at, writes_only=writes_only)


def analyse_parsed(doc: dict[str, Any], message_id: str, settings: IngestSettings, received_at: datetime, *,
                   writes_only: bool = False) -> FhirDocument:
    """`analyse_fhir_document` for an already parsed JSON object."""
    rtype = str(doc["resourceType"])
    ctx = NormaliseContext(settings=settings, received_at=received_at, message_id=message_id)
    if rtype != "Bundle":
        events, skipped = normalise_resource(doc, rtype, ctx)
        return FhirDocument(rtype, message_id, rtype, events=number_parts(events), skipped=skipped)
    check_envelope(doc)
    btype = str(doc.get("type"))
    out = FhirDocument(rtype, message_id, f"Bundle/{btype}", bundle_type=btype)
    out.notification = read_notification(doc)
    first = 0
    if out.notification is not None:
        out.message_type = f"notification/{out.notification.form}/{out.notification.kind}"
        if out.notification.kind not in NOTIFICATION_EVENT_KINDS:
            return out  # handshake / heartbeat / query-status: answered and counted, no events
        first = 1
    out.entries = normalise_entries(doc, ctx, first=first, writes_only=writes_only)
    out.events = number_parts([ev for e in out.entries if e.error is None for ev in e.events])
    out.skipped = [s for e in out.entries for s in e.skipped]
    return out


def events_of(outcomes: list[EntryOutcome]) -> list[ClinicalEvent]:
    """Events of the accepted entries, with observation parts numbered over them (batch use)."""
    return number_parts([ev for e in outcomes if e.error is None for ev in e.events])


def normalise_fhir_document(raw: bytes, settings: IngestSettings, received_at: datetime) -> Normalised:
    """Canonical events of one FHIR JSON document (a resource or a Bundle), all or nothing.

    Detects the type from `resourceType`; Bundles of any type are read entry by entry
    (Subscription notifications: the status entry is read, handshakes and heartbeats
    give no events). Raises ingest.core.errors.InputRejected (with a FHIRPath
    `location`) for the first invalid part. Times: events carry event time from the
    resources; `received_at` (processing time) is stamped on each.
    """
    doc = analyse_fhir_document(raw, settings, received_at)
    if doc.errors:
        raise doc.errors[0]
    return Normalised(message_id=doc.message_id, message_type=doc.message_type, events=doc.events,
                      skipped=doc.skipped)
