"""Compiled (numba) window scans of `timing.select_inputs`: every per-measure scan of one scoring in ONE native call.

The Python code in timing.py stays the REFERENCE (`timing.select_inputs` with `timing.USE_COMPILED_SCANS` off).
`compiled_select` returns the same `SelectedInputs`, field by field, dict by dict in the same insertion order, the
same floats (tests/detector/core/test_timing_compiled.py compares with `==` and `repr` on random windows).

What the kernel does, reading the packed window as it is (`PatientWindow.data`: (t, value x VALUE_SCALE, hash)
triples grouped by slot; `lengths`: ints per slot), at event time `now_s` (seconds since 2000-01-01):

* the newest value of the eight observation-set measures (the inlined `latest` of select_inputs), the anchor,
  carried-forward flags, the oxygen status at the anchor (`_oxygen_at`) and the newest SpO2 scale;
* the criteria extremes (`_low_high` for temperature / WBC, `_highest` / `_lowest`), the shared labs'
  24 h / 6 h extremes (`_scan`), lactate, worst ACVPU, and the worst measured or derived MAP (`_worst_maps`).

It returns only INTEGERS: times and scaled values. Python divides by VALUE_SCALE afterwards, exactly as the
reference does, so the floats are the reference's. The one float the kernel computes is the derived MAP
(SBP + 2 DBP) / 3 rounded to 2 dp, needed to compare readings: the same IEEE operations as `derived_map` and
`round2_fast` (int / int and float operations in the same order, no fastmath), and when `round2_fast` would
defer a near-tie to the Decimal `round2`, the kernel gives up and the caller runs the Python reference for that
scoring. The chosen reading's MAP is then recomputed in Python by `derived_map` itself.

Everything after the scans (GCS, respiratory support, P/F, vasopressors, urine, building the inputs) is the
shared Python of timing.py (`_criteria_and_sofa`). Measure slots and spans are passed in at run time (the `jit.kernel`
cache only notices edits of this file, like risk/compiled.py).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import numpy as np

from detector.core.jit import kernel
from detector.core.scores import _rounding
from detector.core.window import MEASURE_LIST, VALUE_SCALE

__all__ = ["scan_params", "warm_up", "window_scans", "window_scans_array"]

# round2_fast's constants: the kernel mirrors it and must defer exactly where it defers
_TIE_MARGIN = 1e-6
_FAST_LIMIT = 1e6
if (_TIE_MARGIN, _FAST_LIMIT) != (_rounding._TIE_MARGIN, _rounding._FAST_LIMIT):
    raise ImportError("timing_compiled mirrors scores._rounding.round2_fast: update its constants")

# ---------------------------------------------------------------- parameter vector (built per TimingConfig)
P_VITAL, P_LAB, P_SET, P_CARRY, P_CRITERIA, P_LACTATE, P_SOFA, P_SCALE, P_SLOTS = range(9)
P_SET_SLOTS = 9  # 8 slots (timing._SET_KEYS order; the first 6 are the anchor vitals)
P_OXYGEN = P_SET_SLOTS + 8  # on-oxygen flag, O2 flow, FiO2
P_SPO2_SCALE = P_OXYGEN + 3
P_TWO_SIDED = P_SPO2_SCALE + 1  # temperature, WBC
P_CRIT_ONLY = P_TWO_SIDED + 2  # 7 x (slot, highest)
P_SHARED = P_CRIT_ONLY + 14  # 3 x (slot, highest)
P_LACTATE_SLOT = P_SHARED + 6
P_ACVPU = P_LACTATE_SLOT + 1
P_MAP, P_SBP, P_DBP = P_ACVPU + 1, P_ACVPU + 2, P_ACVPU + 3
P_LEN = P_DBP + 1

# ---------------------------------------------------------------- output vector: (present, t, scaled value) triples
O_SET = 0  # 8 triples; present = 1 in the set, 2 carried forward, 0 not used
O_ANCHOR = 24  # (present, anchor t, 0)
O_OXYGEN = 27  # (present, t, on oxygen 0/1)
O_SPO2_SCALE = 30
O_TWO_SIDED = 33  # temperature low, high, WBC low, high (low present <=> high present)
O_CRIT_ONLY = 45  # 7 triples
O_SHARED = 66  # 3 x (SOFA extreme, criteria extreme)
O_LACTATE = 84
O_ACVPU = 87
O_MAP_CRIT = 90  # (kind: 0 none, 1 measured, 2 derived; t; value, or SBP; 0, or DBP)
O_MAP_SOFA = 94
O_LEN = 98


@kernel
def _latest(data: array, lo: int, hi: int, start: int, end: int) -> int:
    """Offset of the newest triple of data[lo:hi] with start <= t <= end, else -1 (`PatientWindow.latest`)."""
    i = hi - 3
    while i >= lo and data[i] > end:
        i -= 3
    if i < lo or data[i] < start:
        return -1
    return i


@kernel
def _extreme(data: array, lo: int, hi: int, start: int, split: int, end: int, highest: bool,
             out: np.ndarray, at_whole: int, at_recent: int) -> None:
    """`timing._scan`: extreme in [start, end] at out[at_whole], in [split, end] at out[at_recent] (if >= 0)."""
    has_best = has_recent = False
    best = best_t = recent = recent_t = 0
    for i in range(hi - 3, lo - 1, -3):
        t = data[i]
        if t > end:
            continue
        if t < start:
            break
        v = data[i + 1]
        if not has_best or (v > best if highest else v < best):
            has_best, best, best_t = True, v, t
        if t >= split and (not has_recent or (v > recent if highest else v < recent)):
            has_recent, recent, recent_t = True, v, t
    if has_best:
        out[at_whole], out[at_whole + 1], out[at_whole + 2] = 1, best_t, best
    if at_recent >= 0 and has_recent:
        out[at_recent], out[at_recent + 1], out[at_recent + 2] = 1, recent_t, recent


@kernel
def _low_high(data: array, lo: int, hi: int, start: int, end: int, out: np.ndarray, at: int) -> None:
    """`timing._low_high`: the low triple at out[at], the high one at out[at + 3] (same ties: newest wins)."""
    has = False
    low = high = low_t = high_t = 0
    for i in range(hi - 3, lo - 1, -3):
        t = data[i]
        if t > end:
            continue
        if t < start:
            break
        v = data[i + 1]
        if not has:
            has, low, high, low_t, high_t = True, v, v, t, t
        elif v < low:
            low, low_t = v, t
        elif v > high:
            high, high_t = v, t
    if has:
        out[at], out[at + 1], out[at + 2] = 1, low_t, low
        out[at + 3], out[at + 4], out[at + 5] = 1, high_t, high


@kernel
def _round2_map(sbp: int, dbp: int, scale: int) -> float:
    """`derived_map(sbp / scale, dbp / scale)` by `round2_fast`'s arithmetic; NaN where it would defer to round2."""
    value = (sbp / scale + 2 * (dbp / scale)) / 3
    if 0.0 <= value < _FAST_LIMIT:
        scaled = value * 100.0
        whole = math.floor(scaled)
        fraction = scaled - whole
        if fraction < 0.5 - _TIE_MARGIN:
            return whole / 100.0
        if fraction > 0.5 + _TIE_MARGIN:
            return (whole + 1) / 100.0
    return np.nan


