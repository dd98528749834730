"""What a message may say about the patient: a per-receiver policy applied before any template runs.

Templates (Slack blocks, Teams cards, PagerDuty details, webhook JSON) only see
an `AlertView`, which holds nothing the receiver's policy does not allow. The
default is the minimum a responder needs to walk to the bed: unit, bed, level,
scores, the top reasons and the acknowledge link. Never a name (alerts carry
none), never a full identifier: at most a masked MRN (last four characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert import Alert, AlertLevel

__all__ = ["DEFAULT_ALLOWED", "LOCATION_UNKNOWN", "LOCATION_WITHHELD", "AlertView", "PhiField", "PhiPolicy",
           "ScoreLine", "build_view", "clean_text", "clip", "mask_identifier"]

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
LOCATION_UNKNOWN = "location unknown"
"""The alert carries no location (e.g. no ADT seen yet): a responder must look the patient up."""
LOCATION_WITHHELD = "location withheld"
"""The alert has a location but this receiver's policy shows none of it."""


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


_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """EHR text made fit for any template: one line, no bidi overrides, valid Unicode.

    Line breaks would let a unit name or reason forge extra lines (a fake "Acknowledged" line, a list
    item); explicit bidi controls can make `bed 12` display as `21 deb` (right-to-left letters render
    correctly without them); a lone surrogate would make every JSON encoder refuse the whole message.
    """
    text = _LONE_SURROGATE.sub("\ufffd", _BIDI_CONTROLS.sub("", text))
    return _LINE_BREAKING.sub(" ", text).strip()


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut.

    The cut never leaves a lone zero-width joiner or variation selector dangling from a half emoji.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)].rstrip("\u200d\ufe0e\ufe0f")
    return cut + "\u2026"


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
    parts = {name: clean_text(value) for name in ("facility", "unit", "room", "bed")
             if loc is not None and isinstance(value := getattr(loc, name), str) and clean_text(value)}
    facility = parts.get("facility") if "facility" in allow else None
    unit = parts.get("unit") if "unit" in allow else None
    room = parts.get("room") if "room" in allow else None
    bed = parts.get("bed") if "bed" in allow else None
    place = " ".join(p for p in (facility, unit, "-".join(x for x in (room, bed) if x)) if p)
    if not place:
        place = LOCATION_WITHHELD if parts else LOCATION_UNKNOWN
    scores: tuple[ScoreLine, ...] = ()
    if "scores" in allow:
        scores = tuple(ScoreLine(clean_text(s.name), _format_value(s.value), clean_text(s.band) if s.band else None)
                       for s in alert.scores)
    reasons: tuple[str, ...] = ()
    if "reasons" in allow:
        reasons = tuple(clip(clean_text(r), MAX_REASON_CHARS) for r in alert.reasons[: policy.max_reasons])
    return AlertView(
        episode_id=alert.episode_id,
        alert_id=alert.alert_id,
        level=int(alert.level) if "level" in allow else None,
        level_name=LEVEL_NAMES.get(alert.level, str(int(alert.level))) if "level" in allow else None,
        transition=str(alert.transition) if "transition" in allow else None,
        location=place,
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
