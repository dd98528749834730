"""The compiled scoring fast path (detector/core/scoring_compiled.py) gives exactly what the score functions give.

Oracle: the Python scans (`timing._select_reference`), `scoring.score_selected` (complete) and
`risk.compiled.compiled_tail`. For random windows and timing configs, `classic_numbers` must return the same
NEWS2 total, band and incomplete flag, qSOFA, SOFA, shock index, lactate and the set's SBP/MAP the ladder reads,
and write the model's score features as the same floats; then engines with the fast path on and off must emit the
same alerts, report the same current scores (reason texts included) and keep the same state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.bench_detector import NO_MODEL, workload
from detector.core.config import DetectorConfig, InfectionConfig, TimingConfig
from detector.core.engine import DetectorEngine
from detector.core.escalation import ladder_triggers
from detector.core.infection import CareLog, infection_status
from detector.core.risk import RiskContext
from detector.core.risk.compiled import compiled_tail
from detector.core.scoring import score_selected
from detector.core.scoring_compiled import BANDS, classic_numbers, score_params
from detector.core.timing import _select_reference, needs_window_extras, scan_window
from schemas import CareEventKind, PatientEventKind
from schemas.measures import Measure
from tests.detector.builders import NORMAL, at, care, message, patient_event
from tests.detector.core.test_engine import _deteriorating
from tests.detector.core.test_timing_compiled import _CONFIGS, NOW, _rows, _window

_EXTRAS = {Measure.GCS, Measure.GCS_EYE, Measure.GCS_VERBAL, Measure.GCS_MOTOR, Measure.RESP_SUPPORT, Measure.PAO2,
           Measure.URINE_OUTPUT}


def _none(value: float) -> float | None:
    return None if value != value else value


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(), config=_CONFIGS, baseline=st.integers(0, 6))
def test_fast_numbers_equal_the_score_functions(rows: list, config: TimingConfig, baseline: int) -> None:
    window = _window([row for row in rows if row[1] not in _EXTRAS])
    assert not needs_window_extras(window, CareLog())
    scan = scan_window(window, NOW, config)
    if scan is None:  # a derived-MAP near-tie: the scans already hand this scoring to the reference
        return
    x = np.full(30, -1.0)
    (ok, news, band, incomplete, q, sofa_now, shock, lactate, sbp, set_map, anchored,
     anchor_t) = classic_numbers(scan, score_params(int(config.shock_index_pair_minutes * 60)), baseline, x, 3,
                                 71.0, 1.0, 5.5)
    selected = _select_reference(window, CareLog(), NOW, config)
    detector_config = DetectorConfig()  # score_selected reads only the ladder; the timing is in the selection
    infection = infection_status(CareLog(), NOW, InfectionConfig())
    reference = score_selected(selected, infection, baseline, None, detector_config, None, True)
    scores = reference.scores
    if not ok:  # a rounding near-tie (shock index or a derived MAP): only the reference may decide it
        return
    assert (int(news), BANDS[int(band)], bool(incomplete)) == (scores["news2"].value, scores["news2"].band,
                                                                scores["news2"].incomplete)
    assert (int(q), int(sofa_now)) == (scores["qsofa"].value, scores["sofa"].value)
    assert _none(shock) == scores["shock_index"].value
    assert _none(lactate) == selected.criteria.lactate
    obs_set = selected.observation_set
    assert _none(sbp) == obs_set.sbp
    expected_map = obs_set.map
    if expected_map is None and obs_set.sbp is not None and obs_set.dbp is not None:
        expected_map = (obs_set.sbp + 2 * obs_set.dbp) / 3
    assert _none(set_map) == expected_map
    assert (int(anchor_t) if anchored else None) == selected.set_anchor_s
    level, triggers = ladder_triggers(
        news2=int(news), news2_band=BANDS[int(band)], qsofa=int(q), sirs=None, infection=False, sep1_severe=False,
        sofa_rise=int(sofa_now) - baseline, septic_shock=False, lactate=_none(lactate), shock_index=_none(shock),
        sbp=_none(sbp), map_mmhg=_none(set_map), config=detector_config.ladder)
    assert (level, triggers) == (reference.assessment.level, reference.assessment.reasons)
    # the model's score and context features, written after 3 untouched positions
    tail = compiled_tail(scores, baseline, RiskContext(71.0, True, NOW - int(5.5 * 3600)), None, NOW)
    assert x[:3].tolist() == [-1.0] * 3
    assert all(_same(a, b) for a, b in zip(x[3:].tolist(), tail, strict=True)), (x[3:].tolist(), tail)


def _run(events: list, config: DetectorConfig | None, fast: bool, read_scores: bool = True) -> tuple:
    engine = DetectorEngine(config)
    engine.fast_scoring = fast
    alerts, scores = [], []
    fast_scorings = 0
    for event in events:
        alerts += [alert.model_dump() for alert in engine.process(event)]
        key = event.patient_key
        scoring = engine._scores.get(key)
        fast_scorings += scoring is not None and scoring.scan is not None
        if read_scores:
            scores.append([(name, result, result.reason) for name, result in engine.current_scores(key).items()])
    states = {key: engine.export_state(key) for key in sorted(engine.patients)}
    return alerts, scores, states, fast_scorings


def _stream() -> list:
    """Ward patients (the fast path), one with GCS and one with a suspected infection (the reference path), one
    admitted with age and sex (the model's context features), a discharge."""
    events = list(workload(12, 30, seed=11))
    events += _deteriorating("dete")
    events += [patient_event("aged", PatientEventKind.ADMIT, at(0))]
    for hour in range(10):
        events += message("aged", at(hour, 5), **{**NORMAL, "hr": 80 + 6 * hour, "rr": 14 + hour})
        events += message("gcs", at(hour, 7), **{**NORMAL, "gcs": 15 - hour // 2})
        events += message("infected", at(hour, 9), **{**NORMAL, "temp": 38.0 + hour / 10})
    events += [care("infected", CareEventKind.BLOOD_CULTURE_ORDERED, at(2)),
               care("infected", CareEventKind.ANTIBIOTIC_GIVEN, at(3)),
               patient_event("dete", PatientEventKind.DISCHARGE, at(20))]
    events.sort(key=lambda e: getattr(e, "effective_at", None) or e.event_time)
    return events


@pytest.mark.parametrize("config", [None, NO_MODEL], ids=["model on", "model off"])
def test_engines_with_and_without_the_fast_path_agree(config: DetectorConfig | None) -> None:
    events = _stream()
    fast_alerts, fast_scores, fast_states, fast_count = _run(events, config, True)
    ref_alerts, ref_scores, ref_states, ref_count = _run(events, config, False)
    assert ref_count == 0 and fast_count > 300  # the fast path ran, and only where switched on
    assert len(ref_alerts) > 10
    assert fast_alerts == ref_alerts
    assert fast_scores == ref_scores  # values, bands, points, missing, reason texts; risk_model last
    assert fast_states == ref_states
    # alerts alone complete the scorings they show (nothing else read in between)
    assert _run(events, config, True, read_scores=False)[0] == ref_alerts


def test_scorings_that_need_more_than_the_scan_take_the_reference() -> None:
    engine = DetectorEngine(NO_MODEL)
    for event in message("ward", at(0), **NORMAL) + message("icu", at(0), **{**NORMAL, "gcs": 14}):
        engine.process(event)
    assert engine._scores["ward"].scan is not None
    assert engine._scores["icu"].scan is None and engine._scores["icu"].scores["sofa"].points["cns"] == 1
    # a shock index on a rounding near-tie (100.5 / 100 = 1.005): round2_fast defers it to Decimal, so does the
    # fast path (to the reference, which rounds half up)
    for event in message("tie", at(0), **{**NORMAL, "hr": 100.5, "sbp": 100}):
        engine.process(event)
    assert engine._scores["tie"].scan is None
    assert engine.current_scores("tie")["shock_index"].value == 1.01