@kernel
def _worst_maps(data: array, starts: np.ndarray, p: np.ndarray, start: int, split: int, end: int,
                out: np.ndarray, at_whole: int, at_recent: int) -> bool:
    """`timing._worst_maps` (same pass, same pruning, same ties); False if a derived MAP needs the Decimal round2."""
    scale = p[P_SCALE]
    mp_lo, mp_hi = starts[p[P_MAP]], starts[p[P_MAP] + 1]
    sb_lo, sb_hi = starts[p[P_SBP]], starts[p[P_SBP] + 1]
    db_lo, db_hi = starts[p[P_DBP]], starts[p[P_DBP] + 1]
    # per range: kind (0 none, 1 measured, 2 derived), t, the comparable value, and the scaled inputs
    all_kind = recent_kind = 0
    all_t = recent_t = all_a = all_b = recent_a = recent_b = 0
    all_value = recent_value = 0.0
    for i in range(mp_hi - 3, mp_lo - 1, -3):
        t = data[i]
        if t > end:
            continue
        if t < start:
            break
        v = data[i + 1]
        if all_kind == 0 or v < all_a:
            all_kind, all_t, all_a = 1, t, v
        if t >= split and (recent_kind == 0 or v < recent_a):
            recent_kind, recent_t, recent_a = 1, t, v
    if all_kind:
        all_value = all_a / scale
    if recent_kind:
        recent_value = recent_a / scale
    if sb_lo != sb_hi and db_lo != db_hi:
        j = db_hi - 3
        k = mp_hi - 3
        for i in range(sb_hi - 3, sb_lo - 1, -3):
            t = data[i]
            if t > end:
                continue
            if t < start:
                break
            while j >= db_lo and data[j] > t:
                j -= 3
            if j < db_lo:
                break
            if data[j] != t:
                continue
            while k >= mp_lo and data[k] > t:
                k -= 3
            if k >= mp_lo and data[k] == t:
                continue  # a measured MAP of the same reading wins
            sbp, dbp = data[i + 1], data[j + 1]
            raw = sbp + 2 * dbp
            # timing's pruning: its raw_all / raw_recent (SBP + 2 DBP) exist only while that best is a derived MAP
            if all_kind == 2 and raw > all_a + 2 * all_b and (
                    t < split or (recent_kind == 2 and raw > recent_a + 2 * recent_b)):
                continue
            derived = _round2_map(sbp, dbp, scale)
            if derived != derived:
                return False
            if all_kind == 0 or derived < all_value:
                all_kind, all_t, all_a, all_b, all_value = 2, t, sbp, dbp, derived
            if t >= split and (recent_kind == 0 or derived < recent_value):
                recent_kind, recent_t, recent_a, recent_b, recent_value = 2, t, sbp, dbp, derived
    out[at_whole], out[at_whole + 1], out[at_whole + 2], out[at_whole + 3] = all_kind, all_t, all_a, all_b
    out[at_recent], out[at_recent + 1], out[at_recent + 2], out[at_recent + 3] = (recent_kind, recent_t, recent_a,
                                                                                  recent_b)
    return True


