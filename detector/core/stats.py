"""The detector engine's counters (exported as metrics by detector/metrics.py) and the per-ward label."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from schemas.base import Location

__all__ = ["UNKNOWN_UNIT", "EngineStats", "unit_of"]


@dataclass
class EngineStats:
    """Counters since start (the adapter exports them as metrics)."""

    observations: int = 0
    inserted: int = 0
    duplicates: int = 0
    late_dropped: int = 0
    future_dropped: int = 0
    retracted: int = 0
    scored: int = 0
    stale_scorings: int = 0  # scorings whose core vital signs were old or missing ("cannot rule out")
    care_events: int = 0
    patient_events: int = 0
    transitions: Counter[tuple[int, str]] = field(default_factory=Counter)  # (level, transition) -> count
    # Per ward (Location.unit, "unknown" when not known): the metrics adapter caps the label cardinality.
    scored_by_unit: Counter[str] = field(default_factory=Counter)
    transitions_by_unit: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (level, transition, unit)

    def copy(self) -> EngineStats:
        """An independent snapshot (the counters are copied)."""
        return replace(self, transitions=self.transitions.copy(), scored_by_unit=self.scored_by_unit.copy(),
                       transitions_by_unit=self.transitions_by_unit.copy())


UNKNOWN_UNIT = "unknown"
"""The `unit` of a patient whose location (or its unit) is not known."""


def unit_of(location: Location | None) -> str:
    """The ward / point-of-care label used in per-unit counters (Location.unit, else "unknown")."""
    if location is None or not location.unit:
        return UNKNOWN_UNIT
    return location.unit
