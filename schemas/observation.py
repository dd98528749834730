"""Observation: one clinical measurement in its canonical unit, at its event time."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.base import CanonicalEvent, Location, Source
from schemas.measures import CONSCIOUSNESS_LEVELS, MEASURES, Measure, is_plausible

__all__ = ["Observation", "ResultStatus"]


class ResultStatus(StrEnum):
    """Result status (HL7 OBX-11 / FHIR Observation.status), reduced to what the detector acts on.

    `corrected` replaces the earlier value with the same `source_id`; `cancelled`
    retracts it (HL7 X/D/W, FHIR entered-in-error/cancelled).
    """

    FINAL = "final"
    PRELIMINARY = "preliminary"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"


class Observation(CanonicalEvent):
    """A measurement, validated: canonical unit for its measure, plausible value, aware times.

    `value` is None only for categorical measures (consciousness), which carry
    `value_code` (A, C, V, P or U) instead.
    """

    kind: Literal["observation"] = "observation"
    encounter_id: str | None = Field(default=None, max_length=128)
    measure: Measure
    code: str = Field(min_length=1, max_length=64, description="the code as received (LOINC or local)")
    code_system: str = Field(default="http://loinc.org", max_length=256)
    value: float | None = None
    value_code: str | None = Field(default=None, max_length=16)
    unit: str = Field(description="canonical UCUM unit of the measure")
    effective_at: AwareDatetime = Field(description="event (collection) time; drives every window")
    received_at: AwareDatetime = Field(description="when the service received it (processing time)")
    source: Source
    source_message_id: str = Field(min_length=1, max_length=256,
                                   description="MSH-10, FHIR Bundle/resource id, or replay row id")
    source_id: str = Field(min_length=1, max_length=256,
                           description="stable id of this result: duplicates share it and corrections "
                                       "replace the value with the same id")
    status: ResultStatus = ResultStatus.FINAL
    location: Location | None = None
    correlation_id: str | None = Field(default=None, max_length=256)
    part: int | None = Field(default=None, ge=0,
                             description="0-based position among this patient's observations from the same "
                                         "source message; the detector scores once per message, after the last")
    parts: int | None = Field(default=None, ge=1, description="how many observations that message gave this patient")

    @model_validator(mode="after")
    def _check_value(self) -> Self:
        bad_part = (self.part is None) != (self.parts is None)
        if self.part is not None and self.parts is not None and self.part >= self.parts:
            bad_part = True
        if bad_part:
            raise ValueError(f"part: {self.part!r} of {self.parts!r} is not a valid position")
        spec = MEASURES[self.measure]
        if self.unit != spec.unit:
            raise ValueError(f"unit: {self.unit!r} is not the canonical unit {spec.unit!r} of {self.measure}")
        if self.measure is Measure.CONSCIOUSNESS:
            if self.status is not ResultStatus.CANCELLED and self.value_code not in CONSCIOUSNESS_LEVELS:
                raise ValueError(f"value_code: consciousness needs value_code in {CONSCIOUSNESS_LEVELS}, "
                                 f"got {self.value_code!r}")
            return self
        if self.value is None:
            if self.status is ResultStatus.CANCELLED:
                return self
            raise ValueError(f"value: {self.measure} needs a numeric value")
        if not math.isfinite(self.value):
            raise ValueError(f"value: must be finite, got {self.value!r}")
        if not is_plausible(self.measure, self.value):
            raise ValueError(f"value: implausible {self.measure} {self.value} {spec.unit} "
                             f"(plausible {spec.low}..{spec.high})")
        if spec.integer and self.value != int(self.value):
            raise ValueError(f"value: {self.measure} must be a whole number, got {self.value}")
        return self
