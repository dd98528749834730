"""HL7 v2 data types the normaliser reads: TS/DTM, CE/CWE, CX, PL, NM/SN (pure).

Times: a TS/DTM with an explicit offset (`+0600`, `-0400`) is honoured; one
without is read in the site time zone (IngestSettings.site_timezone). Missing
parts default to the start of the period (a date alone is midnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from ingest.core.errors import ParseError
from ingest.core.hl7v2.parser import Delimiters, Segment, unescape
from ingest.core.patient_key import Identifier
from schemas.base import Location

__all__ = [
    "Coding",
    "SnValue",
    "codings",
    "identifiers",
    "location",
    "parse_date",
    "parse_number",
    "parse_sn",
    "parse_ts",
]

_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?\s*(?:([+-])(\d{2})(\d{2}))?\Z")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_OFFSETS: dict[tuple[str, str, str], tzinfo] = {}
_TS_CACHE: dict[tuple[str, tzinfo], datetime] = {}  # feeds repeat the same few timestamps; datetimes are immutable


def parse_ts(value: str, site_zone: tzinfo, *, location: str) -> datetime | None:
    """An aware datetime from a TS/DTM value (first component only); None when empty.

    Raises ParseError naming `location` when the value is not a valid timestamp.
    """
    cached = _TS_CACHE.get((value, site_zone))
    if cached is not None:
        return cached
    result = _parse_ts(value.strip(), site_zone, location)
    if result is not None:
        if len(_TS_CACHE) > 4096:
            _TS_CACHE.clear()
        _TS_CACHE[(value, site_zone)] = result
    return result


def _parse_ts(value: str, site_zone: tzinfo, location: str) -> datetime | None:
    if not value:
        return None
    m = _TS.match(value)
    if m is None:
        raise ParseError(f"{value[:40]!r} is not an HL7 timestamp (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
                         location=location)
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    if sign:
        key = (sign, off_h, off_m)
        zone = _OFFSETS.get(key)
        if zone is None:
            hours, minutes = int(off_h), int(off_m)
            if hours > 14 or minutes > 59:
                raise ParseError(f"{value!r}: offset {sign}{off_h}{off_m} is out of range", location=location)
            delta = timedelta(hours=hours, minutes=minutes)
            zone = UTC if not delta else timezone(delta if sign == "+" else -delta)
            _OFFSETS[key] = zone
    else:
        zone = site_zone
    try:
        result = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0), int((frac or "0").ljust(6, "0")), tzinfo=zone)
    except ValueError as exc:
        raise ParseError(f"{value!r} is not a valid date/time ({exc})", location=location) from None
    return result


def parse_date(value: str, *, location: str) -> date | None:
    """A calendar date from a DT/TS value (birth dates); None when empty."""
    value = value.strip()
    if not value:
        return None
    m = _TS.match(value)
    if m is None or m.group(2) is None or m.group(3) is None:
        raise ParseError(f"{value[:40]!r} is not a date (YYYYMMDD)", location=location)
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ParseError(f"{value!r} is not a valid date ({exc})", location=location) from None


def parse_number(value: str) -> float | None:
    """A decimal number (NM, or an ST holding one); None when the text is not exactly a number."""
    value = value.strip()
    if not value or not _NUMBER.match(value):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class SnValue:
    """A structured numeric (SN): comparator ^ num1 ^ separator/suffix ^ num2."""

    comparator: str
    number: float | None
    separator: str
    number2: float | None

    @property
    def is_plain(self) -> bool:
        """True for an exact single number ("^182", "=^182")."""
        return self.comparator in ("", "=") and not self.separator and self.number2 is None \
            and self.number is not None


def parse_sn(components: list[str]) -> SnValue:
    """Read the components of an SN value."""
    parts = [*components, "", "", "", ""]
    return SnValue(parts[0].strip(), parse_number(parts[1]), parts[2].strip(), parse_number(parts[3]))


@dataclass(frozen=True, slots=True)
class Coding:
    """One code of a CE/CWE (a triplet: identifier, text, coding system)."""

    code: str
    text: str
    system: str


def codings(seg: Segment, field: int, repetition: int = 0) -> list[Coding]:
    """Every coding of a CE/CWE field: primary (1-3), alternate (4-6), CWE second alternate (10-12)."""
    if repetition == 0:
        comps = seg.first_components(field)
    else:
        reps = seg.repetitions_raw(field)
        comps = reps[repetition].split(seg.delims.component) if repetition < len(reps) else []
    n = len(comps)
    out: list[Coding] = []
    d = seg.delims
    for start in (0, 3, 9):
        if start < n:
            code = _sub1(comps[start], d).strip()
            if code:
                text = _sub1(comps[start + 1], d).strip() if start + 1 < n else ""
                system = _sub1(comps[start + 2], d).strip() if start + 2 < n else ""
                out.append(Coding(code, text, system))
    return out


def _sub1(component: str, d: Delimiters) -> str:
    """First subcomponent of a raw component, decoded."""
    if d.subcomponent in component:
        component = component.split(d.subcomponent, 1)[0]
    return unescape(component, d) if d.escape in component else component


def identifiers(seg: Segment, field: int) -> list[Identifier]:
    """Patient identifiers of a CX list (PID-3, MRG-1): value, type code (CX-5), authority (CX-4.1, else 4.2)."""
    out: list[Identifier] = []
    for rep in range(len(seg.repetitions_raw(field))):
        value = seg.get(field, 1, 1, rep).strip()
        if not value:
            continue
        authority = seg.get(field, 4, 1, rep).strip() or seg.get(field, 4, 2, rep).strip()
        out.append(Identifier(value=value, type_code=seg.get(field, 5, 1, rep).strip(), authority=authority))
    return out


def _clip(value: str, limit: int) -> str | None:
    value = value.strip()
    return value[:limit] if value else None


def location(seg: Segment | None, field: int) -> Location | None:
    """A Location from a PL field (PV1-3 / PV1-6): point of care ^ room ^ bed ^ facility; None if all empty.

    Parts longer than the schema allows are cut, not rejected: a long ward name
    must not block a patient's vitals.
    """
    if seg is None:
        return None
    raw = seg.raw(field)
    if not raw:
        return None
    d = seg.delims
    memo_key = (raw, d.component, d.subcomponent, d.escape, d.repetition)
    found = _LOCATIONS.get(memo_key, _MISSING)
    if found is not _MISSING:
        return found  # type: ignore[return-value]
    result = _location(seg, field)
    if len(_LOCATIONS) > 16384:
        _LOCATIONS.clear()
    _LOCATIONS[memo_key] = result
    return result


_LOCATIONS: dict[tuple[str, str, str, str, str], Location | None] = {}  # Location is immutable (frozen)
_MISSING = object()


def _location(seg: Segment, field: int) -> Location | None:
    unit = _clip(seg.get(field, 1), 64)
    room = _clip(seg.get(field, 2), 32)
    bed = _clip(seg.get(field, 3), 32)
    facility = _clip(seg.get(field, 4), 64)
    if not (unit or room or bed or facility):
        return None
    return Location(facility=facility, unit=unit, room=room, bed=bed)
