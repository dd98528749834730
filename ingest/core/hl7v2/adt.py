"""ADT A01/A02/A03/A04/A08/A11/A12/A13/A40 -> PatientEvents (pure).

* event time: EVN-6 (event occurred), else EVN-2 (recorded), else MSH-7.
* age: completed years between PID-7 (birth date) and the event time's date, as
  clinicians count it (the adult-only scores switch at 16, a birthday matters).
* sex: PID-8 (M, F, O/A/N -> other, U or empty -> unknown).
* location: PV1-3; prior location: PV1-6 (the ward a transfer left).
* A11/A12/A13 cancel an admit/transfer/discharge (`cancels`); A40 merges the MRG-1
  patient into the PID-3 patient (one event per PID/MRG pair).
Other ADT triggers are not used by the detector and are reported as ignored.
OBX segments inside ADT messages are not read (vitals come by ORU).
"""

from __future__ import annotations

from datetime import date, datetime

from ingest.core.errors import InputRejected, MissingField
from ingest.core.hl7v2.context import MessageContext, validated
from ingest.core.hl7v2.datatypes import identifiers, location, parse_date, parse_ts
from ingest.core.hl7v2.parser import Segment
from ingest.core.patient_key import choose_patient_key
from ingest.core.result import ClinicalEvent
from schemas.base import Source
from schemas.patient_event import PatientEvent, PatientEventKind, Sex

__all__ = ["ADT_EVENTS", "normalise_adt"]

ADT_EVENTS: dict[str, tuple[PatientEventKind, PatientEventKind | None]] = {
    "A01": (PatientEventKind.ADMIT, None),
    "A04": (PatientEventKind.ADMIT, None),
    "A02": (PatientEventKind.TRANSFER, None),
    "A03": (PatientEventKind.DISCHARGE, None),
    "A08": (PatientEventKind.UPDATE, None),
    "A11": (PatientEventKind.CANCEL, PatientEventKind.ADMIT),
    "A12": (PatientEventKind.CANCEL, PatientEventKind.TRANSFER),
    "A13": (PatientEventKind.CANCEL, PatientEventKind.DISCHARGE),
    "A40": (PatientEventKind.MERGE, None),
}
SEX = {"M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER, "A": Sex.OTHER, "N": Sex.OTHER, "U": Sex.UNKNOWN}


def completed_years(born: date, on: date) -> int:
    """Age in completed years on a date (birthday not yet reached this year counts one less)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _event_time(ctx: MessageContext) -> datetime:
    evn = ctx.message.first("EVN")
    if evn is not None:
        for field in (6, 2):
            ts = parse_ts(evn.get(field), ctx.site_zone, location=f"EVN-{field}")
            if ts is not None:
                return ctx.event_time(ts, f"EVN-{field}")
    message_time = ctx.message_event_time()
    if message_time is None:
        raise MissingField("no event time in EVN-6, EVN-2 or MSH-7", location="EVN-2", code="missing_time")
    return message_time


def normalise_adt(ctx: MessageContext, trigger: str) -> list[ClinicalEvent]:
    """The PatientEvents of one ADT message whose trigger is in ADT_EVENTS."""
    kind, cancels = ADT_EVENTS[trigger]
    event_time = _event_time(ctx)
    message = ctx.message
    pids = message.all("PID")
    if not pids:
        raise MissingField("no PID segment", location="PID", code="missing_patient_id")
    if kind is PatientEventKind.MERGE:
        return [_merge(ctx, pid, event_time) for pid in pids]
    pid = pids[0]
    pv1 = message.first("PV1")
    return [_event(ctx, pid, pv1, kind, cancels, trigger, event_time)]


def _demographics(pid: Segment, event_time: datetime) -> dict[str, object]:
    born = parse_date(pid.get(7), location=f"{pid.label}-7")
    age: int | None = None
    if born is not None:
        age = completed_years(born, event_time.date())
        if age < 0:
            raise InputRejected(f"birth date {born.isoformat()} is after the event time {event_time.isoformat()}",
                                location=f"{pid.label}-7", code="invalid_birth_date")
        if age > 130:
            raise InputRejected(f"birth date {born.isoformat()} gives an implausible age of {age} years",
                                location=f"{pid.label}-7", code="invalid_birth_date")
    sex = SEX.get(pid.get(8).strip().upper()[:1], Sex.UNKNOWN)
    return {"birth_date": born, "age_years": None if age is None else float(age), "sex": sex}


def _event(ctx: MessageContext, pid: Segment, pv1: Segment | None, kind: PatientEventKind,
           cancels: PatientEventKind | None, trigger: str, event_time: datetime) -> PatientEvent:
    return validated(  # type: ignore[return-value]
        PatientEvent, pid.label,
        patient_key=ctx.patient_key(pid), event=kind,
        encounter_id=(pv1.get(19).strip()[:128] or None) if pv1 is not None else None,
        event_time=event_time, received_at=ctx.received_at, source=Source.HL7V2,
        source_message_id=ctx.control_id, trigger=f"ADT^{trigger}",
        location=location(pv1, 3), prior_location=location(pv1, 6), cancels=cancels,
        **_demographics(pid, event_time),
    )


def _merge(ctx: MessageContext, pid: Segment, event_time: datetime) -> PatientEvent:
    segments = ctx.message.segments
    index = segments.index(pid)
    mrg = next((s for s in segments[index + 1:] if s.name in ("MRG", "PID")), None)
    if mrg is None or mrg.name != "MRG":
        raise MissingField("A40 merge without an MRG segment after the PID", location=f"{pid.label}",
                           code="missing_merge")
    retired = choose_patient_key(identifiers(mrg, 1), ctx.policy, location=f"{mrg.label}-1")
    return validated(  # type: ignore[return-value]
        PatientEvent, mrg.label,
        patient_key=ctx.patient_key(pid), event=PatientEventKind.MERGE, event_time=event_time,
        received_at=ctx.received_at, source=Source.HL7V2, source_message_id=ctx.control_id,
        trigger="ADT^A40", merged_from_key=retired, **_demographics(pid, event_time),
    )
