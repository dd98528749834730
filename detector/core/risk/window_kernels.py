"""Numba kernels of the learned model's window features: `features.extract_features`' window part, bit for bit.

Used by risk/compiled.py (`CompiledRisk.score`), which says why they exist and how they are tested. The PACKED
window is read as it is: one `array('i')` `data` of (t, value x VALUE_SCALE, hash) triples, slots in increasing
slot order, each slot sorted by (t, hash), and `lengths` (`array('H')`, ints per slot: 3 per value). Same scan as
`features._vital_features`, same exact integer sums (int64 here, unbounded ints there), same conversions: Python's
`int / float` and `int * float` convert the int to float64 first (correctly rounded), as numba's int64 -> float64
does, and the operations run in the same order.

Integer overflow (the reference's ints are unbounded, ours are int64): per vital and span, with n values,
|seconds before now| <= X = 86 400 and |value x 10 000| <= V, every sum and product is bounded by 2 n^2 X V
(slope numerator terms) or n^2 X^2 (denominator terms). The slope numerator is n^2 cov(t, v), so Cauchy-Schwarz
and Popoviciu bound it by n^2 (X/2) (R/2) for a value range R. Observations are validated against the plausible
ranges (every vital within 0..300, so V, R <= 3e6); with the default cap of 288 values per measure the products
stay below 4.3e16 (2^63 ~ 9.2e18) and the numerator below 5.4e15 (< 2^53, so `float(num) * 3600.0` rounds exactly
like Python's `float(num * 3600)`). Larger caps or unvalidated values could break either bound, so the kernels
check both (in float64, against 2^62 and 2^53) and on failure report it: the caller then recomputes that scoring
with the Python reference.

What comes from other modules (measure slots, value scale, feature positions) is passed in at run time in
`plan`, not frozen into numba's cached code (its cache only notices edits of this file).
"""

from __future__ import annotations

import numpy as np

from detector.core.jit import kernel

__all__ = ["window_features"]

_PLAN_HEADER = 12  # plan: [scale, span 6 h, 12 h, 24 h, slots, 5 feature indices, vitals, labs], then the slots

_SAFE_BOUND = 2.0 ** 62  # margin below 2^63 for the float64 estimate of the largest intermediate
_EXACT_FLOAT_INT = 2 ** 53  # |num| up to here: float(num) * 3600.0 rounds like float(num * 3600)


@kernel
def _span(out: np.ndarray, at: int, n: int, s_t: int, s_v: int, s_tt: int, s_tv: int, delta: int, v_min: int,
          v_max: int, scale: float) -> bool:
    """Write (slope per hour, delta, min, max) of one span at out[at:at+4]; False if the slope is not exact.

    Mirrors features._span_stats: `(n*s_tv - s_t*s_v) * 3600 / (denom * scale)` in Python is
    float(num * 3600) / (float(denom) * scale); with |num| <= 2^53, float(num) is exact and * 3600.0 rounds once,
    like the conversion of the exact product."""
    if n == 0:
        out[at] = np.nan
        out[at + 1] = np.nan
        out[at + 2] = np.nan
        out[at + 3] = np.nan
        return True
    exact = True
    denom = n * s_tt - s_t * s_t
    if n >= 2 and denom > 0:
        num = n * s_tv - s_t * s_v
        if num > _EXACT_FLOAT_INT or num < -_EXACT_FLOAT_INT:
            exact = False
        out[at] = (float(num) * 3600.0) / (float(denom) * scale)
    else:
        out[at] = np.nan
    out[at + 1] = float(delta) / scale
    out[at + 2] = float(v_min) / scale
    out[at + 3] = float(v_max) / scale
    return exact