@kernel
def _scans(data: array, lengths: array, now_s: int, p: np.ndarray, out: np.ndarray) -> bool:
    """All window scans of one scoring into `out` (layout O_*); False: a derived MAP needs the Python reference."""
    n_slots = p[P_SLOTS]
    starts = np.empty(n_slots + 1, np.int64)
    starts[0] = 0
    for s in range(n_slots):
        starts[s + 1] = starts[s] + lengths[s]
    out[:] = 0
    vital_from = now_s - p[P_VITAL]
    lab_from = now_s - p[P_LAB]
    scale = p[P_SCALE]

    # observation set: newest of each measure within the staleness cap; the newest of the 6 vitals is the anchor
    has_anchor = False
    anchor = 0
    for n in range(8):
        slot = p[P_SET_SLOTS + n]
        i = _latest(data, starts[slot], starts[slot + 1], vital_from, now_s)
        if i < 0:
            continue
        t = data[i]
        at = O_SET + 3 * n
        out[at], out[at + 1], out[at + 2] = 1, t, data[i + 1]
        if n < 6 and (not has_anchor or t > anchor):
            has_anchor, anchor = True, t
    if has_anchor:
        set_from = anchor - p[P_SET]
        carry_from = max(anchor - p[P_CARRY], vital_from)
        for n in range(8):
            at = O_SET + 3 * n
            if out[at]:
                t = out[at + 1]
                if t < carry_from:
                    out[at] = 0
                elif t < set_from:
                    out[at] = 2
        out[O_ANCHOR], out[O_ANCHOR + 1] = 1, anchor
        # `_oxygen_at(anchor, carry_from)`: newest of flag (>= 0.5), O2 flow (> 0), FiO2 (> 0.21); ties: earlier kind
        for n in range(3):
            slot = p[P_OXYGEN + n]
            i = _latest(data, starts[slot], starts[slot + 1], carry_from, anchor)
            if i >= 0 and (out[O_OXYGEN] == 0 or data[i] > out[O_OXYGEN + 1]):
                value = data[i + 1] / scale
                flag = value >= 0.5 if n == 0 else (value > 0 if n == 1 else value > 0.21)
                out[O_OXYGEN], out[O_OXYGEN + 1], out[O_OXYGEN + 2] = 1, data[i], 1 if flag else 0
    else:
        for n in range(8):
            out[O_SET + 3 * n] = 0
    slot = p[P_SPO2_SCALE]
    i = _latest(data, starts[slot], starts[slot + 1], lab_from, now_s)
    if i >= 0:
        out[O_SPO2_SCALE], out[O_SPO2_SCALE + 1], out[O_SPO2_SCALE + 2] = 1, data[i], data[i + 1]

    # criteria and SOFA extremes
    c_from = now_s - p[P_CRITERIA]
    s_from = max(now_s - p[P_SOFA], lab_from)
    s_vital_from = max(s_from, vital_from)
    for n in range(2):
        slot = p[P_TWO_SIDED + n]
        _low_high(data, starts[slot], starts[slot + 1], c_from, now_s, out, O_TWO_SIDED + 6 * n)
    for n in range(7):
        slot = p[P_CRIT_ONLY + 2 * n]
        _extreme(data, starts[slot], starts[slot + 1], c_from, now_s + 1, now_s, p[P_CRIT_ONLY + 2 * n + 1] != 0,
                 out, O_CRIT_ONLY + 3 * n, -1)
    sofa_first = s_from <= c_from
    for n in range(3):
        slot = p[P_SHARED + 2 * n]
        sofa_at, crit_at = O_SHARED + 6 * n, O_SHARED + 6 * n + 3
        _extreme(data, starts[slot], starts[slot + 1], min(s_from, c_from), max(s_from, c_from), now_s,
                 p[P_SHARED + 2 * n + 1] != 0, out, sofa_at if sofa_first else crit_at,
                 crit_at if sofa_first else sofa_at)
    slot = p[P_LACTATE_SLOT]
    _extreme(data, starts[slot], starts[slot + 1], now_s - p[P_LACTATE], now_s + 1, now_s, True, out, O_LACTATE, -1)
    slot = p[P_ACVPU]
    _extreme(data, starts[slot], starts[slot + 1], c_from, now_s + 1, now_s, True, out, O_ACVPU, -1)
    vital_first = s_vital_from <= c_from
    return _worst_maps(data, starts, p, min(s_vital_from, c_from), max(s_vital_from, c_from), now_s, out,
                       O_MAP_SOFA if vital_first else O_MAP_CRIT, O_MAP_CRIT if vital_first else O_MAP_SOFA)


