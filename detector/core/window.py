"""Per-patient rolling window of raw values, ordered by EVENT time (the observation's effective time).

Layout, chosen for memory and speed (issue #5: < 4 KB per patient with 24 h of hourly vitals):
each measure is ONE `array('i')` of interleaved triples `(t, v, h)`:

* `t`  event time in whole seconds since 2000-01-01T00:00Z (int32 lasts until 2068);
* `v`  value x 10 000 as an integer (4 decimals; every plausible range of schemas.measures fits int32;
  `v / 10000` gives back the same float as the decimal literal, so thresholds compare exactly);
* `h`  a stable 32-bit hash (CRC-32) of the observation's `source_id` (duplicates and corrections).

Triples are kept sorted by `(t, h)`, so the contents do not depend on arrival order.

Rules (issue #5 "Windows"):
* an observation older than the patient's newest event time minus `late_grace_hours` is LATE: counted, dropped;
* same `source_id` and time: a DUPLICATE changes nothing (a different value replaces it: preliminary -> final);
* `corrected` replaces the value with the same `source_id`, `cancelled` retracts it;
* memory is bounded whatever the input: values older than `length_hours` behind the newest are evicted and each
  measure holds at most `max_entries_per_measure` triples (the oldest goes first).
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import IntEnum

from schemas.measures import CONSCIOUSNESS_LEVELS, Measure

__all__ = [
    "CONSCIOUSNESS_CODE",
    "EPOCH_2000_S",
    "MEASURE_INDEX",
    "MEASURE_LIST",
    "VALUE_SCALE",
    "InsertOutcome",
    "PatientWindow",
    "event_seconds",
    "seconds_to_datetime",
    "source_hash",
]

EPOCH_2000_S = 946_684_800
"""Unix seconds of 2000-01-01T00:00Z: the origin of the window's int32 event times."""

VALUE_SCALE = 10_000
"""Values are stored as round(value x VALUE_SCALE) (4 decimal places)."""

MEASURE_LIST: tuple[Measure, ...] = tuple(Measure)
MEASURE_INDEX: dict[Measure, int] = {m: i for i, m in enumerate(MEASURE_LIST)}
"""Measure -> slot in `PatientWindow.series` (stable: declaration order of schemas.measures.Measure)."""

CONSCIOUSNESS_CODE: dict[str, int] = {code: i for i, code in enumerate(CONSCIOUSNESS_LEVELS)}
"""ACVPU letter -> stored integer (A=0 ... U=4); larger is worse."""

_HOUR_S = 3600


class InsertOutcome(IntEnum):
    """What `PatientWindow.add` did with one value (a metric label and a test oracle)."""

    INSERTED = 0
    REPLACED = 1  # same source id: new value (corrected, or preliminary -> final)
    DUPLICATE = 2  # same source id, time and value: nothing changed
    RETRACTED = 3  # cancelled: the value with this source id was removed
    UNKNOWN_RETRACTION = 4  # cancelled, but no value with this source id is held
    LATE = 5  # older than the grace period: dropped


def event_seconds(moment: datetime) -> int:
    """An aware datetime as whole seconds since 2000-01-01T00:00Z (the window's time unit)."""
    return int(moment.timestamp()) - EPOCH_2000_S


def seconds_to_datetime(seconds: int) -> datetime:
    """Inverse of `event_seconds` (UTC)."""
    return datetime.fromtimestamp(seconds + EPOCH_2000_S, tz=UTC)


def source_hash(source_id: str) -> int:
    """Stable signed 32-bit hash of a source id (CRC-32; Python's hash() is salted per process)."""
    value = zlib.crc32(source_id.encode())
    return value - 0x1_0000_0000 if value >= 0x8000_0000 else value


def _position(series: array, t: int, h: int) -> int:
    """Index (of a triple, x3) where (t, h) belongs; fast path for in-order appends."""
    n = len(series)
    if n == 0:
        return 0
    last_t = series[n - 3]
    if t > last_t or (t == last_t and h > series[n - 1]):
        return n
    lo, hi = 0, n // 3
    while lo < hi:
        mid = (lo + hi) // 2
        base = mid * 3
        mt = series[base]
        if mt < t or (mt == t and series[base + 2] < h):
            lo = mid + 1
        else:
            hi = mid
    return lo * 3


def _find_hash(series: array, h: int) -> int:
    """Offset of the newest triple with hash `h`, or -1 (linear: corrections and retractions are rare)."""
    for base in range(len(series) - 3, -1, -3):
        if series[base + 2] == h:
            return base
    return -1


