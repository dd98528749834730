"""Which NEWS2 parameters a patient's feed charts at all (for resolving episodes on incomplete sets).

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

__all__ = ["NEWS2_SOURCES", "uncharted_only"]

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
