"""ORU^R01 (v2.3-2.8) -> Observations (pure).

Per OBX, in message order:

* measure: a LOINC code in OBX-3 at any position (CE/CWE 1-3, 4-6, CWE 10-12; the
  coding system must be LN/LOINC or empty), else the site's local-code map.
  Unknown codes are skipped and counted (`unknown_code`).
* status (OBX-11): F/U/empty final; P/R/S preliminary; C/A corrected; X/D/W cancelled
  (a cancellation carries no value); I/O/N (no result yet) skipped.
* value (OBX-5): NM; ST/TX holding exactly one number; SN only when it is an exact
  number ("^182", "=^182"). A censored SN ("<^10", ">^15") or a range ("^1^-^3") is
  SKIPPED (`censored_value` / `range_value`), never rounded to its bound: the bound
  can satisfy a criterion the true value does not (platelets ">^50" is not < 100),
  and the clinical spec says a missing input never adds points. Several
  repetitions in OBX-5 ("60~120") are ambiguous and skipped (`repeated_value`).
  Text, coded (except consciousness), dates and encapsulated data are skipped
  (`non_numeric`); an empty value is skipped (`data_absent`).
* consciousness (67775-7, 80288-4, SNOMED 1104441000000107): CE/CWE answer mapped to
  ACVPU by SNOMED answer code, by the letter itself, by common texts or by the
  site's `consciousness_answers`; an unmappable answer rejects the message.
* unit (OBX-6 identifier, else its text, else the local code's configured unit)
  converted by ingest.core.units.to_canonical.
* time: OBX-14, else OBR-7, else MSH-7 (explicit offsets honoured, site zone otherwise).
* source_id: sender | OBR filler order (else placer order) | OBX-3 code | OBX-4 sub-id,
  so a retransmission and a later correction of the same result share it; without
  an order number: sender | patient | code | sub-id | effective time.

Rejection is per OBSERVATION when the rest of the message stands (docs/hl7v2-acks.md):
an unknown unit, an implausible value, a bad OBX-14 or an event time out of range in
one OBX refuses that OBX only; the valid observations are returned with the refused
ones in `rejected` (the worker stores the first, dead-letters the message with the
second and answers AE with one ERR per refused OBX). Dropping a heart rate because
its neighbour reads 900 would hide a deterioration the message shows.

The whole MESSAGE is rejected (raised, every error named) when the problem is not
confined to one OBX (no usable patient, a bad OBR-7) or when no observation is left.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from ingest.core.errors import ImplausibleValueError, InputRejected, MissingField
from ingest.core.hl7v2.context import MessageContext, code_system_uri, stable_id
from ingest.core.hl7v2.datatypes import codings, location, parse_number, parse_sn, parse_ts
from ingest.core.hl7v2.parser import Segment
from ingest.core.local_codes import LocalCodeMap
from ingest.core.result import ClinicalEvent, Skipped
from ingest.core.units import to_canonical
from schemas.base import Location, Source, describe_validation_error
from schemas.measures import CONSCIOUSNESS_LEVELS, LOINC_TO_MEASURE, MEASURES, Measure
from schemas.observation import Observation, ResultStatus

__all__ = ["normalise_oru"]

LOINC_SYSTEM_NAMES = frozenset({"", "LN", "LOINC", "HTTP://LOINC.ORG", "2.16.840.1.113883.6.1"})
SNOMED_ACVPU_CODE = "1104441000000107"
SNOMED_ACVPU_ANSWERS = {"248234008": "A", "300202002": "V", "450847001": "P", "422768004": "U"}
ACVPU_TEXTS = {"ALERT": "A", "NEW CONFUSION": "C", "CONFUSION": "C", "CONFUSED": "C", "VOICE": "V",
               "RESPONDS TO VOICE": "V", "PAIN": "P", "RESPONDS TO PAIN": "P", "UNRESPONSIVE": "U"}
STATUS = {"F": ResultStatus.FINAL, "U": ResultStatus.FINAL, "": ResultStatus.FINAL,
          "P": ResultStatus.PRELIMINARY, "R": ResultStatus.PRELIMINARY, "S": ResultStatus.PRELIMINARY,
          "C": ResultStatus.CORRECTED, "A": ResultStatus.CORRECTED,
          "X": ResultStatus.CANCELLED, "D": ResultStatus.CANCELLED, "W": ResultStatus.CANCELLED}
NUMERIC_TYPES = frozenset({"NM", "ST", "TX", "FT", ""})


class _Resolved:
    """What an OBX-3 resolves to, with the event fields that follow from it precomputed."""

    __slots__ = ("canonical_unit", "code", "default_unit", "measure", "system")

    def __init__(self, measure: Measure, code: str, system: str, default_unit: str | None) -> None:
        self.measure = measure
        self.code = code[:64]
        self.system = system[:256]
        self.default_unit = default_unit
        self.canonical_unit = MEASURES[measure].unit


def _resolve(obx: Segment, local: LocalCodeMap) -> _Resolved | None:
    found = codings(obx, 3)
    for c in found:
        if c.system.upper() in LOINC_SYSTEM_NAMES:
            measure = LOINC_TO_MEASURE.get(c.code)
            if measure is not None:
                return _Resolved(measure, c.code, "http://loinc.org", None)
        if c.code == SNOMED_ACVPU_CODE:
            return _Resolved(Measure.CONSCIOUSNESS, c.code, "http://snomed.info/sct", None)
    if local:
        for c in found:
            entry = local.lookup(c.code, c.system)
            if entry is not None:
                return _Resolved(entry.measure, c.code, code_system_uri(c.system) or "local", entry.unit)
    return None


def _acvpu(obx: Segment, local: LocalCodeMap) -> str | None:
    """The ACVPU letter of a CE/CWE (or ST) answer: SNOMED answer code, site code, the letter, or its text."""
    candidates: list[str] = []
    for c in codings(obx, 5):
        letter = SNOMED_ACVPU_ANSWERS.get(c.code) or local.consciousness_answer(c.code)
        if letter:
            return letter
        candidates.append(c.code)
    candidates += [obx.get(5, 2).strip(), obx.get(5, 5).strip()]  # texts, also of text-only answers
    for candidate in candidates:
        upper = candidate.upper()
        if upper in CONSCIOUSNESS_LEVELS:
            return upper
        letter = ACVPU_TEXTS.get(upper) or (local.consciousness_answer(candidate) if candidate else None)
        if letter:
            return letter
    return None


def _numeric(obx: Segment) -> tuple[float | None, str]:
    """(number, skip reason) of OBX-5; the reason is '' when a number was read."""
    fields = obx.fields
    if len(fields) > 5:
        raw, value_type = fields[5], fields[2]
        d = obx.delims
        if raw and value_type == "NM" and d.component not in raw and d.repetition not in raw \
                and d.escape not in raw and d.subcomponent not in raw:
            number = parse_number(raw)  # the common case: a plain NM
            return (number, "") if number is not None else (None, "non_numeric")
    reps = [r for r in obx.repetitions_raw(5) if r]
    if not reps:
        return None, "data_absent"
    if len(reps) > 1:
        return None, "repeated_value"
    value_type = obx.get(2).strip().upper()
    if value_type == "SN":
        sn = parse_sn(obx.components(5))
        if sn.is_plain:
            return sn.number, ""
        if sn.number is not None and sn.number2 is not None:
            return None, "range_value"
        return None, "censored_value" if sn.number is not None else "non_numeric"
    if value_type not in NUMERIC_TYPES:
        return None, "non_numeric"
    number = parse_number(obx.get(5))
    return (number, "") if number is not None else (None, "non_numeric")


_CONVERTED: dict[tuple[Measure, float, str | None], float] = {}


def _canonical_value(measure: Measure, number: float, unit: str | None, obx: Segment) -> float:
    """to_canonical, memoised: feeds repeat the same (measure, value, unit) triples all day."""
    key = (measure, number, unit)
    found = _CONVERTED.get(key)
    if found is not None:
        return found
    try:
        value = to_canonical(measure, number, unit, location=f"{obx.label}-6")
    except ImplausibleValueError as exc:
        exc.location = f"{obx.label}-5"
        raise
    if len(_CONVERTED) > 65536:
        _CONVERTED.clear()
    _CONVERTED[key] = value
    return value


def _order_id(obr: Segment | None) -> str:
    if obr is None:
        return ""
    for field in (3, 2):
        value = obr.get(field, 1).strip()
        if value:
            namespace = obr.get(field, 2).strip()
            return f"{value}^{namespace}" if namespace else value
    return ""


class CodeCache:
    """Memo of OBX-3 (raw text + delimiters) -> resolved measure, for one local-code map.

    Feeds send the same few dozen codes all day; resolving them once keeps the hot loop short.
    """

    __slots__ = ("_entries", "local")

    def __init__(self, local: LocalCodeMap) -> None:
        self.local = local
        self._entries: dict[tuple[str, str, str, str], _Resolved | None] = {}

    def resolve(self, obx: Segment) -> _Resolved | None:
        d = obx.delims  # the raw text means different codes under different delimiters
        key = (obx.fields[3] if len(obx.fields) > 3 else "", d.component, d.subcomponent, d.escape)
        try:
            return self._entries[key]
        except KeyError:
            pass
        found = _resolve(obx, self.local)
        if len(self._entries) > 4096:
            self._entries.clear()
        self._entries[key] = found
        return found


def normalise_oru(ctx: MessageContext,
                  codes: CodeCache) -> tuple[list[ClinicalEvent], list[Skipped], list[InputRejected]]:
    """Observations of an ORU message, in message order, what was skipped, and the OBX refused on their own."""
    events: list[ClinicalEvent] = []
    skipped: list[Skipped] = []
    errors: list[InputRejected] = []  # message-wide: the whole message is rejected
    refused: list[InputRejected] = []  # confined to one OBX
    patient_key: str | None = None
    patient_error: InputRejected | None = None
    where: Location | None = None
    encounter: str | None = None
    obr_time: datetime | None = None
    obr_where = ""
    order = ""
    for seg in ctx.message.segments:
        name = seg.name
        if name == "PID":
            try:
                patient_key, patient_error = ctx.patient_key(seg), None
            except InputRejected as exc:
                patient_key, patient_error = None, exc
            where, encounter = None, None
            continue
        if name == "PV1":
            where = location(seg, 3)
            encounter = seg.get(19).strip()[:128] or None
            continue
        if name == "OBR":
            order = _order_id(seg)
            try:
                obr_time = parse_ts(seg.get(7), ctx.site_zone, location=f"{seg.label}-7")
            except InputRejected as exc:
                errors.append(exc)
                obr_time = None
            obr_where = f"{seg.label}-7"
            continue
        if name != "OBX":
            continue
        try:
            obs = _observation(seg, ctx, codes, patient_key, patient_error, where, encounter, order,
                               (obr_time, obr_where), skipped)
        except InputRejected as exc:
            # Without a patient no OBX stands: that is the message's defect, not this observation's.
            (errors if patient_key is None else refused).append(exc)
            continue
        if obs is not None:
            events.append(obs)
    if errors or (refused and not events):
        errors += refused
        errors.sort(key=lambda e: _segment_order(ctx, e))
        first = errors[0]
        if len(errors) > 1:
            others = ", ".join(e.location or "?" for e in errors[1:6])
            first.message = f"{first.message} (and {len(errors) - 1} more: {others})"
        raise first
    return events, skipped, refused


def _segment_order(ctx: MessageContext, exc: InputRejected) -> int:
    """Position of the segment an error names (`OBX[3]-6` -> that OBX's index), so the first reported error is
    the first in the message."""
    label = (exc.location or "").split("-", 1)[0]
    return next((i for i, seg in enumerate(ctx.message.segments) if label in (seg.label, seg.name)),
                len(ctx.message.segments))


def _effective_at(obx: Segment, ctx: MessageContext, obr: tuple[datetime | None, str]) -> datetime:
    """Event time of an OBX: OBX-14, else OBR-7, else MSH-7, checked against the window around receipt."""
    obs_time = obx.plain(14)
    where = f"{obx.label}-14"
    ts = parse_ts(obs_time, ctx.site_zone, location=where) if obs_time else None
    if ts is None and obr[0] is not None:
        ts, where = obr
    if ts is None and ctx.message_time is not None:
        ts, where = ctx.message_time, "MSH-7"
    if ts is None:
        raise MissingField("no observation time in OBX-14, OBR-7 or MSH-7", location=f"{obx.label}-14",
                           code="missing_time")
    if where != f"{obx.label}-14":
        where = f"{obx.label}-14 (from {where})"
    return ctx.event_time(ts, where)


def _observation(obx: Segment, ctx: MessageContext, codes: CodeCache, patient_key: str | None,
                 patient_error: InputRejected | None, where: Location | None, encounter: str | None,
                 order: str, obr: tuple[datetime | None, str], skipped: list[Skipped]) -> Observation | None:
    local = codes.local
    resolved = codes.resolve(obx)
    if resolved is None:
        first = codings(obx, 3)
        skipped.append(Skipped(f"{obx.label}-3", "unknown_code", first[0].code[:64] if first else ""))
        return None
    status_text = obx.plain(11)
    status = STATUS.get(status_text) or STATUS.get(status_text.upper())
    if status is None:
        skipped.append(Skipped(f"{obx.label}-11", "no_result_status", status_text))
        return None
    if patient_key is None:
        raise patient_error or MissingField("no PID segment before this OBX", location=obx.label,
                                            code="missing_patient_id")
    measure = resolved.measure
    effective_at = _effective_at(obx, ctx, obr)
    value: float | None = None
    value_code: str | None = None
    if measure is Measure.CONSCIOUSNESS:
        if status is not ResultStatus.CANCELLED:
            value_code = _acvpu(obx, local)
            if value_code is None:
                if not obx.raw(5):
                    skipped.append(Skipped(f"{obx.label}-5", "data_absent"))
                    return None
                raise ImplausibleValueError(f"consciousness answer {obx.get(5)[:32]!r} is not an ACVPU level",
                                            location=f"{obx.label}-5")
    elif status is not ResultStatus.CANCELLED:
        number, reason = _numeric(obx)
        if number is None:
            skipped.append(Skipped(f"{obx.label}-5", reason, resolved.code))
            return None
        unit = obx.plain(6) or obx.get(6, 2).strip() or resolved.default_unit
        value = _canonical_value(measure, number, unit, obx)
    sub_id = obx.plain(4)
    if order:
        source_id = stable_id(ctx.sender, order, resolved.code, sub_id)
    else:
        source_id = stable_id(ctx.sender, patient_key, resolved.code, sub_id, effective_at.isoformat())
    try:
        return Observation(
            patient_key=patient_key, encounter_id=encounter, measure=measure, code=resolved.code,
            code_system=resolved.system, value=value, value_code=value_code, unit=resolved.canonical_unit,
            effective_at=effective_at, received_at=ctx.received_at, source=Source.HL7V2,
            source_message_id=ctx.control_id, source_id=source_id, status=status, location=where,
            correlation_id=ctx.correlation_id,
        )
    except ValidationError as exc:
        raise InputRejected(describe_validation_error(exc), location=obx.label, code="invalid_event") from None
