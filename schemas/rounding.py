"""The clinical spec's normative rounding rule (clinical-scores.md §0).

Converted values and derived ratios are rounded to 2 decimal places with
round-half-up on the decimal representation, never with `round()` (which rounds
ties to even on binary floats: 205.2 / 17.1 would score SOFA liver 3, not 4).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["round2"]

_CENT = Decimal("0.01")


def round2(value: float) -> float:
    """Round to 2 decimal places, half-up, on the shortest decimal repr of `value`.

    Never raises: a non-finite value, or one too large for the decimal context to quantize
    (beyond ~1e26, where 2 dp exceed the context precision), is returned unchanged. Callers
    that must refuse such values check plausibility themselves (ingest.core.units does).
    """
    if not math.isfinite(value):
        return value
    try:
        return float(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return value
