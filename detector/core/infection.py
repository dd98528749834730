"""Care events per patient and suspected infection (Seymour et al. 2016; clinical-scores.md §2.7).

Suspected infection needs an antibiotic AND a body-fluid culture:
* antibiotic first, culture within 24 h after; or
* culture first, antibiotic within 72 h after.
The onset is the earlier of the two. It counts for the ladder from the moment the pair is complete
until `relevant_after_onset_hours` after the onset (Seymour judge the SOFA change up to 24 h after onset).
`treatment_started`: an antibiotic was ordered or given within `treatment_lookback_hours` (clinicians
want to know when the team is already acting, issue #5).

Care events are kept as small tuples sorted by (event time, source hash): duplicates (same source id,
kind and time) are ignored, `cancelled` events retract the event named by `cancels_source_id`, and the
log holds at most `max_care_events` entries (the oldest go first). Times are event seconds since 2000.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import IntEnum

from detector.core.config import InfectionConfig
from schemas.care_event import CareEventKind, Vasopressor

__all__ = [
    "CARE_KIND_CODE",
    "DRUG_CODE",
    "RATE_UNIT_CODE",
    "CareLog",
    "CareOutcome",
    "InfectionStatus",
    "infection_status",
]

CARE_KIND_LIST: tuple[CareEventKind, ...] = tuple(CareEventKind)
CARE_KIND_CODE: dict[CareEventKind, int] = {k: i for i, k in enumerate(CARE_KIND_LIST)}
DRUG_LIST: tuple[Vasopressor, ...] = tuple(Vasopressor)
DRUG_CODE: dict[Vasopressor, int] = {d: i for i, d in enumerate(DRUG_LIST)}
RATE_UNITS: tuple[str, ...] = ("ug/kg/min", "ug/min", "U/min")
RATE_UNIT_CODE: dict[str, int] = {u: i for i, u in enumerate(RATE_UNITS)}
NO_CODE = -1
RATE_SCALE = 10_000  # rates stored x 10 000 as int (4 decimals)

_ANTIBIOTIC = frozenset({CARE_KIND_CODE[CareEventKind.ANTIBIOTIC_ORDERED],
                         CARE_KIND_CODE[CareEventKind.ANTIBIOTIC_GIVEN]})
_CULTURE = CARE_KIND_CODE[CareEventKind.BLOOD_CULTURE_ORDERED]
_HOUR_S = 3600


class CareOutcome(IntEnum):
    INSERTED = 0
    DUPLICATE = 1
    RETRACTED = 2
    UNKNOWN_RETRACTION = 3


# One care event: (t, kind code, source hash, drug code or -1, rate x 10 000 or -1, rate unit code or -1)
CareTuple = tuple[int, int, int, int, int, int]


class CareLog:
    """A patient's recent care events, sorted by (event time, source hash)."""

    __slots__ = ("events",)

    def __init__(self, events: list[CareTuple] | None = None) -> None:
        self.events: list[CareTuple] = events or []

    def add(self, entry: CareTuple, max_events: int) -> CareOutcome:
        """Insert one care event (ignored if already held)."""
        events = self.events
        pos = bisect.bisect_left(events, entry)
        if pos < len(events) and events[pos] == entry:
            return CareOutcome.DUPLICATE
        for held in events:  # same source id and kind at the same time, new details: replace
            if held[0] == entry[0] and held[1] == entry[1] and held[2] == entry[2]:
                events.remove(held)
                break
        bisect.insort(events, entry)
        if len(events) > max_events:
            del events[0:len(events) - max_events]
        return CareOutcome.INSERTED

    def retract(self, source_hash_value: int) -> CareOutcome:
        """Remove the events whose source id hashes to `source_hash_value` (a cancelled order)."""
        kept = [e for e in self.events if e[2] != source_hash_value]
        if len(kept) == len(self.events):
            return CareOutcome.UNKNOWN_RETRACTION
        self.events = kept
        return CareOutcome.RETRACTED

    def evict(self, oldest_kept_s: int) -> None:
        """Forget events older than `oldest_kept_s`, except the last old event of each vasopressor and of
        ventilation: they still say whether an infusion or ventilation is running now."""
        events = self.events
        if not events or events[0][0] >= oldest_kept_s:
            return
        last_old: dict[int, CareTuple] = {}
        for e in events:
            if e[0] >= oldest_kept_s:
                break
            if e[3] != NO_CODE:
                last_old[e[3]] = e
            elif e[1] in _VENT_KINDS:
                last_old[-2] = e
        self.events = sorted(last_old.values()) + [e for e in events if e[0] >= oldest_kept_s]


_VENT_KINDS = frozenset({CARE_KIND_CODE[CareEventKind.VENTILATION_STARTED],
                         CARE_KIND_CODE[CareEventKind.VENTILATION_STOPPED]})


@dataclass(frozen=True, slots=True)
class InfectionStatus:
    """Suspected infection at one event time (seconds since 2000)."""

    suspected: bool
    onset_s: int | None
    treatment_started: bool


NO_INFECTION = InfectionStatus(False, None, False)


def infection_status(log: CareLog, now_s: int, config: InfectionConfig) -> InfectionStatus:
    """Seymour pairing over the care events at or before `now_s` (see the module docstring)."""
    antibiotics: list[int] = []
    cultures: list[int] = []
    for e in log.events:
        t = e[0]
        if t > now_s:
            break
        kind = e[1]
        if kind in _ANTIBIOTIC:
            antibiotics.append(t)
        elif kind == _CULTURE:
            cultures.append(t)
    if not antibiotics:
        return NO_INFECTION
    treatment = now_s - antibiotics[-1] <= config.treatment_lookback_hours * _HOUR_S
    abx_then = config.antibiotic_then_culture_hours * _HOUR_S
    culture_then = config.culture_then_antibiotic_hours * _HOUR_S
    onset: int | None = None
    for a in antibiotics:
        for c in cultures:
            if a <= c <= a + abx_then or c <= a <= c + culture_then:
                pair_onset = min(a, c)
                if onset is None or pair_onset > onset:
                    onset = pair_onset
    if onset is None:
        return InfectionStatus(False, None, treatment)
    relevant = now_s - onset <= config.relevant_after_onset_hours * _HOUR_S
    return InfectionStatus(relevant, onset, treatment)
