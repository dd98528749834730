"""DeadLetter: rejected input, kept verbatim with the reason, so nothing is silently lost."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.base import WireSchemaVersion
from schemas.versioning import CURRENT_SCHEMA

__all__ = ["DeadLetter", "DeadLetterDetail"]


class DeadLetterDetail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str = Field(description="where in the input: HL7 segment/field (OBX[2]-5) or FHIRPath")
    message: str


class DeadLetter(BaseModel):
    """A rejected input. Keyed in Kafka by the patient key when known, else by the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["dead_letter"] = "dead_letter"
    schema_version: WireSchemaVersion = CURRENT_SCHEMA
    source: str = Field(description="hl7v2, fhir, replay, detector, notifier")
    worker: str = Field(default="", description="which worker rejected it")
    raw_payload_b64: str = Field(description="the input exactly as received, base64")
    error_code: str = Field(description="machine-readable reason, e.g. unknown_unit, parse_error")
    error_message: str
    details: list[DeadLetterDetail] = Field(default_factory=list)
    received_at: AwareDatetime
    source_message_id: str | None = None
    patient_key: str | None = None

    @classmethod
    def for_payload(cls, payload: bytes, **fields: object) -> DeadLetter:
        """Build a dead letter for raw bytes."""
        return cls(raw_payload_b64=base64.b64encode(payload).decode("ascii"), **fields)  # type: ignore[arg-type]

    def raw_payload(self) -> bytes:
        return base64.b64decode(self.raw_payload_b64)

    def kafka_key(self) -> bytes:
        return (self.patient_key or self.source_message_id or self.source).encode()

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()
