"""What admission, transfer, update and merge events change in a patient's state (pure functions).

The engine owns the bookkeeping (which patients it holds, what changed); these functions change one
`PatientState`: the admission context the learned model reads (age, sex, admission time) and a merge of two
records of the same person.
"""

from __future__ import annotations

import math
from datetime import UTC, date

from detector.core.patient import NO_CONTEXT, PatientState
from detector.core.risk import RiskContext
from detector.core.window import VALUE_SCALE, event_seconds
from schemas.patient_event import PatientEvent, PatientEventKind, Sex

__all__ = ["age_on", "merge_into", "update_context"]


def age_on(birth_date: date, day: date) -> float:
    """Completed years of age on `day`."""
    return float(day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day)))


def update_context(state: PatientState, event: PatientEvent) -> None:
    """Keep what an admit / transfer / update event says about age and sex (an absent field keeps the known
    value); an admission also sets the admission time (event time). Sex "other" counts as not male, as in
    training (learning/dataset.py).

    Age is kept in whole completed years: that is what a birth date gives (HL7 PID-7, FHIR birthDate), so a
    fractional `age_years` (PhysioNet files) is floored the same way and a stay scores identically whether it
    arrives through HL7 or the offline evaluation (tests/evaluation/test_pipeline_consistency.py)."""
    old = state.context
    age = event.age_years
    if age is None and event.birth_date is not None:
        age = age_on(event.birth_date, event.event_time.astimezone(UTC).date())
    elif age is not None:
        age = float(math.floor(age))
    male = old.male if event.sex is Sex.UNKNOWN else event.sex is Sex.MALE
    admitted_s = event_seconds(event.event_time) if event.event is PatientEventKind.ADMIT else old.admitted_s
    new = RiskContext(old.age_years if age is None else age, male, admitted_s)
    if new != old:
        state.context = new


def merge_into(survivor: PatientState, retired: PatientState, length_s: int, max_entries: int,
               max_care_events: int) -> None:
    """Copy the retired patient's values and care events into the survivor (duplicates collapse); the window
    limits are the engine's (`length_s` also serves as the late grace: a merged value is never late)."""
    for slot, series in enumerate(retired.window.by_measure()):
        if series is None:
            continue
        for i in range(0, len(series), 3):
            survivor.window.add(slot, series[i], series[i + 1] / VALUE_SCALE, series[i + 2], length_s=length_s,
                                grace_s=length_s, max_entries=max_entries)
    for entry in retired.care.events:
        survivor.care.add(entry, max_care_events)
    if survivor.escalation.opened_s is None and retired.escalation.opened_s is not None:
        survivor.escalation = retired.escalation
    if survivor.weight_kg is None:
        survivor.weight_kg, survivor.weight_s = retired.weight_kg, retired.weight_s
    if retired.context != NO_CONTEXT:  # fill what the survivor does not know from the retired record
        mine, theirs = survivor.context, retired.context
        survivor.context = RiskContext(mine.age_years if mine.age_years is not None else theirs.age_years,
                                       mine.male if mine.male is not None else theirs.male,
                                       mine.admitted_s if mine.admitted_s is not None else theirs.admitted_s)
