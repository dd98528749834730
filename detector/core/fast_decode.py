"""Fast, conservative decoding of an Observation record for the detector's hot path (no pydantic model).

`observation_fields(data)` parses the JSON with orjson and checks every rule of `schemas.Observation` that the
detector relies on; it returns the fields the engine needs (`ObservationFields`, fed to
`DetectorEngine.process_fields`) or None. None means "not sure": the caller then decodes the record with the
full pydantic model, which accepts it (a form this checker does not handle, e.g. a non-ISO timestamp) or
rejects it with a reason naming the field (dead letter). So the fast path never dead-letters and never accepts
a record the schema rejects: it only accepts a SUBSET of the valid records, the ones in the exact wire form
`Observation.to_json_bytes()` writes (tests/detector/core/test_fast_decode.py checks both directions).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from detector.core.window import EPOCH_2000_S
from schemas.base import Location, Source
from schemas.measures import CONSCIOUSNESS_LEVELS, MEASURES, Measure
from schemas.observation import ResultStatus
from schemas.versioning import CURRENT_SCHEMA_WIRE, reads_as_is

__all__ = ["ObservationFields", "observation_fields"]


class ObservationFields(NamedTuple):
    """The Observation fields the detector uses; times in seconds since 2000-01-01T00:00Z (event time for
    `effective_s`, processing time for `received_s`)."""

    patient_key: str
    measure: Measure
    effective_s: int
    received_s: int
    value: float | None
    value_code: str | None
    source_id: str
    status: ResultStatus
    part: int | None
    parts: int | None
    location: Location | None
    encounter_id: str | None
    correlation_id: str | None


_FIELDS = frozenset(("schema_version", "patient_key", "kind", "encounter_id", "measure", "code", "code_system",
                     "value", "value_code", "unit", "effective_at", "received_at", "source", "source_message_id",
                     "source_id", "status", "location", "correlation_id", "part", "parts"))
_MEASURES = {m.value: m for m in Measure}
_STATUSES = {s.value: s for s in ResultStatus}
_SOURCES = frozenset(s.value for s in Source)
_SPECS = {m: (spec.unit, spec.low, spec.high, spec.integer) for m, spec in MEASURES.items()}
_PATIENT_KEY = re.compile(r"^\S(.*\S)?$")  # the CanonicalEvent pattern (ASCII keys only here)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_LOCATIONS: dict[bytes, Location] = {}
_LOCATION_CACHE_MAX = 4096
_CHECKED_KEYS: set[str] = set()  # patient keys already known to have the CanonicalEvent form
_KEY_CACHE_MAX = 65_536


def _seconds(text: object, cache: dict[str, int]) -> int | None:
    """An RFC 3339 timestamp with offset as seconds since 2000 (None: not in that exact form)."""
    if type(text) is not str:
        return None
    found = cache.get(text)
    if found is not None:
        return found
    if not _ISO.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    seconds = int(moment.timestamp()) - EPOCH_2000_S
    if len(cache) > 1024:  # the parts of one message share their timestamps: a small cache is enough
        cache.clear()
    cache[text] = seconds
    return seconds


def _location(raw: object) -> Location | bool | None:
    """The validated Location, None for null, False when not valid (the caller falls back)."""
    if raw is None:
        return None
    if type(raw) is not dict:
        return False
    cache_key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    found = _LOCATIONS.get(cache_key)
    if found is not None:
        return found
    try:
        location = Location.model_validate(raw)
    except ValidationError:
        return False
    if len(_LOCATIONS) >= _LOCATION_CACHE_MAX:
        _LOCATIONS.clear()
    _LOCATIONS[cache_key] = location
    return location


def observation_fields(data: bytes | str, time_cache: dict[str, int] | None = None) -> ObservationFields | None:
    """The fields of a JSON Observation in the canonical wire form, or None (decode it with pydantic instead).

    `time_cache` (optional, owned by the caller) memoises timestamp strings -> seconds since 2000.
    """
    try:
        d: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(d) is not dict or d.get("kind") != "observation" or not _FIELDS.issuperset(d):
        return None
    if not reads_as_is(d.get("schema_version", CURRENT_SCHEMA_WIRE)):  # another version: the schema's rule decides
        return None
    key: Any = d.get("patient_key")
    if type(key) is not str:
        return None
    if key not in _CHECKED_KEYS:  # the same patients recur: check each key's form once
        if not (1 <= len(key) <= 128 and key.isascii() and _PATIENT_KEY.match(key)):
            return None
        if len(_CHECKED_KEYS) >= _KEY_CACHE_MAX:
            _CHECKED_KEYS.clear()
        _CHECKED_KEYS.add(key)
    measure_text, status_text, source = d.get("measure"), d.get("status", "final"), d.get("source")
    if type(measure_text) is not str or type(status_text) is not str or type(source) is not str:
        return None  # (also keeps unhashable JSON values out of the lookups below)
    measure = _MEASURES.get(measure_text)
    status = _STATUSES.get(status_text)
    if measure is None or status is None or source not in _SOURCES:
        return None
    # the string fields' types and lengths (what _text / _optional_text check, inlined: this runs per record)
    code, message_id, source_id = d.get("code"), d.get("source_message_id"), d.get("source_id")
    code_system, value_code = d.get("code_system", ""), d.get("value_code")
    encounter_id, correlation_id = d.get("encounter_id"), d.get("correlation_id")
    if not (type(code) is str and 1 <= len(code) <= 64 and type(message_id) is str and 1 <= len(message_id) <= 256
            and type(source_id) is str and 1 <= len(source_id) <= 256
            and type(code_system) is str and len(code_system) <= 256
            and (value_code is None or (type(value_code) is str and len(value_code) <= 16))
            and (encounter_id is None or (type(encounter_id) is str and len(encounter_id) <= 128))
            and (correlation_id is None or (type(correlation_id) is str and len(correlation_id) <= 256))):
        return None
    part: Any = d.get("part")
    parts: Any = d.get("parts")
    if not ((part is None or type(part) is int) and (parts is None or type(parts) is int)):
        return None
    if part is None or parts is None:
        if part is not parts:  # both or neither
            return None
    elif part < 0 or parts < 1 or part >= parts:
        return None
    cache = time_cache if time_cache is not None else {}
    effective_s = _seconds(d.get("effective_at"), cache)
    received_s = _seconds(d.get("received_at"), cache)
    if effective_s is None or received_s is None:
        return None
    unit, low, high, integer = _SPECS[measure]
    if d.get("unit") != unit:
        return None
    value = d.get("value")
    if value is not None:
        if type(value) is int:
            value = float(value)
        elif type(value) is not float:
            return None
    if measure is Measure.CONSCIOUSNESS:
        if status is not ResultStatus.CANCELLED and value_code not in CONSCIOUSNESS_LEVELS:
            return None
    elif value is None:
        if status is not ResultStatus.CANCELLED:
            return None
    elif (not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high)
          or (integer and value != int(value))):
        return None
    location = _location(d.get("location"))
    if isinstance(location, bool):  # not a valid location: the full schema decides
        return None
    return ObservationFields(key, measure, effective_s, received_s, value, value_code, source_id, status,
                             part, parts, location, encounter_id, correlation_id)
