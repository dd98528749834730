"""FHIR Observation -> canonical schemas.Observation events (pure; event time from the resource).

One FHIR Observation can give several events: its own value (when its code is a
measure) and one per component whose code is a measure (blood-pressure panel
85354-9 with 8480-6 / 8462-4, GCS 9269-2 with eye / verbal / motor). Each event's
`source_id` is the Observation's stable id, plus `#<LOINC>` for components, so a
duplicate or a correction of the same FHIR resource hits the same ids.

Rules (clinical-scores.md §1, §1.6):
* codes: any `code.coding` with system http://loinc.org found in LOINC_TO_MEASURE;
  everything else is skipped (`unknown_code`) without further checks;
* status: final/preliminary as is, amended/corrected -> CORRECTED (replace),
  cancelled/entered-in-error -> CANCELLED (retract every measure of the resource),
  registered/unknown -> skipped (no usable result yet);
* units: valueQuantity.code when system is UCUM, else the `unit` text, through
  the same alias table as HL7 v2 (ingest.core.units); unknown units and
  implausible values are rejected with the FHIRPath of the bad element;
* dataAbsentReason: skipped (`data_absent`); a value AND a dataAbsentReason
  violate invariant obs-6 and the resource is rejected;
* event time: effectiveDateTime, effectivePeriod.start, effectiveInstant, else issued,
  else (inside a Bundle) the time of the DiagnosticReport (result) or panel (hasMember) grouping it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from ingest.core.errors import ImplausibleValueError, InputRejected, MissingField, UnknownUnitError
from ingest.core.fhir.context import NonPatientSubject, NormaliseContext
from ingest.core.fhir.elements import (
    LOINC_SYSTEM,
    UCUM_SYSTEM,
    as_dict,
    as_list,
    codings,
    content_digest,
    fhirpath,
    loinc_measure,
    parse_fhir_datetime,
)
from ingest.core.result import Skipped
from ingest.core.units import to_canonical
from schemas.base import Source, describe_validation_error
from schemas.measures import MEASURES, Measure
from schemas.observation import Observation, ResultStatus

__all__ = ["ACVPU_SNOMED", "check_observation_invariants", "normalise_observation", "observation_is_relevant"]

_STATUS: dict[str, ResultStatus] = {
    "final": ResultStatus.FINAL,
    "preliminary": ResultStatus.PRELIMINARY,
    "amended": ResultStatus.CORRECTED,
    "corrected": ResultStatus.CORRECTED,
    "cancelled": ResultStatus.CANCELLED,
    "entered-in-error": ResultStatus.CANCELLED,
}

ACVPU_SNOMED: dict[str, str] = {
    # clinical-scores.md §1.2: SNOMED CT answers seen in FHIR NEWS2 feeds.
    "248234008": "A",  # Mentally alert
    "300202002": "V",  # Responds to voice
    "450847001": "P",  # Responds to pain
    "422768004": "U",  # Unresponsive
}
_SNOMED = "http://snomed.info/sct"
_ORDINAL_URLS = ("http://hl7.org/fhir/StructureDefinition/ordinalValue",
                 "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value")
# Event-time elements in order of preference: (key in the resource, FHIRPath step).
_TIME_ELEMENTS = (("effectiveDateTime", "effectiveDateTime"), ("effectivePeriod", "effectivePeriod.start"),
                  ("effectiveInstant", "effectiveInstant"), ("issued", "issued"))
_VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
               "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod")


def observation_is_relevant(resource: dict[str, Any]) -> bool:
    """True when the Observation or one of its components carries a code we use (cheap, pre-validation)."""
    if loinc_measure(resource.get("code")) is not None:
        return True
    return any(loinc_measure(as_dict(c).get("code")) is not None for c in as_list(resource.get("component")))


def _coding_keys(concept: Any) -> set[tuple[Any, Any]]:
    return {(c.get("system"), c.get("code")) for c in codings(as_dict(concept)) if c.get("code")}


def check_observation_invariants(resource: dict[str, Any], location: str) -> None:
    """What fhir.resources does not check: the required `code` (1..1), even of an Observation we would not use,
    and invariants obs-6 (no dataAbsentReason next to a value[x]) and obs-7 (no value[x] when a component
    has the Observation's own code: the value would be stated twice, possibly differently)."""
    if resource.get("code") is None:
        raise MissingField("Observation.code is required (cardinality 1..1)", location=fhirpath(location, "code"),
                           code="missing_required")
    present = [k for k in _VALUE_KEYS if resource.get(k) is not None]
    if resource.get("dataAbsentReason") is not None and present:
        raise InputRejected(f"obs-6: dataAbsentReason SHALL only be present if value[x] is not present "
                            f"(found {present[0]})", location=fhirpath(location, "dataAbsentReason"),
                            code="invariant_violation")
    if present and resource.get("component"):
        own = _coding_keys(resource.get("code"))
        for i, comp in enumerate(as_list(resource.get("component"))):
            if own & _coding_keys(as_dict(comp).get("code")):
                raise InputRejected(f"obs-7: a component has the Observation's own code, so {present[0]} SHALL "
                                    f"not be present", location=fhirpath(location, "component", i, "code"),
                                    code="invariant_violation")


def _event_time(resource: dict[str, Any], location: str, ctx: NormaliseContext) -> datetime:
    """Event time from effective[x] / issued / the citing DiagnosticReport, checked against the window."""
    for key, step in _TIME_ELEMENTS:
        value = resource.get(key)
        if key == "effectivePeriod":
            value = as_dict(value).get("start")
        if value is not None:
            where = fhirpath(location, step)  # built only for the element used: this runs per Observation
            return ctx.event_time(parse_fhir_datetime(value, ctx.zone, location=where), where)
    report = ctx.report_time()
    if report is not None and report[0] is not None:
        value, where = report
        return ctx.event_time(parse_fhir_datetime(value, ctx.zone, location=where), where)
    raise MissingField("no event time: none of effectiveDateTime, effectivePeriod.start, effectiveInstant, "
                       "issued", location=fhirpath(location, "effective[x]"), code="missing_time")


def stable_observation_id(resource: dict[str, Any], fallback: Callable[[], str]) -> str:
    """`Observation/<id>`, else `<system>|<value>` of the first identifier, else `fallback()`.

    The fallback (a content digest) is a callable because hashing the resource is
    the dearest step here and is needed only when the sender gave no id.
    """
    if isinstance(resource.get("id"), str) and resource["id"]:
        return f"Observation/{resource['id']}"
    for ident in as_list(resource.get("identifier")):
        d = as_dict(ident)
        if isinstance(d.get("value"), str) and d["value"]:
            return f"{d.get('system') or ''}|{d['value']}"[:256]
    return fallback()


def _number(value: Any, location: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InputRejected(f"expected a JSON number, got {value!r}", location=location, code="invalid_value")
    return float(value)


def _ordinal(concept: dict[str, Any]) -> float | None:
    for coding in codings(concept):
        for ext in as_list(coding.get("extension")):
            e = as_dict(ext)
            if e.get("url") in _ORDINAL_URLS and isinstance(e.get("valueDecimal"), int | float):
                return float(e["valueDecimal"])
    return None


def _acvpu(concept: dict[str, Any]) -> str | None:
    for coding in codings(concept):
        code = coding.get("code")
        if coding.get("system") == _SNOMED and code in ACVPU_SNOMED:
            return ACVPU_SNOMED[code]
        if isinstance(code, str) and code.upper() in ("A", "C", "V", "P", "U"):
            return code.upper()
    return None


def _quantity(measure: Measure, quantity: dict[str, Any], location: str) -> float | Skipped:
    where = fhirpath(location, "valueQuantity")
    if quantity.get("value") is None:
        return Skipped(where, "no_value", "valueQuantity without value")
    if quantity.get("comparator") is not None:
        # A censored result (<, >) is not an exact value; the scores need exact values.
        return Skipped(where, "censored_value", f"comparator {quantity['comparator']!r}")
    value = _number(quantity["value"], fhirpath(where, "value"))
    code, unit = quantity.get("code"), quantity.get("unit")
    try:
        if isinstance(code, str) and code and quantity.get("system") in (UCUM_SYSTEM, None):
            try:
                return to_canonical(measure, value, code, location=fhirpath(where, "code"))
            except UnknownUnitError:
                if not isinstance(unit, str) or unit == code:
                    raise
        return to_canonical(measure, value, unit if isinstance(unit, str) else None,
                            location=fhirpath(where, "unit"))
    except ImplausibleValueError as exc:
        exc.location = fhirpath(where, "value")  # the number is wrong, not the unit it came with
        raise


def _value_of(measure: Measure, element: dict[str, Any], location: str) -> tuple[float | None, str | None] | Skipped:
    """(value, value_code) of an Observation or component in the canonical unit, or why it is skipped."""
    if element.get("dataAbsentReason") is not None:
        return Skipped(fhirpath(location, "dataAbsentReason"), "data_absent")
    if measure is Measure.CONSCIOUSNESS:
        concept = as_dict(element.get("valueCodeableConcept"))
        if not concept:
            return Skipped(location, "non_coded", "consciousness needs valueCodeableConcept")
        level = _acvpu(concept)
        if level is None:
            return Skipped(fhirpath(location, "valueCodeableConcept"), "unknown_answer", "not an ACVPU answer")
        return None, level
    if element.get("valueQuantity") is not None:
        got = _quantity(measure, as_dict(element["valueQuantity"]), location)
        return got if isinstance(got, Skipped) else (got, None)
    if element.get("valueInteger") is not None:
        value = _number(element["valueInteger"], fhirpath(location, "valueInteger"))
        return to_canonical(measure, value, None, location=fhirpath(location, "valueInteger")), None
    if element.get("valueCodeableConcept") is not None and MEASURES[measure].integer:
        ordinal = _ordinal(as_dict(element["valueCodeableConcept"]))  # e.g. GCS answers with ordinalValue
        if ordinal is not None:
            where = fhirpath(location, "valueCodeableConcept")
            return to_canonical(measure, ordinal, None, location=where), None
    present = next((k for k in _VALUE_KEYS if element.get(k) is not None), None)
    return Skipped(location, "non_numeric" if present else "no_value", present or "no value[x]")


def normalise_observation(resource: dict[str, Any], location: str,
                          ctx: NormaliseContext) -> tuple[list[Observation], list[Skipped]]:
    """Events and skips of one validated FHIR Observation (`location` is its FHIRPath, e.g. `Observation`).

    Times: `effective_at` is event time from the resource (site zone when it has no
    offset); `received_at` is processing time given by the caller.
    """
    skipped: list[Skipped] = []
    status_raw = resource.get("status")
    status = _STATUS.get(status_raw) if isinstance(status_raw, str) else None
    if status is None:
        return [], [Skipped(fhirpath(location, "status"), "status_not_usable", str(status_raw))]
    targets: list[tuple[Measure, str, dict[str, Any], str, str]] = []  # measure, code, element, path, suffix
    top = loinc_measure(resource.get("code"))
    if top is not None:
        targets.append((top[0], top[1], resource, location, ""))
    elif not resource.get("component"):
        skipped.append(Skipped(fhirpath(location, "code"), "unknown_code"))
    for i, comp in enumerate(as_list(resource.get("component"))):
        found = loinc_measure(as_dict(comp).get("code"))
        path = fhirpath(location, "component", i)
        if found is None:
            skipped.append(Skipped(fhirpath(path, "code"), "unknown_code"))
        else:
            targets.append((found[0], found[1], as_dict(comp), path, f"#{found[1]}"))
    if not targets:
        return [], skipped
    try:
        patient_key = ctx.patient_key(resource, location)
    except NonPatientSubject as exc:
        return [], [*skipped, Skipped(fhirpath(location, "subject"), "non_patient_subject", exc.reference)]
    effective_at = _event_time(resource, location, ctx)
    base_id = stable_observation_id(resource, lambda: f"{ctx.message_id}#{content_digest(resource)}")
    encounter_id = ctx.encounter_id(resource)
    events: list[Observation] = []
    for measure, code, element, path, suffix in targets:
        if status is ResultStatus.CANCELLED:
            value, value_code = None, None  # a retraction carries no value
        else:
            got = _value_of(measure, element, path)
            if isinstance(got, Skipped):
                skipped.append(got)
                continue
            value, value_code = got
        try:
            events.append(Observation(
                patient_key=patient_key, encounter_id=encounter_id, measure=measure, code=code,
                code_system=LOINC_SYSTEM, value=value, value_code=value_code, unit=MEASURES[measure].unit,
                effective_at=effective_at, received_at=ctx.received_at, source=Source.FHIR,
                source_message_id=ctx.message_id[:256], source_id=(base_id + suffix)[:256], status=status,
            ))
        except ValidationError as exc:
            raise InputRejected(describe_validation_error(exc), location=path, code="invalid_value") from None
    return events, skipped
