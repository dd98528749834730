"""Settings shared by both ingest workers (validated at start-up; env prefix SEPSIS_INGEST_)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.patient_key import PatientKeyPolicy

__all__ = ["IngestSettings"]


class IngestSettings(BaseSettings):
    """Normalisation settings common to the HL7 v2 and FHIR paths."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_INGEST_", env_nested_delimiter="__", extra="forbid")

    site_timezone: str = Field(default="UTC",
                               description="IANA zone for timestamps that carry no offset (HL7 TS without "
                                           "+hhmm, FHIR dateTime without zone)")
    patient_key: PatientKeyPolicy = Field(default_factory=PatientKeyPolicy)
    local_codes: Path | None = Field(default=None,
                                     description="YAML mapping vendor observation codes to measures")
    care_codes: Path | None = Field(default=None,
                                    description="YAML of culture / antibiotic / vasopressor codes "
                                                "(default: the shipped ingest/core/data/care_codes.yaml)")
    reject_unsupported_messages: bool = Field(default=False,
                                              description="answer AR to message types we do not use "
                                                          "(default: AA and count them as ignored)")
    send_timeout_s: float = Field(default=5.0, gt=0, le=60,
                                  description="how long to wait for Kafka to acknowledge before answering "
                                              "AE / 503")

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)
