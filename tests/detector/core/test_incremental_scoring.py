"""Differential tests: incremental scoring (reuse of scores whose inputs did not change) against recomputing
every score at every scoring (`DetectorEngine.incremental = False`, the straightforward reference)."""

from __future__ import annotations

from benchmarks.bench_detector import workload
from detector.core.engine import DetectorEngine
from schemas import CareEventKind
from schemas.care_event import Vasopressor
from tests.detector.builders import NORMAL, at, care, message
from tests.detector.core.test_engine import _deteriorating


def _run(events: list, incremental: bool) -> tuple[list, list]:
    scorings: list = []
    engine = DetectorEngine(on_scored=lambda key, when, scores, level: scorings.append((key, when, scores, level)))
    engine.incremental = incremental
    alerts = [alert.model_dump() for event in events for alert in engine.process(event)]
    return scorings, alerts


def _assert_same(events: list) -> int:
    fast_scorings, fast_alerts = _run(events, True)
    slow_scorings, slow_alerts = _run(events, False)
    assert len(fast_scorings) == len(slow_scorings) > 0
    for fast, slow in zip(fast_scorings, slow_scorings, strict=True):
        assert fast == slow  # ScoreResult equality: value, band, points, met, missing, reason texts
    assert fast_alerts == slow_alerts
    return len(fast_scorings)


def test_random_walk_workload_scores_identically() -> None:
    assert _assert_same(workload(12, 30, seed=5)) == 12 * 30 + 12 * 5


def test_infection_vasopressors_and_labs_score_identically() -> None:
    """Care events change the infection status and SOFA cardiovascular inputs while vitals stay the same."""
    events = [care("p1", CareEventKind.BLOOD_CULTURE_ORDERED, at(0))]
    for hour in range(8):  # identical vitals every hour: the set-scores' inputs repeat, others change
        events += message("p1", at(hour), **NORMAL)
        if hour == 2:
            events.append(care("p1", CareEventKind.ANTIBIOTIC_GIVEN, at(2, 10)))
        if hour == 3:
            events += message("p1", at(3, 20), tag="lab", lactate=4.5, wbc=15.0, creatinine=2.1, platelets=90)
            events.append(care("p1", CareEventKind.VASOPRESSOR_STARTED, at(3, 30), drug=Vasopressor.NOREPINEPHRINE,
                               rate=0.2, rate_unit="ug/kg/min"))
        if hour == 5:
            events.append(care("p1", CareEventKind.VASOPRESSOR_STOPPED, at(5, 30), drug=Vasopressor.NOREPINEPHRINE))
    events += _deteriorating("p2")
    assert _assert_same(events) > 20