@kernel
def _vital(data: np.ndarray, start: int, end: int, now_s: int, out: np.ndarray, at: int, scale: float,
           span6: int, span12: int, span24: int) -> bool:
    """features._vital_features over data[start:end] (one slot's triples) into out[at:at+15]; False when an
    int64 intermediate could have overflowed or a slope is not exact (the caller falls back to Python)."""
    base = end - 3
    while base >= start and data[base] > now_s:
        base -= 3
    stop = now_s - span24
    if base < start or data[base] < stop:
        for k in range(15):
            out[at + k] = np.nan
        out[at + 2] = 0.0
        return True
    t_last = np.int64(data[base])
    v_last = np.int64(data[base + 1])
    s_t = np.int64(0)
    s_v = np.int64(0)
    s_tt = np.int64(0)
    s_tv = np.int64(0)
    v_min = v_last
    v_max = v_last
    out[at] = float(v_last) / scale
    out[at + 1] = float(now_s - t_last) / 3600.0
    out[at + 2] = 0.0
    limit = now_s - span6
    closed = 0
    exact = True
    i = base
    while i >= start:
        t = np.int64(data[i])
        if t < limit:
            if t < stop:
                break
            while t < limit:
                n = (base - i) // 3
                exact &= _span(out, at + 3 + 4 * closed, n, s_t, s_v, s_tt, s_tv,
                               v_last - np.int64(data[i + 4]), v_min, v_max, scale)
                if closed == 0:
                    out[at + 2] = float(n)
                closed += 1
                limit = now_s - span12 if closed == 1 else stop
        v = np.int64(data[i + 1])
        x = t - now_s
        s_t += x
        s_v += v
        s_tt += x * x
        s_tv += x * v
        if v < v_min:
            v_min = v
        elif v > v_max:
            v_max = v
        i -= 3
    n = (base - i) // 3
    # Overflow guard: every sum and product above is bounded by 2 n^2 X V or n^2 X^2 (module docstring); the
    # running sums of a span are partial sums of the 24 h span's, so the final n and extremes bound them all.
    magnitude = float(v_max if v_max > -v_min else -v_min)  # largest |value| scanned
    seconds = float(span24)  # the largest |t - now_s| summed
    if 2.0 * n * n * seconds * magnitude >= _SAFE_BOUND or float(n) * n * seconds * seconds >= _SAFE_BOUND:
        exact = False
    delta = v_last - np.int64(data[i + 4])
    first = at + 3 + 4 * closed
    exact &= _span(out, first, n, s_t, s_v, s_tt, s_tv, delta, v_min, v_max, scale)
    while closed < 2:  # the remaining spans hold the same values: copy the last one
        closed += 1
        for k in range(4):
            out[at + 3 + 4 * closed + k] = out[first + k]
    if first == at + 3:  # no span closed in the scan: the 6 h span holds all n values
        out[at + 2] = float(n)
    exact_all: bool = exact
    return exact_all


@kernel
def _lab(data: np.ndarray, start: int, end: int, now_s: int, out: np.ndarray, at: int, scale: float,
         span24: int) -> None:
    """features._lab_features over data[start:end] into out[at:at+5]."""
    base = end - 3
    while base >= start and data[base] > now_s:
        base -= 3
    first = now_s - span24
    if base < start or data[base] < first:
        for k in range(5):
            out[at + k] = np.nan
        return
    last = np.int64(data[base + 1])
    hours = float(now_s - np.int64(data[base])) / 3600.0
    i = base - 3
    if i < start or data[i] < first:
        single = float(last) / scale
        out[at] = single
        out[at + 1] = hours
        out[at + 2] = np.nan
        out[at + 3] = single
        out[at + 4] = single
        return
    prev = np.int64(data[i + 1])
    lo = prev
    hi = prev
    if last < lo:
        lo = last
    elif last > hi:
        hi = last
    i -= 3
    while i >= start and data[i] >= first:
        v = np.int64(data[i + 1])
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
        i -= 3
    out[at] = float(last) / scale
    out[at + 1] = hours
    out[at + 2] = float(last - prev) / scale
    out[at + 3] = float(lo) / scale
    out[at + 4] = float(hi) / scale


@kernel
def window_features(data: np.ndarray, lengths: np.ndarray, now_s: int, plan: np.ndarray, out: np.ndarray) -> bool:
    """Every window feature and the three derived vitals into `out` (FEATURE_NAMES order); False = fall back
    (an int64 bound, or `lengths` that do not match the measure list or the length of `data`)."""
    scale = float(plan[0])
    span6, span12, span24, n_slots = plan[1], plan[2], plan[3], plan[4]
    i_hr, i_sbp, i_dbp, i_bun, i_creat = plan[5], plan[6], plan[7], plan[8], plan[9]
    n_vitals, n_labs = plan[10], plan[11]
    if len(lengths) != n_slots:  # not this code's measure list: let the reference deal with it
        return False
    offsets = np.empty(n_slots + 1, dtype=np.int64)  # offsets[s] = first int of slot s in data
    offsets[0] = 0
    for s in range(n_slots):
        offsets[s + 1] = offsets[s] + np.int64(lengths[s])
    if offsets[n_slots] != len(data):  # lengths do not describe data (never read out of bounds)
        return False
    exact = True
    at = 0
    for k in range(n_vitals):
        slot = plan[_PLAN_HEADER + k]
        exact &= _vital(data, offsets[slot], offsets[slot + 1], now_s, out, at, scale, span6, span12, span24)
        at += 15
    for k in range(n_labs):
        slot = plan[_PLAN_HEADER + n_vitals + k]
        _lab(data, offsets[slot], offsets[slot + 1], now_s, out, at, scale, span24)
        at += 5
    sbp = out[i_sbp]
    dbp = out[i_dbp]
    hr = out[i_hr]
    out[at] = sbp - dbp if sbp == sbp and dbp == dbp else np.nan
    out[at + 1] = hr / sbp if hr == hr and sbp == sbp and sbp > 0 else np.nan
    bun = out[i_bun]
    creat = out[i_creat]
    out[at + 2] = bun / creat if bun == bun and creat == creat and creat > 0 else np.nan
    return exact
