"""Alert: one transition of a patient's alert episode, with the scores and reasons behind it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.base import CanonicalEvent, Location

__all__ = [
    "Alert",
    "AlertLevel",
    "AlertTransition",
    "ScoreInput",
    "ScoreSnapshot",
    "alert_id_for",
    "episode_id_for",
]


class AlertLevel(IntEnum):
    """Escalation ladder of clinical-scores.md §3.4."""

    NONE = 0
    REVIEW = 1  # NEWS2 low-medium: nurse informs the medical team
    URGENT = 2  # NEWS2 5-6, qSOFA >= 2, SIRS >= 2 with suspected infection
    EMERGENCY = 3  # NEWS2 >= 7, SEP-1 severe sepsis, SOFA rise >= 2 with suspected infection
    CRITICAL = 4  # septic shock, lactate >= 4, SI >= 1.0 with hypotension


class AlertTransition(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    DE_ESCALATED = "de-escalated"
    REPEATED = "repeated"
    RESOLVED = "resolved"


class ScoreInput(BaseModel):
    """A value a score used, with its event time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: str
    value: float | str | None
    unit: str | None = None
    effective_at: AwareDatetime | None = None


class ScoreSnapshot(BaseModel):
    """A score's result at the alert's event time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="sirs, sirs_sep1, qsofa, news2, mews, sofa, sofa_delta, shock_index, "
                                  "sep1_severe_sepsis, sep1_septic_shock, sepsis3, risk_model, ...")
    value: float | bool | None
    band: str | None = None
    incomplete: bool = False
    missing: list[str] = Field(default_factory=list)
    inputs: list[ScoreInput] = Field(default_factory=list)
    reason: str = ""


def episode_id_for(patient_key: str, opened_at: datetime) -> str:
    """Deterministic episode id: the same patient and opening event time give the same id."""
    digest = hashlib.sha256(f"{patient_key}|{opened_at.isoformat()}".encode()).hexdigest()
    return f"ep-{digest[:24]}"


def alert_id_for(episode_id: str, sequence: int) -> str:
    """Deterministic alert id: (episode, transition sequence number)."""
    return f"{episode_id}-{sequence:04d}"


class Alert(CanonicalEvent):
    """An alert transition. `alert_id` is deterministic so replays and restarts de-duplicate."""

    kind: Literal["alert"] = "alert"
    alert_id: str = Field(min_length=1, max_length=128)
    episode_id: str = Field(min_length=1, max_length=128)
    sequence: int = Field(ge=0)
    level: AlertLevel
    previous_level: AlertLevel = AlertLevel.NONE
    transition: AlertTransition
    scores: list[ScoreSnapshot] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list, description="human-readable, most important first")
    infection_suspected: bool = False
    treatment_started: bool = Field(default=False, description="antibiotics already ordered or given")
    event_time: AwareDatetime = Field(description="event time of the observation that caused it")
    emitted_at: AwareDatetime = Field(description="processing time when the detector emitted it")
    location: Location | None = None
    encounter_id: str | None = None
    rules_version: str = "1"
    cannot_rule_out: list[str] = Field(default_factory=list, description="core vital signs too old or missing "
                                       "for a low score to mean anything ('heart rate: last 5.5 h ago'): the "
                                       "patient's state is 'stale: cannot rule out'")
    correlation_id: str | None = Field(default=None, max_length=256,
                                       description="correlation id of the triggering input (MLLP control id / "
                                                   "FHIR id), so logs can follow it to the delivery")
