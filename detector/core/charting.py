"""What a patient's feed charts and how recently: uncharted NEWS2 parameters, stale core vital signs.

§3.3: an incomplete NEWS2 `low` must not cancel an escalation, because the missing parameter might be abnormal.
That holds for a parameter the ward charts but did not chart recently. A parameter with no value anywhere in the
patient's window (24 h) is one this feed does not send (many ICU feeds never chart ACVPU); waiting for it would
keep every episode open for ever, so such a gap does not block resolution (config
escalation.incomplete_low_uncharted_counts). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from detector.core.window import MEASURE_INDEX, PatientWindow
from schemas.measures import Measure

__all__ = ["CORE_VITALS", "NEWS2_SOURCES", "stale_vitals", "uncharted_only"]

NEWS2_SOURCES: dict[str, tuple[Measure, ...]] = {
    "rr": (Measure.RESPIRATORY_RATE,),
    "spo2": (Measure.SPO2,),
    "on_oxygen": (Measure.ON_OXYGEN, Measure.O2_FLOW, Measure.FIO2, Measure.RESP_SUPPORT),
    "sbp": (Measure.SYSTOLIC_BP,),
    "hr": (Measure.HEART_RATE,),
    "consciousness": (Measure.CONSCIOUSNESS, Measure.GCS, Measure.GCS_EYE, Measure.GCS_VERBAL, Measure.GCS_MOTOR),
    "temp_c": (Measure.TEMPERATURE,),
}
"""NEWS2 parameter (scores.news2.PARAMETERS) -> the measures that can supply it."""


def uncharted_only(missing: Iterable[str], window: PatientWindow) -> bool:
    """True when every missing NEWS2 parameter has no value of any of its measures in `window`."""
    for parameter in missing:
        for measure in NEWS2_SOURCES.get(parameter, ()):
            if window.has(MEASURE_INDEX[measure]):
                return False
    return True


CORE_VITALS: tuple[tuple[str, Measure], ...] = (("heart rate", Measure.HEART_RATE),
                                               ("respiratory rate", Measure.RESPIRATORY_RATE),
                                               ("systolic BP", Measure.SYSTOLIC_BP))
"""The vital signs every screening score reads (NEWS2, qSOFA, SIRS, shock index) and a monitor or a nurse
records: when one is old or missing, a low score says nothing about the patient."""


def stale_vitals(window: PatientWindow, now_s: int, stale_after_s: int) -> tuple[str, ...]:
    """'Cannot rule out' reasons: each core vital sign with no value in the `stale_after_s` before `now_s`,
    in clinical words ("heart rate: last 5.5 h ago", "respiratory rate: not recorded"). Empty when current."""
    out: list[str] = []
    for name, measure in CORE_VITALS:
        slot = MEASURE_INDEX[measure]
        if window.latest(slot, now_s - stale_after_s, now_s) is not None:
            continue
        last = window.latest(slot, -(2**31), now_s)
        out.append(f"{name}: last {(now_s - last[0]) / 3600:.1f} h ago" if last is not None
                   else f"{name}: not recorded")
    return tuple(out)
