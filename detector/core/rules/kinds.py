"""The shapes a clinical rule takes in the tables (tables.py): a cascade of bands, a one-sided limit, a range.

Each is evaluated exactly as clinical-scores.md §0 asks: comparisons on the canonical-unit value, strict and
non-strict edges as written (`>` is strictly greater), and a missing value (None) never scores or meets.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Cascade", "Comparison", "Limit", "Outside"]

Comparison = Literal["<", "<=", ">", ">="]

_TESTS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                     ">=": operator.ge}


@dataclass(frozen=True, slots=True)
class Cascade:
    """Points of one value: the first step `(comparison, limit, points)` that holds, else `otherwise`.

    `Cascade((("<=", 8, 3), ("<=", 11, 1)), otherwise=0)` reads "<= 8 → 3; <= 11 → 1; else 0", the form the
    specification's "implementation as cascading comparisons" lines use.
    """

    steps: tuple[tuple[Comparison, float, int], ...]
    otherwise: int
    _checks: tuple[tuple[Callable[[float, float], bool], float, int], ...] = field(init=False, repr=False,
                                                                                   compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_checks", tuple((_TESTS[op], limit, points) for op, limit, points in self.steps))

    def points(self, value: float | None) -> int:
        """The points `value` earns (0 when missing)."""
        if value is None:
            return 0
        for test, limit, points in self._checks:
            if test(value, limit):
                return points
        return self.otherwise

    def matched(self, value: float) -> bool:
        """Whether one of the steps holds for `value` (False: it falls through to `otherwise`)."""
        return any(test(value, limit) for test, limit, _ in self._checks)


@dataclass(frozen=True, slots=True)
class Limit:
    """A one-sided criterion: met when `value <comparison> limit`, e.g. `Limit(">", 90)` for HR > 90."""

    comparison: Comparison
    limit: float
    _test: Callable[[float, float], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", _TESTS[self.comparison])

    def met(self, value: float | None) -> bool:
        """Whether `value` meets the criterion (a missing value never does)."""
        return value is not None and self._test(value, self.limit)


@dataclass(frozen=True, slots=True)
class Outside:
    """A two-sided criterion: met when `value < below` or `value > above` (both edges themselves do not count)."""

    below: float
    above: float

    def met(self, value: float | None) -> bool:
        """Whether `value` lies outside [below, above] (a missing value never does)."""
        return value is not None and (value > self.above or value < self.below)

    def low_met(self, value: float) -> bool:
        """Whether `value` meets the low side (the side both SIRS variants share)."""
        return value < self.below
