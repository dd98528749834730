"""Patient and Encounter -> schemas.PatientEvent (pure).

* Patient -> `update` (birth date, sex) keyed by its identifiers under the patient-key
  policy (logical id when it has none). Event time: meta.lastUpdated, else
  `received_at` (a Patient carries no clinical event time).
* Encounter (any class) -> in-progress / arrived: `admit` at period.start;
  finished: `discharge` at period.end; cancelled / entered-in-error: `cancel` of the
  admit; planned / triaged / onleave / unknown: skipped. When the period element is
  absent the time is meta.lastUpdated, else `received_at` (a pushed Encounter
  notification is near real time; that fallback is processing time).
  The detector gets the same kinds as from HL7 ADT A01/A03/A11.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from ingest.core.errors import InputRejected, MissingField
from ingest.core.event_time import EventTimeOutOfRange
from ingest.core.fhir.context import LOGICAL_ID_AUTHORITY, NonPatientSubject, NormaliseContext, patient_identifiers
from ingest.core.fhir.elements import as_dict, as_list, fhirpath, parse_fhir_datetime
from ingest.core.patient_key import Identifier, choose_patient_key
from ingest.core.result import Skipped
from schemas.base import Location, Source, describe_validation_error
from schemas.patient_event import PatientEvent, PatientEventKind, Sex

__all__ = ["normalise_encounter", "normalise_patient"]

_SEX = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _last_updated(resource: dict[str, Any], location: str, ctx: NormaliseContext) -> datetime:
    value = as_dict(resource.get("meta")).get("lastUpdated")
    if value is None:
        return ctx.received_at
    where = fhirpath(location, "meta.lastUpdated")
    try:
        return ctx.event_time(parse_fhir_datetime(value, ctx.zone, location=where), where)
    except EventTimeOutOfRange as exc:
        if not exc.too_old:
            raise
        # A record untouched for decades still tells the current demographics: dated like one without lastUpdated.
        return ctx.received_at


def _build(where: str, **fields: Any) -> PatientEvent:
    try:
        return PatientEvent(source=Source.FHIR, **fields)
    except ValidationError as exc:
        raise InputRejected(describe_validation_error(exc), location=where, code="invalid_value") from None


def normalise_patient(resource: dict[str, Any], location: str,
                      ctx: NormaliseContext) -> tuple[list[PatientEvent], list[Skipped]]:
    """A demographic `update` PatientEvent from a validated Patient.

    A Patient with no usable identifier (and no id) cannot be keyed: it is skipped
    (`missing_patient_id`), not rejected, because nothing in it is wrong FHIR.
    """
    identifiers = patient_identifiers(resource)
    if not identifiers and isinstance(resource.get("id"), str):
        identifiers = [Identifier(value=resource["id"], authority=LOGICAL_ID_AUTHORITY)]
    try:
        key = choose_patient_key(identifiers, ctx.settings.patient_key, location=fhirpath(location, "identifier"))
    except MissingField as exc:
        return [], [Skipped(exc.location, "missing_patient_id", exc.message)]
    birth = resource.get("birthDate")
    birth_date = date.fromisoformat(birth) if isinstance(birth, str) and _FULL_DATE.match(birth) else None
    return [_build(location, patient_key=key, event=PatientEventKind.UPDATE,
                   event_time=_last_updated(resource, location, ctx), received_at=ctx.received_at,
                   source_message_id=ctx.message_id[:256], trigger="Patient", birth_date=birth_date,
                   sex=_SEX.get(resource.get("gender") or "unknown", Sex.UNKNOWN))], []


def _location(resource: dict[str, Any]) -> Location | None:
    for loc in as_list(resource.get("location")):
        display = as_dict(as_dict(loc).get("location")).get("display")
        if isinstance(display, str) and display.strip():
            return Location(unit=display.strip()[:64])
    return None


def normalise_encounter(resource: dict[str, Any], location: str,
                        ctx: NormaliseContext) -> tuple[list[PatientEvent], list[Skipped]]:
    """admit / discharge / cancel PatientEvents from a validated Encounter."""
    status = resource.get("status")
    period = as_dict(resource.get("period"))
    if status in ("in-progress", "arrived"):
        kind, cancels, key = PatientEventKind.ADMIT, None, "start"
    elif status == "finished":
        kind, cancels, key = PatientEventKind.DISCHARGE, None, "end"
    elif status in ("cancelled", "entered-in-error"):
        kind, cancels, key = PatientEventKind.CANCEL, PatientEventKind.ADMIT, ""
    else:
        return [], [Skipped(fhirpath(location, "status"), "status_not_usable", str(status))]
    try:
        patient_key = ctx.patient_key(resource, location)
    except NonPatientSubject as exc:
        return [], [Skipped(fhirpath(location, "subject"), "non_patient_subject", exc.reference)]
    try:
        if key and period.get(key) is not None:
            where = fhirpath(location, "period", key)
            event_time = ctx.event_time(parse_fhir_datetime(period[key], ctx.zone, location=where), where)
        else:
            event_time = _last_updated(resource, location, ctx)
    except EventTimeOutOfRange as exc:
        if not exc.too_old:
            raise
        # A past stay from the patient's history: nothing to admit or discharge now, and not an error.
        return [], [Skipped(exc.location, "historical", exc.message)]
    encounter_id = resource["id"][:128] if isinstance(resource.get("id"), str) else None
    class_code = as_dict(resource.get("class")).get("code")
    return [_build(location, patient_key=patient_key, event=kind, encounter_id=encounter_id, event_time=event_time,
                   received_at=ctx.received_at, source_message_id=ctx.message_id[:256],
                   trigger=f"Encounter/{class_code}"[:16] if isinstance(class_code, str) else "Encounter",
                   location=_location(resource), cancels=cancels)], []
