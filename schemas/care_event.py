"""CareEvent: orders and administrations that matter for sepsis (suspected infection, shock)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.base import CanonicalEvent, Location, Source

__all__ = ["CareEvent", "CareEventKind", "Vasopressor"]


class CareEventKind(StrEnum):
    BLOOD_CULTURE_ORDERED = "blood_culture_ordered"
    ANTIBIOTIC_ORDERED = "antibiotic_ordered"
    ANTIBIOTIC_GIVEN = "antibiotic_given"
    VASOPRESSOR_STARTED = "vasopressor_started"
    VASOPRESSOR_RATE_CHANGED = "vasopressor_rate_changed"
    VASOPRESSOR_STOPPED = "vasopressor_stopped"
    VENTILATION_STARTED = "ventilation_started"
    VENTILATION_STOPPED = "ventilation_stopped"
    CANCELLED = "cancelled"


class Vasopressor(StrEnum):
    """Vasoactive drugs scored by SOFA (clinical-scores.md §1.5), plus phenylephrine."""

    NOREPINEPHRINE = "norepinephrine"
    EPINEPHRINE = "epinephrine"
    DOPAMINE = "dopamine"
    DOBUTAMINE = "dobutamine"
    VASOPRESSIN = "vasopressin"
    PHENYLEPHRINE = "phenylephrine"


_RATE_UNITS = ("ug/kg/min", "ug/min", "U/min")


class CareEvent(CanonicalEvent):
    """An order or administration, with its codes and event time.

    Vasopressor rates are carried in `ug/kg/min` when the weight is known, else
    `ug/min` (the detector divides by the latest weight), or `U/min` for vasopressin.
    """

    kind: Literal["care_event"] = "care_event"
    event: CareEventKind
    encounter_id: str | None = Field(default=None, max_length=128)
    code: str = Field(min_length=1, max_length=64)
    code_system: str = Field(max_length=256, description="e.g. http://loinc.org or RxNorm")
    display: str | None = Field(default=None, max_length=256)
    event_time: AwareDatetime
    received_at: AwareDatetime
    source: Source
    source_message_id: str = Field(min_length=1, max_length=256)
    source_id: str = Field(min_length=1, max_length=256, description="order / administration id")
    drug: Vasopressor | None = None
    rate: float | None = Field(default=None, ge=0, le=10_000)
    rate_unit: str | None = None
    location: Location | None = None
    cancels_source_id: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _check_rate(self) -> Self:
        if (self.rate is None) != (self.rate_unit is None):
            raise ValueError("rate and rate_unit go together")
        if self.rate_unit is not None and self.rate_unit not in _RATE_UNITS:
            raise ValueError(f"rate_unit must be one of {_RATE_UNITS}, got {self.rate_unit!r}")
        if self.event is CareEventKind.CANCELLED and not self.cancels_source_id:
            raise ValueError("a cancelled care event needs cancels_source_id")
        return self
