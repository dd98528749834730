"""Orders and administrations -> CareEvents (pure): ORM^O01 / OML^O21 cultures, RDE^O11 / RAS^O17 drugs.

Classification by ingest.core.care_codes (codes first, then text keywords), so
the FHIR path agrees. Only what signals suspected infection or shock treatment
becomes an event; any other order is skipped and counted (`not_sepsis_relevant`).

* ORC-1 order control: NW/SN/NA/RO/XO/RP/empty = an order; CA/OC/DC/OD/DR/CR =
  stopped or cancelled (antibiotic/culture -> `cancelled`, vasopressor ->
  `vasopressor_stopped`); XO on a vasopressor = rate change. SC/other = skipped.
* RXA (RAS): RXA-20 RE/NA (refused / not administered) skipped; RXA-21 D (delete)
  cancels the administration; U (update) on a vasopressor = rate change; a
  vasopressor rate of 0 = stopped.
* rate: RXE-23/RXE-24 (give rate amount/units) or RXA-6/RXA-7 (with RXA-12 when
  RXA-7 is a dose without time), converted to ug/kg/min, ug/min or U/min; an
  unknown rate unit keeps the event without a rate (skipped `unknown_rate_unit`).
* time: RXA-3 for administrations; ORC-9, else OBR-6 / OBR-7, else MSH-7 for orders.
* source_id: sender | placer order (ORC-2, else OBR-2/filler) [| RXA-1/RXA-2].
"""

from __future__ import annotations

import re
from datetime import datetime

from ingest.core.care_codes import CareCodeBook, DrugMatch
from ingest.core.errors import InputRejected, MissingField
from ingest.core.hl7v2.context import MessageContext, code_system_uri, stable_id, validated
from ingest.core.hl7v2.datatypes import Coding, codings, location, parse_number, parse_ts
from ingest.core.hl7v2.parser import Segment
from ingest.core.result import ClinicalEvent, Skipped
from schemas.base import Location, Source
from schemas.care_event import CareEvent, CareEventKind
from schemas.rounding import round2

__all__ = ["normalise_orders", "rate_to_canonical"]

_STOP_CONTROLS = frozenset({"CA", "OC", "DC", "OD", "DR", "CR"})
_ORDER_CONTROLS = frozenset({"NW", "SN", "NA", "RO", "XO", "RP", "OK", ""})
_RATE = {  # folded unit -> (canonical unit, factor)
    "ug/kg/min": ("ug/kg/min", 1.0), "ug/kg/h": ("ug/kg/min", 1 / 60), "mg/kg/h": ("ug/kg/min", 1000 / 60),
    "ug/min": ("ug/min", 1.0), "ug/h": ("ug/min", 1 / 60), "mg/min": ("ug/min", 1000.0),
    "mg/h": ("ug/min", 1000 / 60), "u/min": ("U/min", 1.0), "u/h": ("U/min", 1 / 60),
}


def _fold_rate_unit(unit: str) -> str:
    u = re.sub(r"\s+", "", unit).lower().replace("µ", "u").replace("μ", "u").replace("mcg", "ug")
    u = re.sub(r"(hours?|hrs?)$", "h", u).replace("minute", "min").replace("mins", "min")
    u = re.sub(r"(\[iu\]|iu|units?)", "u", u)
    return u


def rate_to_canonical(amount: float, unit: str) -> tuple[float, str] | None:
    """A vasopressor rate in ug/kg/min, ug/min or U/min (rounded to 2 dp); None for a unit we do not know."""
    found = _RATE.get(_fold_rate_unit(unit))
    if found is None:
        return None
    canonical, factor = found
    return (amount if factor == 1.0 else round2(amount * factor)), canonical


def _order_id(orc: Segment | None, order_seg: Segment | None) -> str:
    for seg, field in ((orc, 2), (order_seg, 2), (orc, 3), (order_seg, 3)):
        if seg is not None:
            value = seg.get(field, 1).strip()
            if value:
                return value
    return ""