def scan_params(spans: Sequence[int], set_slots: Sequence[int], oxygen_slots: Sequence[int], spo2_scale_slot: int,
                two_sided_slots: Sequence[int], criteria_only: Sequence[tuple[int, bool]],
                shared_labs: Sequence[tuple[int, bool]], lactate_slot: int, acvpu_slot: int,
                map_sbp_dbp_slots: Sequence[int]) -> np.ndarray:
    """The kernel's parameter vector (layout P_*): `spans` = (vital, lab, set, carry, criteria, lactate, sofa) in
    whole seconds, then the measure slots in timing.py's table orders (`(slot, highest)` for the extremes)."""
    if (len(spans), len(set_slots), len(oxygen_slots), len(two_sided_slots), len(criteria_only), len(shared_labs),
            len(map_sbp_dbp_slots)) != (7, 8, 3, 2, 7, 3, 3):
        raise ValueError("scan_params: table sizes differ from the kernel's layout")
    values = [*spans, VALUE_SCALE, len(MEASURE_LIST), *set_slots, *oxygen_slots, spo2_scale_slot, *two_sided_slots]
    for slot, highest in (*criteria_only, *shared_labs):
        values += [slot, int(highest)]
    values += [lactate_slot, acvpu_slot, *map_sbp_dbp_slots]
    params = np.array(values, dtype=np.int64)
    if len(params) != P_LEN:
        raise ValueError("scan_params: layout mismatch")
    return params


def window_scans(data: array, lengths: array, now_s: int, params: np.ndarray) -> list[int] | None:
    """All window scans of one scoring at event time `now_s` (seconds since 2000) as a list of ints (layout O_*:
    (present, t, value x VALUE_SCALE) triples; the MAPs as (kind, t, value or SBP, 0 or DBP)), or None when a
    derived MAP is a near-tie that `round2_fast` defers to Decimal (the caller then runs the Python reference).

    `data` / `lengths`: `PatientWindow.data` (array('i')) and `.lengths` (array('H')), read in place."""
    out = window_scans_array(data, lengths, now_s, params)
    return None if out is None else out.tolist()


def window_scans_array(data: array, lengths: array, now_s: int, params: np.ndarray) -> np.ndarray | None:
    """`window_scans` as the int64 array itself (for another kernel; `.tolist()` gives what window_scans
    returns)."""
    out = np.empty(O_LEN, np.int64)
    if not _scans(data, lengths, now_s, params, out):
        return None
    return out


def warm_up(params: np.ndarray) -> None:
    """Compile (or load from numba's cache) the kernel for the window's buffer types now."""
    window_scans(array("i"), array("H", bytes(2 * len(MEASURE_LIST))), 0, params)
