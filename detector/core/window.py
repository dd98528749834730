"""Per-patient rolling window of raw values, ordered by EVENT time (the observation's effective time).

Layout, chosen for memory (issue #5: < 4 KB per patient with 24 h of hourly vitals): ONE `array('i')` per
patient, `data`, holding interleaved triples `(t, v, h)` grouped by measure (slot order of `MEASURE_LIST`), and
`lengths`, an `array('H')` with the number of ints each measure holds (3 per value). One array instead of one per
measure saves
a 64-byte array header and its over-allocation for each of the ~14 measures a patient has, and a 47-slot list.
In a triple:

* `t`  event time in whole seconds since 2000-01-01T00:00Z (int32 lasts until 2068);
* `v`  value x 10 000 as an integer (4 decimals; every plausible range of schemas.measures fits int32;
  `v / 10000` gives back the same float as the decimal literal, so thresholds compare exactly);
* `h`  a stable 32-bit hash (CRC-32) of the observation's `source_id` (duplicates and corrections).

Within a measure, triples are sorted by `(t, h)`, so the contents do not depend on arrival order. Measure
`slot` occupies `data[sum(lengths[:slot]) : sum(lengths[:slot + 1])]` (`span`, `bounds`).

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
from itertools import accumulate, compress

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
"""Measure -> slot: its index in `PatientWindow.lengths` and its place in `data` (stable: declaration order of
schemas.measures.Measure)."""

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


_SLOTS = len(MEASURE_LIST)
_NO_LENGTHS = bytes(2 * _SLOTS)


def _position(data: array[int], lo: int, hi: int, t: int, h: int) -> int:
    """Offset (of a triple) in data[lo:hi] where (t, h) belongs; fast path for in-order appends."""
    if hi == lo:
        return lo
    last_t = data[hi - 3]
    if t > last_t or (t == last_t and h > data[hi - 1]):
        return hi
    first, last = 0, (hi - lo) // 3
    while first < last:
        mid = (first + last) // 2
        base = lo + mid * 3
        mt = data[base]
        if mt < t or (mt == t and data[base + 2] < h):
            first = mid + 1
        else:
            last = mid
    return lo + first * 3


def _find_hash(data: array[int], lo: int, hi: int, h: int) -> int:
    """Offset of the newest triple in data[lo:hi] with hash `h`, or -1 (linear: corrections are rare)."""
    for base in range(hi - 3, lo - 1, -3):
        if data[base + 2] == h:
            return base
    return -1


class PatientWindow:
    """One patient's raw values per measure, sorted by event time; see the module docstring for the rules.

    Times are int seconds since 2000-01-01 (`event_seconds`), values are floats in the measure's canonical unit.
    """

    __slots__ = ("data", "first_s", "late_dropped", "lengths", "newest_s")

    def __init__(self) -> None:
        self.data = array("i")
        self.lengths = array("H", _NO_LENGTHS)
        self.newest_s: int = -(2**31)
        self.first_s: int | None = None  # earliest event time ever accepted (does the window cover 24 h?)
        self.late_dropped: int = 0

    # ------------------------------------------------------------------ layout

    def span(self, slot: int) -> tuple[int, int]:
        """(start, end) offsets of measure `slot`'s triples in `data` (equal when it holds nothing)."""
        lengths = self.lengths
        lo = sum(lengths[:slot])
        return lo, lo + lengths[slot]

    def bounds(self) -> list[int]:
        """Offsets in `data`: measure `slot` holds data[b[slot]:b[slot + 1]] (len(MEASURE_LIST) + 1 entries)."""
        return list(accumulate(self.lengths, initial=0))

    def has(self, slot: int) -> bool:
        """Whether measure `slot` holds any value."""
        return self.lengths[slot] != 0

    def by_measure(self) -> list[array[int] | None]:
        """Per slot, a COPY of the measure's triples (None when it holds none): serialising, merging and tests
        (copies, so that the window can change while a caller walks them)."""
        data = self.data
        out: list[array[int] | None] = [None] * _SLOTS
        pos = 0
        for slot, n in enumerate(self.lengths):
            if n:
                end = pos + n
                out[slot] = data[pos:end]
                pos = end
        return out

    def set_measure(self, slot: int, triples: array[int]) -> None:
        """Replace measure `slot`'s triples (sorted by (t, h); used to rebuild a window from its wire form)."""
        lo, hi = self.span(slot)
        self.data[lo:hi] = triples
        self.lengths[slot] = len(triples)

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
        lengths = self.lengths
        if lengths[slot] == 0 and status_cancelled:
            return InsertOutcome.UNKNOWN_RETRACTION
        data = self.data
        lo, hi = self.span(slot)
        scaled = round(value * VALUE_SCALE)
        if status_cancelled or status_corrected:
            found = _find_hash(data, lo, hi, h)
            if status_cancelled:
                if found < 0:
                    return InsertOutcome.UNKNOWN_RETRACTION
                del data[found:found + 3]
                lengths[slot] -= 3
                return InsertOutcome.RETRACTED
            if found >= 0:
                del data[found:found + 3]
                lengths[slot] -= 3
                self._insert(slot, lo, hi - 3, t, scaled, h)
                return InsertOutcome.REPLACED
        if hi > lo and data[hi - 3] < t:  # the common case: in order, strictly newer
            data[hi:hi] = array("i", (t, scaled, h))
            lengths[slot] += 3
            outcome = InsertOutcome.INSERTED
        else:
            outcome = self._insert(slot, lo, hi, t, scaled, h)
        if self.first_s is None or t < self.first_s:
            self.first_s = t
        if t > newest:
            self.newest_s = t
            if t // _HOUR_S != newest // _HOUR_S:  # at most once per event-time hour: evict everywhere
                self.evict(t - length_s)
        if lengths[slot] > 3 * max_entries:
            self.trim(slot, max_entries)
        return outcome

    def _insert(self, slot: int, lo: int, hi: int, t: int, scaled: int, h: int) -> InsertOutcome:
        data = self.data
        pos = _position(data, lo, hi, t, h)
        if pos < hi and data[pos] == t and data[pos + 2] == h:
            if data[pos + 1] == scaled:
                return InsertOutcome.DUPLICATE
            data[pos + 1] = scaled
            return InsertOutcome.REPLACED
        data[pos:pos] = array("i", (t, scaled, h))
        self.lengths[slot] += 3
        return InsertOutcome.INSERTED

    def trim(self, slot: int, max_entries: int) -> None:
        """Keep only the newest `max_entries` values of measure `slot`."""
        excess = self.lengths[slot] - 3 * max_entries
        if excess > 0:
            lo, _ = self.span(slot)
            del self.data[lo:lo + excess]
            self.lengths[slot] = 3 * max_entries

    def evict(self, oldest_kept_s: int) -> None:
        """Drop every value older than `oldest_kept_s` (seconds since 2000)."""
        data = self.data
        lengths = self.lengths
        bounds = list(accumulate(lengths, initial=0))
        cuts: list[tuple[int, int]] = []
        for slot in compress(range(_SLOTS), lengths):  # the measures holding values (most hold none)
            pos = bounds[slot]
            if data[pos] < oldest_kept_s:  # something to drop (the measure's oldest value is older)
                end = bounds[slot + 1]
                cut = pos + 3
                while cut < end and data[cut] < oldest_kept_s:
                    cut += 3
                cuts.append((pos, cut))
                lengths[slot] = end - cut
        for start, stop in reversed(cuts):  # from the back, so the earlier offsets stay valid
            del data[start:stop]

    # ------------------------------------------------------------------ queries (values as floats)

    def latest(self, slot: int, not_before: int, not_after: int) -> tuple[int, float] | None:
        """Newest (t, value) of the measure with not_before <= t <= not_after, else None."""
        lo, hi = self.span(slot)
        data = self.data
        for base in range(hi - 3, lo - 1, -3):
            t = data[base]
            if t > not_after:
                continue
            if t < not_before:
                return None
            return t, data[base + 1] / VALUE_SCALE
        return None

    def extreme(self, slot: int, start: int, end: int, highest: bool) -> tuple[int, float] | None:
        """(t, value) of the highest (or lowest) value with start <= t <= end; the newest wins ties."""
        lo, hi = self.span(slot)
        data = self.data
        best_t = 0
        best_v: int | None = None
        for base in range(hi - 3, lo - 1, -3):
            t = data[base]
            if t > end:
                continue
            if t < start:
                break
            v = data[base + 1]
            if best_v is None or (v > best_v if highest else v < best_v):
                best_v, best_t = v, t
        return None if best_v is None else (best_t, best_v / VALUE_SCALE)

    def between(self, slot: int, start: int, end: int) -> Iterator[tuple[int, float]]:
        """(t, value) pairs with start <= t <= end, oldest first (a snapshot: the window may change meanwhile)."""
        lo, hi = self.span(slot)
        if lo == hi:
            return iter(())
        return _between(self.data[lo:hi], start, end)

    def count(self) -> int:
        """Number of values held, all measures."""
        return len(self.data) // 3

    def snapshot(self) -> dict[Measure, tuple[tuple[int, int, int], ...]]:
        """Contents as plain tuples (t, scaled value, hash) per measure (tests and feature extraction)."""
        out: dict[Measure, tuple[tuple[int, int, int], ...]] = {}
        for slot, series in enumerate(self.by_measure()):
            if series:
                out[MEASURE_LIST[slot]] = tuple(
                    (series[i], series[i + 1], series[i + 2]) for i in range(0, len(series), 3))
        return out


def _between(series: array[int], start: int, end: int) -> Iterator[tuple[int, float]]:
    for base in range(0, len(series), 3):
        t = series[base]
        if t < start:
            continue
        if t > end:
            return
        yield t, series[base + 1] / VALUE_SCALE