def _classify_drug(book: CareCodeBook, found: list[Coding]) -> tuple[DrugMatch, Coding] | None:
    for c in found:
        match = book.classify_drug(c.code, None)
        if match is not None:
            return match, c
    for c in found:
        match = book.classify_drug(None, c.text)
        if match is not None:
            return match, c
    return None


class _State:
    __slots__ = ("encounter", "orc", "patient_error", "patient_key", "where")

    def __init__(self) -> None:
        self.patient_key: str | None = None
        self.patient_error: InputRejected | None = None
        self.where: Location | None = None
        self.encounter: str | None = None
        self.orc: Segment | None = None


def normalise_orders(ctx: MessageContext, book: CareCodeBook) -> tuple[list[ClinicalEvent], list[Skipped]]:
    """CareEvents of an ORM/OML/RDE/RAS message, in message order, plus what was skipped."""
    events: list[ClinicalEvent] = []
    skipped: list[Skipped] = []
    st = _State()
    for seg in ctx.message.segments:
        name = seg.name
        if name == "PID":
            try:
                st.patient_key, st.patient_error = ctx.patient_key(seg), None
            except InputRejected as exc:
                st.patient_key, st.patient_error = None, exc
        elif name == "PV1":
            st.where = location(seg, 3)
            st.encounter = seg.get(19).strip()[:128] or None
        elif name == "ORC":
            st.orc = seg
        elif name == "OBR":
            event = _culture(ctx, book, st, seg, skipped)
            if event is not None:
                events.append(event)
        elif name in ("RXE", "RXO"):
            event = _drug(ctx, book, st, seg, skipped, administered=False)
            if event is not None:
                events.append(event)
        elif name == "RXA":
            event = _drug(ctx, book, st, seg, skipped, administered=True)
            if event is not None:
                events.append(event)
    return events, skipped


def _patient(st: _State, seg: Segment) -> str:
    if st.patient_key is None:
        raise st.patient_error or MissingField("no PID segment before this order", location=seg.label,
                                               code="missing_patient_id")
    return st.patient_key


def _order_time(ctx: MessageContext, st: _State, seg: Segment) -> datetime:
    if st.orc is not None:
        ts = parse_ts(st.orc.get(9), ctx.site_zone, location=f"{st.orc.label}-9")
        if ts is not None:
            return ctx.event_time(ts, f"{st.orc.label}-9")
    if seg.name == "OBR":
        for field in (6, 7):
            ts = parse_ts(seg.get(field), ctx.site_zone, location=f"{seg.label}-{field}")
            if ts is not None:
                return ctx.event_time(ts, f"{seg.label}-{field}")
    message_time = ctx.message_event_time()
    if message_time is None:
        raise MissingField("no order time in ORC-9 or MSH-7", location=f"{seg.label}", code="missing_time")
    return message_time


def _culture(ctx: MessageContext, book: CareCodeBook, st: _State, obr: Segment,
             skipped: list[Skipped]) -> CareEvent | None:
    found = codings(obr, 4)
    match = next((c for c in found if book.is_culture_order(c.code, c.text)), None)
    if match is None:
        skipped.append(Skipped(f"{obr.label}-4", "not_sepsis_relevant", found[0].code[:64] if found else ""))
        return None
    control = st.orc.get(1).strip().upper() if st.orc is not None else ""
    order = _order_id(st.orc, obr) or f"{ctx.control_id}/{obr.label}"
    source_id = stable_id(ctx.sender, order)
    if control in _STOP_CONTROLS:
        kind, cancels = CareEventKind.CANCELLED, source_id
    elif control in _ORDER_CONTROLS:
        kind, cancels = CareEventKind.BLOOD_CULTURE_ORDERED, None
    else:
        skipped.append(Skipped(f"{st.orc.label if st.orc else obr.label}-1", "order_status_only", control))
        return None
    return validated(  # type: ignore[return-value]
        CareEvent, obr.label,
        patient_key=_patient(st, obr), event=kind, encounter_id=st.encounter, code=match.code[:64],
        code_system=code_system_uri(match.system)[:256], display=match.text[:256] or None,
        event_time=_order_time(ctx, st, obr), received_at=ctx.received_at, source=Source.HL7V2,
        source_message_id=ctx.control_id, source_id=source_id, location=st.where, cancels_source_id=cancels,
    )


