"""Silences and maintenance windows: pure decisions over a list of silences, time passed in.

A silence mutes alerts that match all of its matchers between `starts_at_s` and
`ends_at_s` (wall-clock epoch seconds). Every silence has an author and a
reason, and no silence may outlast the configured maximum: a forgotten silence
must not hide a septic patient for weeks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notifier.errors import SilenceRejected
from schemas.alert import Alert

__all__ = [
    "Silence",
    "SilenceAudit",
    "SilenceDecision",
    "SilenceReason",
    "SilenceRequest",
    "apply_audit",
    "check_silence",
    "ended_early",
    "new_silence",
]


class SilenceRequest(BaseModel):
    """What an operator asks for (HTTP API and CLI). At least one of facility / unit / patient_key / episode_id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    facility: str | None = Field(default=None, max_length=64, description="mute a whole facility")
    unit: str | None = Field(default=None, max_length=64, description="mute a ward, e.g. during EHR downtime")
    patient_key: str | None = Field(default=None, max_length=128, description="mute one patient")
    episode_id: str | None = Field(default=None, max_length=128, description="mute one alert episode")
    duration_s: float = Field(gt=0, description="length of the silence in seconds (capped by the configured max)")
    starts_in_s: float = Field(default=0.0, ge=0, description="seconds from now until it starts (maintenance windows)")
    created_by: str = Field(min_length=1, max_length=128, description="author, for the audit trail")
    reason: str = Field(min_length=3, max_length=500, description="why; shown in the audit trail")

    @model_validator(mode="after")
    def _some_matcher(self) -> SilenceRequest:
        if not any((self.facility, self.unit, self.patient_key, self.episode_id)):
            raise ValueError("a silence needs at least one of facility, unit, patient_key, episode_id")
        return self


class Silence(BaseModel):
    """A stored silence. `expired_at_s` is set when someone ends it early."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    facility: str | None = None
    unit: str | None = None
    patient_key: str | None = None
    episode_id: str | None = None
    starts_at_s: float
    ends_at_s: float
    created_by: str
    reason: str
    created_at_s: float
    expired_at_s: float | None = None
    expired_by: str | None = None

    def active(self, now_s: float) -> bool:
        """True between start and end (or early expiry), wall-clock epoch seconds."""
        end = self.ends_at_s if self.expired_at_s is None else min(self.ends_at_s, self.expired_at_s)
        return self.starts_at_s <= now_s < end

    def matches(self, alert: Alert) -> bool:
        """True when every matcher given holds for `alert`."""
        location = alert.location
        return all((
            self.facility is None or (location is not None and location.facility == self.facility),
            self.unit is None or (location is not None and location.unit == self.unit),
            self.patient_key is None or alert.patient_key == self.patient_key,
            self.episode_id is None or alert.episode_id == self.episode_id,
        ))


class SilenceAudit(BaseModel):
    """One audited action on a silence; the silences topic keeps one record per (silence, action)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["silence_audit"] = "silence_audit"
    action: Literal["create", "expire"]
    actor: str
    at_s: float
    silence: Silence

    def kafka_key(self) -> bytes:
        """Key in the compacted silences topic: (silence id, action), so the whole trail survives compaction."""
        return f"{self.silence.id}|{self.action}".encode()


class SilenceReason(StrEnum):
    """Why the silence stage let an alert through or muted it (logged and counted)."""

    NOT_SILENCED = "not_silenced"
    SILENCED = "silenced"


@dataclass(frozen=True)
class SilenceDecision:
    reason: SilenceReason
    silence_id: str | None = None

    @property
    def muted(self) -> bool:
        return self.reason == SilenceReason.SILENCED


def new_silence(request: SilenceRequest, now_s: float, max_duration_s: float) -> Silence:
    """Validate `request` against the maximum length and build the silence (id deterministic from its content)."""
    if request.duration_s > max_duration_s:
        raise SilenceRejected(f"duration_s: {request.duration_s:g} s is longer than the maximum "
                              f"{max_duration_s:g} s (got {request.duration_s!r})")
    starts = now_s + request.starts_in_s
    seed = f"{request.model_dump_json()}|{now_s!r}"
    silence_id = "sil-" + hashlib.sha256(seed.encode()).hexdigest()[:16]
    return Silence(id=silence_id, facility=request.facility, unit=request.unit, patient_key=request.patient_key,
                   episode_id=request.episode_id, starts_at_s=starts, ends_at_s=starts + request.duration_s,
                   created_by=request.created_by, reason=request.reason, created_at_s=now_s)


def ended_early(silence: Silence, now_s: float, by: str) -> Silence:
    """The silence expired by `by` at `now_s` (wall-clock epoch seconds), before its end."""
    return silence.model_copy(update={"expired_at_s": now_s, "expired_by": by})


def check_silence(alert: Alert, silences: Iterable[Silence], now_s: float) -> SilenceDecision:
    """Is `alert` muted at `now_s` (wall-clock epoch seconds)? Names the first silence that mutes it."""
    for silence in silences:
        if silence.active(now_s) and silence.matches(alert):
            return SilenceDecision(SilenceReason.SILENCED, silence.id)
    return SilenceDecision(SilenceReason.NOT_SILENCED)


def apply_audit(silences: dict[str, Silence], record: SilenceAudit) -> dict[str, Silence]:
    """Fold one audit record into the silence table (create adds, expire ends early); returns a new dict."""
    table = dict(silences)
    if record.action == "create":
        # An expiry read before its create (both replayed) must not be undone.
        previous = table.get(record.silence.id)
        table[record.silence.id] = record.silence if previous is None or previous.expired_at_s is None else previous
    else:
        table[record.silence.id] = record.silence
    return table
