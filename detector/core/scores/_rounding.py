"""A fast path for the §0 rounding rule that returns exactly what `schemas.rounding.round2` returns.

`round2` (Decimal on the shortest repr, quantize half-up) costs ~1.5 µs; the scores round up to three derived
values per input set (MAP, P/F, shock index), so this matters at 100,000 observations/s.

Why the fast path is exact: for 0 <= x < 1e6, the shortest decimal repr d of x differs from x by at most half
an ulp (< 1e-10), and y = x * 100.0 differs from 100·d by far less than 1e-6. So when the fractional part of y
is more than 1e-6 away from 0.5, half-up rounding of 100·d is floor(y) or floor(y) + 1, decided by that
fractional part. The result k / 100.0 (k an integer < 2^53) is the correctly rounded quotient, which is the
same float as float(Decimal of k/100) that round2 returns. Anything else (near-ties, negatives, huge values,
NaN/inf) goes to round2 itself. A hypothesis test compares both on random and tie-heavy values.
"""

from __future__ import annotations

import math

from schemas.rounding import round2

__all__ = ["round2_fast"]

_TIE_MARGIN = 1e-6
_FAST_LIMIT = 1e6


def round2_fast(value: float) -> float:
    """Same result as `schemas.rounding.round2(value)` (2 dp, half-up on the decimal repr), usually faster."""
    if 0.0 <= value < _FAST_LIMIT:
        scaled = value * 100.0
        whole = math.floor(scaled)
        fraction = scaled - whole
        if fraction < 0.5 - _TIE_MARGIN:
            return whole / 100.0
        if fraction > 0.5 + _TIE_MARGIN:
            return (whole + 1) / 100.0
    return round2(value)
