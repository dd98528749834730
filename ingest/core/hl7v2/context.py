"""What every message-type normaliser needs: header facts, patient key, location, ids (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, tzinfo

from pydantic import ValidationError

from ingest.core.errors import InputRejected, MissingField
from ingest.core.event_time import DEFAULT_EVENT_TIME_WINDOW, EventTimeWindow
from ingest.core.hl7v2.datatypes import identifiers, parse_ts
from ingest.core.hl7v2.parser import Message, Segment
from ingest.core.patient_key import PatientKeyPolicy, choose_patient_key
from schemas.base import describe_validation_error

__all__ = ["CODE_SYSTEM_URIS", "MessageContext", "code_system_uri", "patient_key_of", "stable_id", "validated"]

CODE_SYSTEM_URIS = {
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "RXN": "http://www.nlm.nih.gov/research/umls/rxnorm",
}


def code_system_uri(system: str) -> str:
    """FHIR-style URI for well-known HL7 v2 coding-system names; others as received ('' if none)."""
    return CODE_SYSTEM_URIS.get(system.strip().upper(), system.strip())


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Facts of the message header shared by every event built from it."""

    message: Message
    control_id: str
    sender: str
    message_time: datetime | None
    received_at: datetime
    site_zone: tzinfo
    policy: PatientKeyPolicy
    key_memo: dict[tuple[str, ...], str] | None = None
    """Patient keys by raw PID identifier fields, shared across messages by the normaliser."""
    time_window: EventTimeWindow = DEFAULT_EVENT_TIME_WINDOW

    @classmethod
    def build(cls, message: Message, received_at: datetime, site_zone: tzinfo, policy: PatientKeyPolicy,
              key_memo: dict[tuple[str, ...], str] | None = None,
              time_window: EventTimeWindow = DEFAULT_EVENT_TIME_WINDOW) -> MessageContext:
        control_id = message.control_id
        if not control_id:
            raise MissingField("message control id is empty", location="MSH-10", code="missing_control_id")
        msh_time = parse_ts(message.msh.get(7), site_zone, location="MSH-7")
        return cls(message, control_id[:256], message.sender, msh_time, received_at, site_zone, policy, key_memo,
                   time_window)

    def event_time(self, ts: datetime, location: str) -> datetime:
        """`ts` if it lies in the accepted window around `received_at`, else EventTimeOutOfRange at `location`.

        Every event builder passes the time it chose (and the field it came from) through here.
        """
        return self.time_window.check(ts, self.received_at, location=location)

    def message_event_time(self) -> datetime | None:
        """MSH-7 (the fallback event time), checked against the window; None when absent."""
        if self.message_time is None:
            return None
        return self.event_time(self.message_time, "MSH-7")

    @property
    def correlation_id(self) -> str:
        """`hl7:<MSH-4 sending facility>:<MSH-10>`: follows the message into logs, alerts and deliveries
        (same format as sepsis_alert.ops.logging.hl7_correlation_id)."""
        facility = self.message.msh.get(4).split("^", 1)[0].strip()
        return f"hl7:{facility or '-'}:{self.control_id}"

    def patient_key(self, pid: Segment | None) -> str:
        """patient_key_of under this message's policy, memoised."""
        return patient_key_of(pid, self.policy, self.key_memo)


def patient_key_of(pid: Segment | None, policy: PatientKeyPolicy,
                   memo: dict[tuple[str, ...], str] | None = None) -> str:
    """The patient key from PID-3 (then PID-2 and PID-4, which v2.3 senders still fill) under `policy`.

    `memo` (owned by the caller, one per policy) remembers keys by the raw identifier fields:
    a feed names the same patients over and over.
    """
    if pid is None:
        raise MissingField("no PID segment", location="PID", code="missing_patient_id")
    if memo is None:
        return _patient_key(pid, policy)
    d = pid.delims
    raw = (pid.raw(3), pid.raw(2), pid.raw(4), d.component, d.repetition, d.subcomponent, d.escape)
    known = memo.get(raw)
    if known is not None:
        return known
    key = _patient_key(pid, policy)
    if len(memo) > 65536:
        memo.clear()
    memo[raw] = key
    return key


def _patient_key(pid: Segment, policy: PatientKeyPolicy) -> str:
    ids = identifiers(pid, 3) or identifiers(pid, 2) or identifiers(pid, 4)
    key = choose_patient_key(ids, policy, location=f"{pid.label}-3")
    if len(key) > 128:
        raise InputRejected(f"patient identifier longer than 128 characters ({len(key)})",
                            location=f"{pid.label}-3", code="invalid_patient_id")
    return key


def stable_id(*parts: str) -> str:
    """Join id parts with '|'; past 256 characters (the schema limit) use a SHA-256 digest instead."""
    joined = "|".join(parts)
    if len(joined) <= 256:
        return joined
    return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()


def validated(factory: type, where: str, /, **fields: object) -> object:
    """Build a canonical event; a schema violation becomes InputRejected naming the field and value."""
    try:
        return factory(**fields)
    except ValidationError as exc:
        raise InputRejected(describe_validation_error(exc), location=where, code="invalid_event") from None
