"""Plain-Python scans over measures' ranges of a patient's window array that PatientWindow's one-measure
queries do not cover (two ranges in one pass; the MAP merge of three measures); `timing.select_inputs` uses
them beside PatientWindow.latest and .extreme.

A measure's values are the (t, value x VALUE_SCALE, hash) triples series[lo:hi] of `PatientWindow.data`, oldest
first; times are event seconds since 2000-01-01, ranges [start, end] inclusive. Ties: the newest value wins.
"""

from __future__ import annotations

from array import array

from detector.core.scores.inputs import derived_map
from detector.core.window import MEASURE_INDEX, VALUE_SCALE
from schemas.measures import Measure

__all__ = ["scan", "worst_maps"]

MAP, SBP, DBP = (MEASURE_INDEX[m] for m in (Measure.MEAN_BP, Measure.SYSTOLIC_BP, Measure.DIASTOLIC_BP))


def scan(series: array[int], lo: int, hi: int, start: int, split: int, end: int, highest: bool
         ) -> tuple[tuple[int, float] | None, tuple[int, float] | None]:
    """(t, value) of the highest (or lowest) value in [start, end] and in [split, end] among the triples
    series[lo:hi], one backward pass; the newest wins ties."""
    best_t = recent_t = 0
    best: int | None = None
    recent: int | None = None
    for i in range(hi - 3, lo - 1, -3):
        t = series[i]
        if t > end:
            continue
        if t < start:
            break
        v = series[i + 1]
        if best is None or (v > best if highest else v < best):
            best, best_t = v, t
        if t >= split and (recent is None or (v > recent if highest else v < recent)):
            recent, recent_t = v, t
    return (None if best is None else (best_t, best / VALUE_SCALE),
            None if recent is None else (recent_t, recent / VALUE_SCALE))



def worst_maps(series: array[int], b: list[int], start: int, split: int, end: int
               ) -> tuple[tuple[int, float] | None, tuple[int, float] | None]:
    """Lowest MAP in [start, end] and in [split, end] (start <= split): measured values, and (SBP + 2 DBP) / 3
    of readings (SBP and DBP at the same time) that have no measured MAP. One merge pass over the measures'
    ranges of the window's array (`b`: PatientWindow.bounds)."""
    d = series  # one array; each measure is a range of it
    mp_lo, mp_hi = b[MAP], b[MAP + 1]
    sb_lo, sb_hi = b[SBP], b[SBP + 1]
    db_lo, db_hi = b[DBP], b[DBP + 1]
    best_all: tuple[int, int] | None = None  # (t, value x VALUE_SCALE) for measured; derived kept as floats below
    best_recent: tuple[int, int] | None = None
    for i in range(mp_hi - 3, mp_lo - 1, -3):
        t = d[i]
        if t > end:
            continue
        if t < start:
            break
        v = d[i + 1]
        if best_all is None or v < best_all[1]:
            best_all = (t, v)
        if t >= split and (best_recent is None or v < best_recent[1]):
            best_recent = (t, v)
    out_all = None if best_all is None else (best_all[0], best_all[1] / VALUE_SCALE)
    out_recent = None if best_recent is None else (best_recent[0], best_recent[1] / VALUE_SCALE)
    if sb_lo == sb_hi or db_lo == db_hi:
        return out_all, out_recent
    j = db_hi - 3
    k = mp_hi - 3
    # The derived MAP rises with the scaled sum SBP + 2 DBP (round2 is monotone and sums differ by >= 1e-4 mmHg,
    # far above float error), so a reading whose sum exceeds the current best derived reading's cannot beat it:
    # skip the division and rounding for it. Same results as computing every reading (`raw_*` None = the best is
    # a measured MAP or nothing: compute).
    raw_all: int | None = None
    raw_recent: int | None = None
    for i in range(sb_hi - 3, sb_lo - 1, -3):
        t = d[i]
        if t > end:
            continue
        if t < start:
            break
        while j >= db_lo and d[j] > t:
            j -= 3
        if j < db_lo:
            break
        if d[j] != t:
            continue
        while k >= mp_lo and d[k] > t:
            k -= 3
        if k >= mp_lo and d[k] == t:
            continue  # a measured MAP of the same reading wins (§1.1)
        raw = d[i + 1] + 2 * d[j + 1]
        if raw_all is not None and raw > raw_all and (t < split or (raw_recent is not None and raw > raw_recent)):
            continue
        derived = derived_map(d[i + 1] / VALUE_SCALE, d[j + 1] / VALUE_SCALE)
        if derived is None:
            continue
        if out_all is None or derived < out_all[1]:
            out_all, raw_all = (t, derived), raw
        if t >= split and (out_recent is None or derived < out_recent[1]):
            out_recent, raw_recent = (t, derived), raw
    return out_all, out_recent
