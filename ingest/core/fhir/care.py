"""ServiceRequest / MedicationRequest / MedicationAdministration -> schemas.CareEvent (pure).

Classification uses the same code book as the HL7 v2 path (ingest.core.care_codes):
codes first, then text keywords. Event times come from the resource (authoredOn,
occurrence[x], effective[x]); processing time is `received_at`.

* ServiceRequest for a body-fluid culture -> blood_culture_ordered;
  revoked / entered-in-error -> cancelled.
* MedicationRequest for an antibiotic -> antibiotic_ordered (a vasopressor order is
  skipped: SOFA counts what runs, which MedicationAdministration reports);
  cancelled / entered-in-error -> cancelled.
* MedicationAdministration: antibiotic -> antibiotic_given; vasopressor in-progress ->
  vasopressor_started, completed / stopped -> vasopressor_stopped (at effectivePeriod.end
  when given), with the rate from dosage.rateQuantity in ug/kg/min, ug/min or U/min;
  entered-in-error / not-done -> cancelled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.core.care_codes import DrugMatch
from ingest.core.errors import InputRejected, MissingField, UnknownUnitError
from ingest.core.event_time import EventTimeOutOfRange
from ingest.core.fhir.context import NonPatientSubject, NormaliseContext
from ingest.core.fhir.elements import (
    as_dict,
    as_list,
    codings,
    content_digest,
    fhirpath,
    parse_fhir_datetime,
    text_of,
)
from ingest.core.result import Skipped
from schemas.base import Source, describe_validation_error
from schemas.care_event import CareEvent, CareEventKind
from schemas.rounding import round2

__all__ = ["CARE_RESOURCE_TYPES", "RATE_UNITS", "care_resource_is_relevant", "normalise_care_resource"]

CARE_RESOURCE_TYPES = ("ServiceRequest", "MedicationRequest", "MedicationAdministration")

# Infusion-rate spelling -> (canonical CareEvent unit, factor). mL/h is not convertible without
# the concentration, so it is rejected rather than guessed.
RATE_UNITS: dict[str, tuple[str, float]] = {
    "ug/kg/min": ("ug/kg/min", 1.0), "mcg/kg/min": ("ug/kg/min", 1.0), "ug/(kg.min)": ("ug/kg/min", 1.0),
    "ug/kg.min": ("ug/kg/min", 1.0),
    "ug/min": ("ug/min", 1.0), "mcg/min": ("ug/min", 1.0),
    "ug/h": ("ug/min", 1 / 60), "mcg/h": ("ug/min", 1 / 60), "mg/h": ("ug/min", 1000 / 60),
    "mg/min": ("ug/min", 1000.0),
    "U/min": ("U/min", 1.0), "[U]/min": ("U/min", 1.0), "units/min": ("U/min", 1.0),
    "U/h": ("U/min", 1 / 60), "[U]/h": ("U/min", 1 / 60), "units/h": ("U/min", 1 / 60),
}
_CANCEL_STATUS = {
    "ServiceRequest": {"revoked", "entered-in-error"},
    "MedicationRequest": {"cancelled", "entered-in-error"},
    "MedicationAdministration": {"entered-in-error", "not-done"},
}
_ACTIVE_STATUS = {
    "ServiceRequest": {"active", "completed", "on-hold"},
    "MedicationRequest": {"active", "completed", "on-hold"},
    "MedicationAdministration": {"in-progress", "completed", "stopped", "on-hold"},
}


def _source_id(resource: dict[str, Any], resource_type: str, ctx: NormaliseContext) -> str:
    if isinstance(resource.get("id"), str) and resource["id"]:
        return f"{resource_type}/{resource['id']}"[:256]
    for ident in as_list(resource.get("identifier")):
        d = as_dict(ident)
        if isinstance(d.get("value"), str) and d["value"]:
            return f"{d.get('system') or ''}|{d['value']}"[:256]
    return f"{ctx.message_id}#{content_digest(resource)}"[:256]


def _time(resource: dict[str, Any], keys: tuple[str, ...], location: str, ctx: NormaliseContext) -> datetime:
    for key in keys:
        if "." in key:
            parent, child = key.split(".", 1)
            value = as_dict(resource.get(parent)).get(child)
        else:
            value = resource.get(key)
        if value is not None:
            where = fhirpath(location, key)
            return ctx.event_time(parse_fhir_datetime(value, ctx.zone, location=where), where)
    raise MissingField(f"no event time: none of {', '.join(keys)}", location=fhirpath(location, keys[0]),
                       code="missing_time")


def _medication_concept(resource: dict[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    if resource.get("medicationCodeableConcept") is not None:
        return as_dict(resource["medicationCodeableConcept"])
    ref = as_dict(resource.get("medicationReference")).get("reference")
    if isinstance(ref, str) and ref.startswith("#"):
        for contained in as_list(resource.get("contained")):
            if as_dict(contained).get("id") == ref[1:]:
                return as_dict(as_dict(contained).get("code"))
    elif isinstance(ref, str) and ctx.bundle is not None:
        i = ctx.bundle.find(ref)
        target = ctx.bundle.resources[i] if i is not None else None
        if target and target.get("resourceType") == "Medication":
            return as_dict(target.get("code"))
    return {}


def _classify_drug(concept: dict[str, Any], ctx: NormaliseContext) -> tuple[DrugMatch, str, str] | None:
    for coding in codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and (match := ctx.care.classify_drug(code)) is not None:
            return match, code, str(coding.get("system") or "")
    text = text_of(concept)
    match = ctx.care.classify_drug(None, text) if text else None
    if match is None:
        return None
    first = next(codings(concept), {})
    return match, str(first.get("code") or match.name), str(first.get("system") or "text")


def _culture(concept: dict[str, Any], ctx: NormaliseContext) -> tuple[str, str] | None:
    for coding in codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and ctx.care.is_culture_order(code):
            return code, str(coding.get("system") or "")
    text = text_of(concept)
    if text and ctx.care.is_culture_order(None, text):
        first = next(codings(concept), {})
        return str(first.get("code") or "culture"), str(first.get("system") or "text")
    return None


def _rate(resource: dict[str, Any], location: str) -> tuple[float | None, str | None]:
    quantity = as_dict(as_dict(resource.get("dosage")).get("rateQuantity"))
    if not quantity or quantity.get("value") is None:
        return None, None
    where = fhirpath(location, "dosage.rateQuantity")
    spelling = quantity.get("code") or quantity.get("unit")
    known = RATE_UNITS.get(spelling.strip()) if isinstance(spelling, str) else None
    if known is None:
        raise UnknownUnitError(f"infusion rate unit {spelling!r} is not accepted (use ug/kg/min, ug/min or U/min)",
                               location=fhirpath(where, "code" if quantity.get("code") else "unit"))
    value = quantity["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputRejected(f"expected a JSON number, got {value!r}", location=fhirpath(where, "value"),
                            code="invalid_value")
    unit, factor = known
    return (float(value) if factor == 1.0 else round2(float(value) * factor)), unit


def care_resource_is_relevant(resource: dict[str, Any], resource_type: str, ctx: NormaliseContext) -> bool:
    """True when the order / drug is one the code book knows (cheap, before validation)."""
    if resource_type == "ServiceRequest":
        return _culture(as_dict(resource.get("code")), ctx) is not None
    return _classify_drug(_medication_concept(resource, ctx), ctx) is not None


def normalise_care_resource(resource: dict[str, Any], resource_type: str, location: str,
                            ctx: NormaliseContext) -> tuple[list[CareEvent], list[Skipped]]:
    """CareEvents of one validated ServiceRequest / MedicationRequest / MedicationAdministration."""
    status = resource.get("status")
    cancelled = status in _CANCEL_STATUS[resource_type]
    if not cancelled and status not in _ACTIVE_STATUS[resource_type]:
        return [], [Skipped(fhirpath(location, "status"), "status_not_usable", str(status))]
    rate: float | None = None
    rate_unit: str | None = None
    drug = None
    if resource_type == "ServiceRequest":
        found = _culture(as_dict(resource.get("code")), ctx)
        if found is None:
            return [], [Skipped(fhirpath(location, "code"), "unknown_code")]
        code, system = found
        display = text_of(resource.get("code")) or None
        kind = CareEventKind.BLOOD_CULTURE_ORDERED
        times: tuple[str, ...] = ("authoredOn", "occurrenceDateTime", "occurrencePeriod.start")
    else:
        concept = _medication_concept(resource, ctx)
        match = _classify_drug(concept, ctx)
        if match is None:
            return [], [Skipped(fhirpath(location, "medication"), "unknown_code")]
        drug_match, code, system = match
        display = text_of(concept) or drug_match.name
        drug = drug_match.vasopressor
        if resource_type == "MedicationRequest":
            if drug_match.category == "vasopressor" and not cancelled:
                return [], [Skipped(fhirpath(location, "medication"), "vasopressor_order",
                                    "vasopressors are taken from MedicationAdministration")]
            kind = CareEventKind.ANTIBIOTIC_ORDERED
            times = ("authoredOn",)
        elif drug_match.category == "antibiotic":
            kind = CareEventKind.ANTIBIOTIC_GIVEN
            times = ("effectiveDateTime", "effectivePeriod.start")
        else:
            stopped = status in ("completed", "stopped")
            kind = CareEventKind.VASOPRESSOR_STOPPED if stopped else CareEventKind.VASOPRESSOR_STARTED
            times = (("effectivePeriod.end", "effectiveDateTime", "effectivePeriod.start") if stopped
                     else ("effectiveDateTime", "effectivePeriod.start"))
            if not stopped and not cancelled:
                rate, rate_unit = _rate(resource, location)
    source_id = _source_id(resource, resource_type, ctx)
    try:
        patient_key = ctx.patient_key(resource, location)
    except NonPatientSubject as exc:
        return [], [Skipped(fhirpath(location, "subject"), "non_patient_subject", exc.reference)]
    try:
        event_time = _time(resource, times, location, ctx)
    except EventTimeOutOfRange as exc:
        if not exc.too_old:
            raise
        # An order or administration from the patient's history cannot bear on a sepsis episode now.
        return [], [Skipped(exc.location, "historical", exc.message)]
    try:
        event = CareEvent(
            patient_key=patient_key, event=CareEventKind.CANCELLED if cancelled else kind,
            encounter_id=ctx.encounter_id(resource) if resource_type != "MedicationAdministration"
            else ctx.encounter_id({"encounter": resource.get("context")}),
            code=code[:64], code_system=system[:256] or "unknown", display=(display or None) and display[:256],
            event_time=event_time, received_at=ctx.received_at, source=Source.FHIR,
            source_message_id=ctx.message_id[:256], source_id=source_id, drug=drug, rate=rate, rate_unit=rate_unit,
            cancels_source_id=source_id if cancelled else None,
        )
    except ValidationError as exc:
        raise InputRejected(describe_validation_error(exc), location=location, code="invalid_value") from None
    return [event], []
