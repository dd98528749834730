"""Shared building blocks of the canonical events: the base model, location, sources.

Every event is JSON on the wire (pydantic v2), carries `schema_version`, and is
keyed in Kafka by `patient_key`. Models are strict about unknown fields so that a
producer bug shows up as a validation error instead of silently lost data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CanonicalEvent",
    "Location",
    "Source",
    "describe_validation_error",
]

SCHEMA_VERSION = 1


class Source(StrEnum):
    """Where an event entered the service."""

    HL7V2 = "hl7v2"
    FHIR = "fhir"
    REPLAY = "replay"


class Location(BaseModel):
    """Where the patient is (HL7 PV1-3 / FHIR Encounter.location); every part optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    facility: str | None = Field(default=None, max_length=64)
    unit: str | None = Field(default=None, max_length=64, description="ward / point of care, e.g. 4W or MICU")
    room: str | None = Field(default=None, max_length=32)
    bed: str | None = Field(default=None, max_length=32)

    def label(self) -> str:
        """Short human label such as `MICU 12-B`, used in pages."""
        parts = [p for p in (self.unit, "-".join(x for x in (self.room, self.bed) if x)) if p]
        return " ".join(parts) if parts else "unknown location"


class CanonicalEvent(BaseModel):
    """Base of every event on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    patient_key: str = Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$",
                             description="stable patient identifier; the Kafka key")

    def kafka_key(self) -> bytes:
        """The Kafka record key: the patient key, UTF-8."""
        return self.patient_key.encode()

    def to_json_bytes(self) -> bytes:
        """JSON encoding used on the wire."""
        return self.model_dump_json(exclude_none=False).encode()


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field and the bad value, for ACKs, OperationOutcomes and logs."""
    parts: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:
            # Model-level checks name the field and the value in their own message.
            parts.append(msg)
            continue
        value: Any = err.get("input")
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        parts.append(f"{loc}: {msg} (got {shown})")
    return "; ".join(parts)


Timestamp = AwareDatetime
"""Timezone-aware datetime; naive datetimes are rejected at validation."""
