"""Compact, versioned binary form of one patient's state, for the compacted changelog topic.

Layout (little-endian), version 5:

    B    format version (5)
    head struct `_HEAD`: newest_s, first_s, late_dropped, weight (g), weight_s, last_anchor_s, dirty,
         sofa_hour, 3 source positions (q), episode: opened_s, sequence, level, last_fired_s, lower_since_s,
         lower_max, clear_sets, clear_since_s
    context struct `_CONTEXT` (versions 2 and 3): age in years (d, NaN = unknown), male (B: 0, 1, 255 = unknown),
         admitted_s (the learned risk score's RiskContext, from the admission event)
    B    (version 4) consecutive observation sets meeting the shock-index trigger (its confirmation)
    episode struct `_EPISODE` (version 5): the learned risk the episode's last alert carried (d, NaN = none),
         the feed gap mark: core vital signs older than this were announced stale (i, None = never)
    6 short strings (B length, 255 = None, UTF-8): episode_id, encounter_id, facility, unit, room, bed
    97 B  hourly SOFA ring (1 + worst SOFA of the hour, 0 = no value; hour h in byte h % 97)
    H    care events, then 6 x i each
    B    measures held, then per measure: B slot, H triples, the window's int32 triples as raw bytes

Times are event seconds since 2000-01-01 (int32); None is stored as -2**31. Version 4 (no episode struct: no
risk reference, so the first scoring after the restore sets it, and no gap announced, so a gap that is still open
is announced once more), version 3 (no shock-index count:
read as 0, so a restored patient needs its confirmation again), versions 1 (no context block: a
patient without admission context) and 2 (a 96-byte ring, hour h in byte h % 96, moved into the 97-byte ring)
are still read, so a rolling upgrade keeps its state. Decoding rejects an unknown version with
`StateFormatError` (the operator must replay input or run the matching detector version).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array

from detector.core.escalation import EscalationState
from detector.core.infection import CareLog
from detector.core.patient import NO_CONTEXT, SOFA_RING_HOURS, PatientState
from detector.core.risk.features import RiskContext
from detector.core.window import MEASURE_LIST
from schemas.base import Location

__all__ = ["FORMAT_VERSION", "StateFormatError", "decode_state", "encode_state"]

FORMAT_VERSION = 5  # bump on any layout change (and on a reordering of schemas.measures.Measure)
READABLE_VERSIONS = (1, 2, 3, 4, 5)
_LEGACY_RING_HOURS = 96  # the SOFA ring of versions 1 and 2
_NONE = -(2**31)
_HEAD = struct.Struct("<iiIiiiBi3qiIBiiBBi")
_CONTEXT = struct.Struct("<dBi")
_EPISODE = struct.Struct("<di")
_UNKNOWN_SEX = 255
_CARE = struct.Struct("<6i")
_SWAP = sys.byteorder != "little"


class StateFormatError(ValueError):
    """A changelog record that this detector cannot read (unknown version or truncated bytes)."""


def _opt(value: int | None) -> int:
    return _NONE if value is None else value


def _back(value: int) -> int | None:
    return None if value == _NONE else value


def _short(text: str | None) -> bytes:
    if text is None:
        return b"\xff"
    raw = text.encode()[:254]
    return bytes((len(raw),)) + raw


def encode_state(state: PatientState) -> bytes:
    """Serialise one patient's state (see the module docstring for the layout)."""
    w = state.window
    e = state.escalation
    weight_g = _NONE if state.weight_kg is None else round(state.weight_kg * 1000)
    parts = [bytes((FORMAT_VERSION,)), _HEAD.pack(
        w.newest_s, _opt(w.first_s), w.late_dropped, weight_g, _opt(state.weight_s), _opt(state.last_anchor_s),
        1 if state.dirty else 0, _opt(state.sofa_hour), *state.positions,
        _opt(e.opened_s), e.sequence, e.level, _opt(e.last_fired_s), _opt(e.lower_since_s), e.lower_max,
        min(e.clear_sets, 255), _opt(e.clear_since_s))]
    context = state.context
    parts.append(_CONTEXT.pack(math.nan if context.age_years is None else context.age_years,
                               _UNKNOWN_SEX if context.male is None else int(context.male),
                               _opt(context.admitted_s)))
    parts.append(bytes((min(state.shock_sets, 255),)))
    parts.append(_EPISODE.pack(math.nan if e.last_risk is None else e.last_risk, _opt(e.stale_mark_s)))
    loc = state.location
    for text in (e.episode_id, state.encounter_id, loc.facility if loc else None, loc.unit if loc else None,
                 loc.room if loc else None, loc.bed if loc else None):
        parts.append(_short(text))
    parts.append(bytes(state.sofa_ring))
    care = state.care.events
    parts.append(struct.pack("<H", len(care)))
    parts.extend(_CARE.pack(*entry) for entry in care)
    held = [(slot, s) for slot, s in enumerate(w.by_measure()) if s]
    parts.append(bytes((len(held),)))
    for slot, series in held:
        parts.append(struct.pack("<BH", slot, len(series) // 3))
        if _SWAP:
            series = array("i", series)
            series.byteswap()
        parts.append(series.tobytes())
    return b"".join(parts)


def decode_state(data: bytes) -> PatientState:
    """Rebuild a `PatientState` from `encode_state` bytes; raises StateFormatError if unreadable."""
    try:
        return _decode(memoryview(data))
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, StateFormatError):
            raise
        raise StateFormatError(f"detector state record is truncated or corrupt: {exc}") from exc


def _decode(view: memoryview) -> PatientState:
    if not view or view[0] not in READABLE_VERSIONS:
        raise StateFormatError(f"detector state format {view[0] if view else None!r} is not supported "
                               f"(this detector reads versions {', '.join(map(str, READABLE_VERSIONS))})")
    version = view[0]
    pos = 1
    head = _HEAD.unpack_from(view, pos)
    pos += _HEAD.size
    context = NO_CONTEXT
    if version >= 2:
        age, male, admitted = _CONTEXT.unpack_from(view, pos)
        pos += _CONTEXT.size
        if male not in (0, 1, _UNKNOWN_SEX):
            raise StateFormatError(f"invalid sex code {male} in detector state record")
        context = RiskContext(None if math.isnan(age) else age, None if male == _UNKNOWN_SEX else bool(male),
                              _back(admitted))
    shock_sets = 0
    if version >= 4:
        shock_sets = view[pos]
        pos += 1
    last_risk: float | None = None
    stale_mark: int | None = None
    if version >= 5:
        risk, mark = _EPISODE.unpack_from(view, pos)
        pos += _EPISODE.size
        last_risk, stale_mark = (None if math.isnan(risk) else risk), _back(mark)
    (newest, first, late, weight_g, weight_s, anchor, dirty, sofa_hour, p0, p1, p2,
     opened, sequence, level, fired, lower_since, lower_max, clear_sets, clear_since) = head
    texts: list[str | None] = []
    for _ in range(6):
        n = view[pos]
        pos += 1
        if n == 255:
            texts.append(None)
        else:
            texts.append(bytes(view[pos:pos + n]).decode())
            pos += n
    state = PatientState()
    state.context = context
    state.shock_sets = shock_sets
    w = state.window
    w.newest_s, w.first_s, w.late_dropped = newest, _back(first), late
    state.weight_kg = None if weight_g == _NONE else weight_g / 1000
    state.weight_s, state.last_anchor_s, state.dirty = _back(weight_s), _back(anchor), bool(dirty)
    state.sofa_hour = _back(sofa_hour)
    state.positions = [p0, p1, p2]
    state.escalation = EscalationState(texts[0], _back(opened), sequence, level, _back(fired), _back(lower_since),
                                       lower_max, clear_sets, _back(clear_since), last_risk, stale_mark)
    state.encounter_id = texts[1]
    if any(t is not None for t in texts[2:]):
        state.location = Location(facility=texts[2], unit=texts[3], room=texts[4], bed=texts[5])
    if version >= 3:
        state.sofa_ring = bytearray(view[pos:pos + SOFA_RING_HOURS])
        pos += SOFA_RING_HOURS
    else:
        state.sofa_ring = _legacy_ring(view[pos:pos + _LEGACY_RING_HOURS], state.sofa_hour)
        pos += _LEGACY_RING_HOURS
    (n_care,) = struct.unpack_from("<H", view, pos)
    pos += 2
    state.care = CareLog([_CARE.unpack_from(view, pos + i * _CARE.size) for i in range(n_care)])
    pos += n_care * _CARE.size
    n_measures = view[pos]
    pos += 1
    for _ in range(n_measures):
        slot, n = struct.unpack_from("<BH", view, pos)
        pos += 3
        if slot >= len(MEASURE_LIST) or w.has(slot):
            raise StateFormatError(f"unknown or repeated measure slot {slot}")
        series = array("i")
        series.frombytes(view[pos:pos + 12 * n])
        if len(series) != 3 * n:
            raise StateFormatError(f"measure slot {slot} is truncated")
        if _SWAP:
            series.byteswap()
        pos += 12 * n
        w.set_measure(slot, series)
    if pos != len(view):
        raise StateFormatError(f"{len(view) - pos} trailing bytes in detector state record")
    return state


def _legacy_ring(old: memoryview, newest_hour: int | None) -> bytearray:
    """A version 1/2 SOFA ring (hour h in byte h % 96) as the current ring (hour h in byte h % 97)."""
    if len(old) != _LEGACY_RING_HOURS:
        raise StateFormatError("the SOFA ring is truncated")
    ring = bytearray(SOFA_RING_HOURS)
    if newest_hour is not None:
        for hour in range(newest_hour - _LEGACY_RING_HOURS + 1, newest_hour + 1):
            ring[hour % SOFA_RING_HOURS] = old[hour % _LEGACY_RING_HOURS]
    return ring
