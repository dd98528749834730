"""Settings shared by both ingest workers (validated at start-up; env prefix SEPSIS_INGEST_)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.event_time import EventTimeWindow
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
    max_event_future_s: float = Field(
        default=3600.0, ge=0, le=86400,
        description="latest accepted event time, in seconds AFTER the message's receipt (processing time). "
                    "An observation cannot be made in the future; the allowance only absorbs clock skew "
                    "between the sender (device, EHR) and this host, including a sender stamping local time "
                    "without offset across a DST change (1 h). Later times are rejected "
                    "(event_time_out_of_range)")
    max_event_age_days: float = Field(
        default=18262.0, gt=0, le=73000,
        description="earliest accepted event time, in days BEFORE the message's receipt. Generous (50 years) "
                    "so backfills, replays and archived test messages (the public HL7 samples date from 1999) "
                    "still pass; it rejects placeholder and century-typo times (0001, 1850). A live site may "
                    "lower it")

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

    def event_time_window(self) -> EventTimeWindow:
        """The accepted event-time window around receipt (ingest.core.event_time)."""
        return EventTimeWindow(max_future=timedelta(seconds=self.max_event_future_s),
                               max_age=timedelta(days=self.max_event_age_days))
