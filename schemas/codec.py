"""Decode any canonical event from its JSON wire form, dispatching on `kind`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from schemas.alert import Alert
from schemas.care_event import CareEvent
from schemas.dead_letter import DeadLetter
from schemas.observation import Observation
from schemas.patient_event import PatientEvent

__all__ = ["AnyEvent", "ClinicalEvent", "decode_event"]

ClinicalEvent = Observation | PatientEvent | CareEvent
AnyEvent = Annotated[Observation | PatientEvent | CareEvent | Alert | DeadLetter, Field(discriminator="kind")]

_ADAPTER: TypeAdapter[Observation | PatientEvent | CareEvent | Alert | DeadLetter] = TypeAdapter(AnyEvent)


def decode_event(data: bytes | str) -> Observation | PatientEvent | CareEvent | Alert | DeadLetter:
    """Parse one JSON event; raises pydantic.ValidationError naming the bad field."""
    return _ADAPTER.validate_json(data)
