"""Small readers for FHIR JSON elements (pure): date-times, codings, references, FHIRPath strings.

They read the plain JSON dict of a resource that fhir.resources has already
validated, so shapes are known; they still check types defensively because the
same helpers screen entries that are skipped without validation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ingest.core.errors import InputRejected, ParseError
from schemas.measures import LOINC_TO_MEASURE, Measure

__all__ = [
    "LOINC_SYSTEM",
    "UCUM_SYSTEM",
    "as_dict",
    "as_list",
    "codings",
    "content_digest",
    "fhirpath",
    "loinc_measure",
    "parse_fhir_datetime",
    "reference_id",
    "text_of",
]

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"

# FHIR dateTime / instant: YYYY, YYYY-MM, YYYY-MM-DD or a full time with optional zone (R4 §2.24.0.1).
_DATETIME_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def fhirpath(base: str, *parts: str | int) -> str:
    """Join FHIRPath steps: fhirpath('Observation', 'component', 0, 'valueQuantity')."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out = f"{out}.{part}" if out else part
    return out


def codings(concept: Any) -> Iterator[dict[str, Any]]:
    """The codings of a CodeableConcept (skipping anything that is not an object)."""
    for coding in as_list(as_dict(concept).get("coding")):
        if isinstance(coding, dict):
            yield coding


def loinc_measure(concept: Any) -> tuple[Measure, str] | None:
    """First LOINC coding of `concept` that names a measure we use, as (measure, code)."""
    for coding in codings(concept):
        if coding.get("system") == LOINC_SYSTEM:
            code = coding.get("code")
            measure = LOINC_TO_MEASURE.get(code) if isinstance(code, str) else None
            if measure is not None:
                return measure, code  # type: ignore[return-value]
    return None


def text_of(concept: Any) -> str:
    """Human text of a CodeableConcept: its `text`, else the first coding display ('' if none)."""
    c = as_dict(concept)
    text = c.get("text")
    if isinstance(text, str):
        return text
    for coding in codings(c):
        display = coding.get("display")
        if isinstance(display, str):
            return display
    return ""


def parse_fhir_datetime(value: Any, zone: ZoneInfo, *, location: str) -> datetime:
    """An aware datetime from a FHIR date / dateTime / instant string (event time).

    Partial values (year, year-month, date) mean the first instant of that period
    in the site zone; a time without offset is read in the site zone too.
    """
    if not isinstance(value, str):
        raise ParseError(f"expected a FHIR dateTime string, got {value!r}", location=location)
    m = _DATETIME_RE.match(value)
    if m is None:
        raise ParseError(f"not a FHIR dateTime: {value!r}", location=location)
    try:
        day = date(int(m["y"]), int(m["m"] or 1), int(m["d"] or 1))
        if m["time"] is None:
            return datetime.combine(day, time(0, 0), tzinfo=zone)
        parsed = datetime.fromisoformat(f"{day.isoformat()}T{m['time']}{m['zone'] or ''}".replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParseError(f"not a valid date-time: {value!r} ({exc})", location=location) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def reference_id(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference such as `Patient/123` or `https://x/fhir/Patient/123/_history/2`."""
    ref = reference.split("/_history/", 1)[0].rstrip("/")
    parts = ref.split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-1]:
        return parts[-2], parts[-1]
    return None


def content_digest(resource: dict[str, Any]) -> str:
    """Stable short digest of a resource's JSON, for ids when the sender gave none."""
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def require_str(value: Any, *, location: str, what: str) -> str:
    """`value` as a non-empty string, else MissingField-like rejection naming `location`."""
    if isinstance(value, str) and value.strip():
        return value
    raise InputRejected(f"{what} is missing or empty", location=location, code="missing_field")


def first_present(resource: dict[str, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    """The first of `keys` present (not None) in `resource`, with its value."""
    for key in keys:
        if resource.get(key) is not None:
            return key, resource[key]
    return None
