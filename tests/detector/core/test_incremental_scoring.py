"""Differential tests: incremental scoring (reuse of scores whose inputs did not change) against recomputing
every score at every scoring (`DetectorEngine.incremental = False`, the straightforward reference)."""

from __future__ import annotations

import pytest

from benchmarks.bench_detector import NO_MODEL, workload
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


def _partial_run(events: list, read_scores: bool, config: object) -> tuple[list, list]:
    """No hook: the engine scores only what the ladder (and the learned model, when on) reads until an alert or a
    reader needs all."""
    engine = DetectorEngine(config)  # type: ignore[arg-type]
    alerts: list = []
    scores: list = []
    for event in events:
        alerts += [alert.model_dump() for alert in engine.process(event)]
        if read_scores:
            scores.append({key: engine.current_scores(key) for key in sorted(engine.patients)})
    return alerts, scores


def _reference_run(events: list, config: object) -> tuple[list, list]:
    engine = DetectorEngine(config)  # type: ignore[arg-type]
    engine.incremental = False  # every score at every scoring
    alerts: list = []
    scores: list = []
    for event in events:
        alerts += [alert.model_dump() for alert in engine.process(event)]
        scores.append({key: engine.current_scores(key) for key in sorted(engine.patients)})
    return alerts, scores


def _mixed_infection_events() -> list:
    """Patients with and without suspected infection, and one whose infection status changes mid-stream."""
    events = list(workload(10, 20, seed=9))
    events.append(care("bench-00003", CareEventKind.BLOOD_CULTURE_ORDERED, at(4)))
    events.append(care("bench-00003", CareEventKind.ANTIBIOTIC_GIVEN, at(5)))
    events.append(care("bench-00004", CareEventKind.ANTIBIOTIC_GIVEN, at(6)))  # no culture: not suspected
    events.sort(key=lambda e: getattr(e, "effective_at", None) or e.event_time)
    return events


@pytest.mark.parametrize("config", [None, NO_MODEL], ids=["model on", "model off"])
def test_scoring_only_what_the_ladder_reads_changes_no_alert_and_no_score(config: object) -> None:
    events = _mixed_infection_events()
    reference_alerts, reference_scores = _reference_run(events, config)
    alerts, scores = _partial_run(events, read_scores=True, config=config)
    assert len(reference_alerts) > 10
    assert alerts == reference_alerts
    assert scores == reference_scores  # current_scores() completes a partial scoring: same results, same order
    assert [[(name, r.reason) for name, r in s.items()] for patient in scores for s in patient.values()] == [
        [(name, r.reason) for name, r in s.items()] for patient in reference_scores for s in patient.values()]
    assert any(s["sirs"].points and s["sepsis3"].points["infection"] for patient in scores for s in patient.values()
               if s), "the workload must include scorings with suspected infection"
    unread_alerts, _ = _partial_run(events, read_scores=False, config=config)
    assert unread_alerts == reference_alerts  # alerts complete the scoring they show, nothing else is needed
