"""What a message may say about the patient: a per-receiver policy applied before any template runs.

Templates (Slack blocks, Teams cards, PagerDuty details, webhook JSON) only see
an `AlertView`, which holds nothing the receiver's policy does not allow. The
default is the minimum a responder needs to walk to the bed: unit, bed, level,
scores, the top reasons and the acknowledge link. Never a name (alerts carry
none), never a full identifier: at most a masked MRN (last four characters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert import Alert, AlertLevel

__all__ = ["DEFAULT_ALLOWED", "AlertView", "PhiField", "PhiPolicy", "ScoreLine", "build_view", "mask_identifier"]

PhiField = Literal["facility", "unit", "room", "bed", "level", "transition", "scores", "reasons", "links",
                   "masked_mrn", "event_time", "infection_suspected", "treatment_started"]

DEFAULT_ALLOWED: tuple[PhiField, ...] = ("unit", "bed", "level", "transition", "scores", "reasons", "links")

LEVEL_NAMES = {
    AlertLevel.NONE: "none",
    AlertLevel.REVIEW: "review",
    AlertLevel.URGENT: "urgent",
    AlertLevel.EMERGENCY: "emergency",
    AlertLevel.CRITICAL: "critical",
}

MAX_REASON_CHARS = 200


class PhiPolicy(BaseModel):
    """Fields a receiver may see. Configurable per receiver; unknown field names are a config error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[PhiField] = Field(default_factory=lambda: list(DEFAULT_ALLOWED),
                                  description="fields the messages of this receiver may carry")
    max_reasons: int = Field(default=3, ge=0, le=10, description="how many of the top reasons to show")


@dataclass(frozen=True)
class ScoreLine:
    name: str
    value: str
    band: str | None


@dataclass(frozen=True)
class AlertView:
    """The only thing templates see. Empty / None means "not allowed or not known"."""

    episode_id: str
    alert_id: str
    level: int | None
    level_name: str | None
    transition: str | None
    location: str
    facility: str | None = None
    unit: str | None = None
    room: str | None = None
    bed: str | None = None
    scores: tuple[ScoreLine, ...] = ()
    reasons: tuple[str, ...] = ()
    ack_url: str | None = None
    masked_mrn: str | None = None
    event_time: str | None = None
    infection_suspected: bool | None = None
    treatment_started: bool | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def headline(self) -> str:
        """One line such as `Sepsis alert EMERGENCY (escalated) - MICU 12-B`, within the allowed fields."""
        level = (self.level_name or "alert").upper()
        transition = f" ({self.transition})" if self.transition else ""
        return f"Sepsis alert {level}{transition} - {self.location}"


def mask_identifier(value: str) -> str:
    """Keep only the last four characters: `12345678` -> `****5678`; four or fewer -> all masked."""
    tail = value[-4:] if len(value) > 4 else ""
    return "*" * max(4, len(value) - len(tail)) + tail


def _format_value(value: float | bool | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}"


def build_view(alert: Alert, policy: PhiPolicy, ack_url: str | None) -> AlertView:
    """The alert reduced to what `policy` allows (the ack link only when `links` is allowed)."""
    allow = set(policy.allow)
    loc = alert.location
    facility = loc.facility if loc and "facility" in allow else None
    unit = loc.unit if loc and "unit" in allow else None
    room = loc.room if loc and "room" in allow else None
    bed = loc.bed if loc and "bed" in allow else None
    place = " ".join(p for p in (facility, unit, "-".join(x for x in (room, bed) if x)) if p)
    scores: tuple[ScoreLine, ...] = ()
    if "scores" in allow:
        scores = tuple(ScoreLine(s.name, _format_value(s.value), s.band) for s in alert.scores)
    reasons: tuple[str, ...] = ()
    if "reasons" in allow:
        reasons = tuple(r[:MAX_REASON_CHARS] for r in alert.reasons[: policy.max_reasons])
    return AlertView(
        episode_id=alert.episode_id,
        alert_id=alert.alert_id,
        level=int(alert.level) if "level" in allow else None,
        level_name=LEVEL_NAMES.get(alert.level, str(int(alert.level))) if "level" in allow else None,
        transition=str(alert.transition) if "transition" in allow else None,
        location=place or "location withheld",
        facility=facility,
        unit=unit,
        room=room,
        bed=bed,
        scores=scores,
        reasons=reasons,
        ack_url=ack_url if "links" in allow else None,
        masked_mrn=mask_identifier(alert.patient_key) if "masked_mrn" in allow else None,
        event_time=alert.event_time.isoformat() if "event_time" in allow else None,
        infection_suspected=alert.infection_suspected if "infection_suspected" in allow else None,
        treatment_started=alert.treatment_started if "treatment_started" in allow else None,
    )