def _rate(seg: Segment, administered: bool, skipped: list[Skipped]) -> tuple[float | None, str | None]:
    if administered:
        amount, unit, per = parse_number(seg.get(6)), seg.get(7, 1).strip() or seg.get(7, 2).strip(), \
            seg.get(12).strip()
        if unit and per and "/" not in unit.replace("/kg", ""):
            unit = f"{unit}/{per}"
        field = 7
    else:
        amount, unit = parse_number(seg.get(23)), seg.get(24, 1).strip() or seg.get(24, 2).strip()
        field = 24
    if amount is None or not unit:
        return None, None
    converted = rate_to_canonical(amount, unit)
    if converted is None:
        skipped.append(Skipped(f"{seg.label}-{field}", "unknown_rate_unit", unit[:32]))
        return None, None
    return converted


def _drug(ctx: MessageContext, book: CareCodeBook, st: _State, seg: Segment, skipped: list[Skipped], *,
          administered: bool) -> CareEvent | None:
    code_field = 5 if administered else 2
    found = codings(seg, code_field)
    classified = _classify_drug(book, found)
    if classified is None:
        skipped.append(Skipped(f"{seg.label}-{code_field}", "not_sepsis_relevant",
                               found[0].code[:64] if found else ""))
        return None
    match, coding = classified
    control = st.orc.get(1).strip().upper() if st.orc is not None else ""
    order = _order_id(st.orc, None) or f"{ctx.control_id}/{seg.label}"
    rate, rate_unit = (None, None)
    if match.category == "vasopressor":
        rate, rate_unit = _rate(seg, administered, skipped)
    if administered:
        source_id = stable_id(ctx.sender, order, f"RXA{seg.get(1).strip()}.{seg.get(2).strip()}")
        completion = seg.get(20).strip().upper()
        action = seg.get(21).strip().upper()
        if completion in ("RE", "NA"):
            skipped.append(Skipped(f"{seg.label}-20", "not_administered", completion))
            return None
        given = parse_ts(seg.get(3), ctx.site_zone, location=f"{seg.label}-3")
        event_time = ctx.event_time(given, f"{seg.label}-3") if given is not None else _order_time(ctx, st, seg)
        if action == "D":
            kind = CareEventKind.CANCELLED
        elif match.category == "antibiotic":
            kind = CareEventKind.ANTIBIOTIC_GIVEN
        elif rate == 0:
            kind = CareEventKind.VASOPRESSOR_STOPPED
        else:
            kind = CareEventKind.VASOPRESSOR_RATE_CHANGED if action == "U" else CareEventKind.VASOPRESSOR_STARTED
    else:
        source_id = stable_id(ctx.sender, order)
        event_time = _order_time(ctx, st, seg)
        if control in _STOP_CONTROLS:
            kind = CareEventKind.CANCELLED if match.category == "antibiotic" else CareEventKind.VASOPRESSOR_STOPPED
        elif control not in _ORDER_CONTROLS:
            skipped.append(Skipped(f"{st.orc.label if st.orc else seg.label}-1", "order_status_only", control))
            return None
        elif match.category == "antibiotic":
            kind = CareEventKind.ANTIBIOTIC_ORDERED
        elif control == "XO":
            kind = CareEventKind.VASOPRESSOR_RATE_CHANGED
        else:
            # An infusion order is the earliest reliable signal of shock treatment; RAS refines the rate.
            kind = CareEventKind.VASOPRESSOR_STARTED
    return validated(  # type: ignore[return-value]
        CareEvent, seg.label,
        patient_key=_patient(st, seg), event=kind, encounter_id=st.encounter, code=coding.code[:64],
        code_system=code_system_uri(coding.system)[:256], display=(coding.text or match.name)[:256],
        event_time=event_time, received_at=ctx.received_at, source=Source.HL7V2,
        source_message_id=ctx.control_id, source_id=source_id, drug=match.vasopressor,
        rate=rate, rate_unit=rate_unit, location=st.where,
        cancels_source_id=source_id if kind is CareEventKind.CANCELLED else None,
    )
