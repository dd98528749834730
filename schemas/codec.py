"""Decode any canonical event from its JSON wire form, dispatching on `kind`, by the version rule of
schemas/versioning.py (a newer minor is read ignoring the fields it added; another major is refused)."""

from __future__ import annotations

from typing import Annotated

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from schemas.alert import Alert
from schemas.care_event import CareEvent
from schemas.dead_letter import DeadLetter
from schemas.observation import Observation
from schemas.patient_event import PatientEvent
from schemas.versioning import CURRENT_SCHEMA_WIRE, ReadRule, UnsupportedSchemaVersion, check_schema_version

__all__ = ["AnyEvent", "ClinicalEvent", "UnsupportedSchemaVersion", "decode_event"]

ClinicalEvent = Observation | PatientEvent | CareEvent
AnyEvent = Annotated[Observation | PatientEvent | CareEvent | Alert | DeadLetter, Field(discriminator="kind")]

_ADAPTER: TypeAdapter[Observation | PatientEvent | CareEvent | Alert | DeadLetter] = TypeAdapter(AnyEvent)


def _declared_version(data: bytes | str) -> object:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return CURRENT_SCHEMA_WIRE  # not JSON: the schema's own error says so
    return parsed.get("schema_version", CURRENT_SCHEMA_WIRE) if isinstance(parsed, dict) else CURRENT_SCHEMA_WIRE


def decode_event(data: bytes | str) -> Observation | PatientEvent | CareEvent | Alert | DeadLetter:
    """Parse one JSON event; raises pydantic.ValidationError naming the bad field, or UnsupportedSchemaVersion
    (a ValueError; its message is the dead letter's reason) for an event of another major version."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError:
        # Strict first: the version is looked at only for an event that fails, so the common case parses once.
        check = check_schema_version(_declared_version(data))
        if check.rule is ReadRule.REFUSE:
            raise UnsupportedSchemaVersion(check.reason) from None
        if check.rule is ReadRule.AS_IS:
            raise
    return _ADAPTER.validate_json(data, extra="ignore")