class PatientWindow:
    """One patient's raw values per measure, sorted by event time; see the module docstring for the rules.

    Times are int seconds since 2000-01-01 (`event_seconds`), values are floats in the measure's canonical unit.
    """

    __slots__ = ("first_s", "late_dropped", "newest_s", "series")

    def __init__(self) -> None:
        self.series: list[array | None] = [None] * len(MEASURE_LIST)
        self.newest_s: int = -(2**31)
        self.first_s: int | None = None  # earliest event time ever accepted (does the window cover 24 h?)
        self.late_dropped: int = 0

    # ------------------------------------------------------------------ updates

    def add(self, slot: int, t: int, value: float, h: int, *, status_cancelled: bool = False,
            status_corrected: bool = False, length_s: int, grace_s: int, max_entries: int) -> InsertOutcome:
        """Insert, replace or retract one value of measure `slot` at event time `t` (seconds since 2000).

        `length_s` / `grace_s` are the window length and the late grace in seconds; `max_entries` caps the measure.
        """
        newest = self.newest_s
        if t < newest - grace_s:
            self.late_dropped += 1
            return InsertOutcome.LATE
        series = self.series[slot]
        if series is None:
            if status_cancelled:
                return InsertOutcome.UNKNOWN_RETRACTION
            series = self.series[slot] = array("i")
        if status_cancelled or status_corrected:
            found = _find_hash(series, h)
            if status_cancelled:
                if found < 0:
                    return InsertOutcome.UNKNOWN_RETRACTION
                del series[found:found + 3]
                return InsertOutcome.RETRACTED
            if found >= 0:
                del series[found:found + 3]
                self._insert(series, t, round(value * VALUE_SCALE), h)
                return InsertOutcome.REPLACED
        scaled = round(value * VALUE_SCALE)
        n = len(series)
        if n and series[n - 3] < t:  # the common case: in order, strictly newer
            series.extend((t, scaled, h))
            outcome = InsertOutcome.INSERTED
        else:
            outcome = self._insert(series, t, scaled, h)
        if self.first_s is None or t < self.first_s:
            self.first_s = t
        if t > newest:
            self.newest_s = t
            if t // _HOUR_S != newest // _HOUR_S:  # at most once per event-time hour: evict everywhere
                self.evict(t - length_s)
        if len(series) > max_entries * 3:
            del series[0:len(series) - max_entries * 3]
        return outcome

    @staticmethod
    def _insert(series: array, t: int, scaled: int, h: int) -> InsertOutcome:
        pos = _position(series, t, h)
        if pos < len(series) and series[pos] == t and series[pos + 2] == h:
            if series[pos + 1] == scaled:
                return InsertOutcome.DUPLICATE
            series[pos + 1] = scaled
            return InsertOutcome.REPLACED
        series[pos:pos] = array("i", (t, scaled, h))
        return InsertOutcome.INSERTED

    def evict(self, oldest_kept_s: int) -> None:
        """Drop every value older than `oldest_kept_s` (seconds since 2000); empty measures are freed."""
        series_list = self.series
        emptied: list[array] = []
        for series in filter(None, series_list):  # the measures holding values (most slots are None)
            if series[0] >= oldest_kept_s:  # nothing to drop (the common case)
                continue
            n = len(series)
            cut = 3
            while cut < n and series[cut] < oldest_kept_s:
                cut += 3
            if cut >= n:
                emptied.append(series)
            else:
                del series[0:cut]
        if emptied:  # every value of these measures is gone: free them (found by identity, not by equality)
            for slot, series in enumerate(series_list):
                if series is not None and any(series is gone for gone in emptied):
                    series_list[slot] = None

    # ------------------------------------------------------------------ queries (values as floats)

    def latest(self, slot: int, not_before: int, not_after: int) -> tuple[int, float] | None:
        """Newest (t, value) of the measure with not_before <= t <= not_after, else None."""
        series = self.series[slot]
        if series is None:
            return None
        for base in range(len(series) - 3, -1, -3):
            t = series[base]
            if t > not_after:
                continue
            if t < not_before:
                return None
            return t, series[base + 1] / VALUE_SCALE
        return None

    def extreme(self, slot: int, start: int, end: int, highest: bool) -> tuple[int, float] | None:
        """(t, value) of the highest (or lowest) value with start <= t <= end; the newest wins ties."""
        series = self.series[slot]
        if series is None:
            return None
        best_t = 0
        best_v: int | None = None
        for base in range(len(series) - 3, -1, -3):
            t = series[base]
            if t > end:
                continue
            if t < start:
                break
            v = series[base + 1]
            if best_v is None or (v > best_v if highest else v < best_v):
                best_v, best_t = v, t
        return None if best_v is None else (best_t, best_v / VALUE_SCALE)

    def between(self, slot: int, start: int, end: int) -> Iterator[tuple[int, float]]:
        """(t, value) pairs with start <= t <= end, oldest first."""
        series = self.series[slot]
        if series is None:
            return
        for base in range(0, len(series), 3):
            t = series[base]
            if t < start:
                continue
            if t > end:
                return
            yield t, series[base + 1] / VALUE_SCALE

    def at_or_before(self, slot: int, t_limit: int, not_before: int) -> tuple[int, float] | None:
        """Newest (t, value) with not_before <= t <= t_limit (used to pair FiO2 with a PaO2)."""
        return self.latest(slot, not_before, t_limit)

    def count(self) -> int:
        """Number of values held, all measures."""
        return sum(len(s) // 3 for s in self.series if s is not None)

    def snapshot(self) -> dict[Measure, tuple[tuple[int, int, int], ...]]:
        """Contents as plain tuples (t, scaled value, hash) per measure (tests and feature extraction)."""
        out: dict[Measure, tuple[tuple[int, int, int], ...]] = {}
        for slot, series in enumerate(self.series):
            if series:
                out[MEASURE_LIST[slot]] = tuple(
                    (series[i], series[i + 1], series[i + 2]) for i in range(0, len(series), 3))
        return out
