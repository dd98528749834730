"""The clinical spec's normative rounding rule (clinical-scores.md §0).

Converted values and derived ratios are rounded to 2 decimal places with
round-half-up on the decimal representation, never with `round()` (which rounds
ties to even on binary floats: 205.2 / 17.1 would score SOFA liver 3, not 4).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["round2"]

_CENT = Decimal("0.01")


def round2(value: float) -> float:
    """Round to 2 decimal places, half-up, on the shortest decimal repr of `value`."""
    return float(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
