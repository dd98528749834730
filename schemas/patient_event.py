"""PatientEvent: admission, transfer, discharge, demographic update, cancellation, merge."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.base import CanonicalEvent, Location, Source

__all__ = ["PatientEvent", "PatientEventKind", "Sex"]


class PatientEventKind(StrEnum):
    """What happened to the patient's stay (HL7 ADT A01/A04 admit, A02 transfer, A03 discharge,
    A08 update, A11/A13 cancel admit/discharge, A40 merge)."""

    ADMIT = "admit"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"
    UPDATE = "update"
    CANCEL = "cancel"
    MERGE = "merge"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class PatientEvent(CanonicalEvent):
    """A change in the patient's stay or demographics."""

    kind: Literal["patient_event"] = "patient_event"
    event: PatientEventKind
    encounter_id: str | None = Field(default=None, max_length=128)
    event_time: AwareDatetime
    received_at: AwareDatetime
    source: Source
    source_message_id: str = Field(min_length=1, max_length=256)
    trigger: str | None = Field(default=None, max_length=16, description="e.g. ADT^A01")
    birth_date: date | None = None
    age_years: float | None = Field(default=None, ge=0, le=130)
    sex: Sex = Sex.UNKNOWN
    location: Location | None = None
    prior_location: Location | None = None
    cancels: PatientEventKind | None = Field(default=None, description="for `cancel`: what is undone")
    merged_from_key: str | None = Field(default=None, max_length=128,
                                        description="for `merge`: the retired key whose state moves here")

    @model_validator(mode="after")
    def _check_kind_fields(self) -> Self:
        if self.event is PatientEventKind.MERGE and not self.merged_from_key:
            raise ValueError("a merge needs merged_from_key")
        if self.merged_from_key and self.merged_from_key == self.patient_key:
            raise ValueError("merged_from_key must differ from patient_key")
        return self
