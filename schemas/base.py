"""Shared building blocks of the canonical events: the base model, location, sources.

Every event is JSON on the wire (pydantic v2), carries `schema_version` (major.minor,
schemas/versioning.py), and is keyed in Kafka by `patient_key`. Models are strict about
unknown fields so that a producer bug shows up as a validation error instead of silently
lost data; only an event of a newer minor version is read ignoring them (schemas/codec.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)

from schemas.versioning import CURRENT_SCHEMA, SchemaVersion, parse_schema_version, wire_schema_version

__all__ = [
    "CanonicalEvent",
    "Location",
    "Source",
    "WireSchemaVersion",
    "describe_validation_error",
]

def _own_major(raw: object) -> SchemaVersion:
    if isinstance(raw, SchemaVersion):
        return raw
    version = parse_schema_version(raw)
    if version.major != CURRENT_SCHEMA.major:
        raise ValueError(f"schema_version: major version {version.major} is not readable by this release "
                         f"({CURRENT_SCHEMA.major}.x)")
    return version


WireSchemaVersion = Annotated[
    SchemaVersion,
    PlainValidator(_own_major),
    PlainSerializer(wire_schema_version),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\d+\.\d+$"}],
                    "description": "major (minor 0) or 'major.minor'"}),
]
"""`schema_version` of an event: this release's major, any minor (a newer minor's extra fields are dropped by
schemas.codec.decode_event); the integer major on the wire while the minor is 0."""


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

    schema_version: WireSchemaVersion = CURRENT_SCHEMA
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
