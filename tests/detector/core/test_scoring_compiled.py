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
from detector.core.infection import (
    CARE_KIND_CODE,
    DRUG_CODE,
    NO_CODE,
    RATE_SCALE,
    RATE_UNIT_CODE,
    CareLog,
    infection_status,
)
from detector.core.patient import PatientState
from detector.core.risk import RiskContext
from detector.core.risk.compiled import compiled_tail
from detector.core.scoring import score_selected
from detector.core.scoring_compiled import (
    BANDS,
    NO_EXTRAS,
    NO_HOUR,
    classic_numbers,
    extras_of,
    record_sofa_into,
    score_params,
    sofa_baseline_of,
)
from detector.core.timing import _select_reference, needs_window_extras, scan_window, selected_from_scan
from detector.core.window import PatientWindow
from schemas import CareEventKind, PatientEventKind
from schemas.care_event import Vasopressor
from schemas.measures import Measure
from tests.detector.builders import NORMAL, at, care, message, patient_event
from tests.detector.core.test_engine import _deteriorating
from tests.detector.core.test_timing_compiled import _CONFIGS, NOW, _rows, _window

H = 3600

_NE, _EPI = DRUG_CODE[Vasopressor.NOREPINEPHRINE], DRUG_CODE[Vasopressor.EPINEPHRINE]
_DOPA = DRUG_CODE[Vasopressor.DOPAMINE]
_INFUSIONS = ([(CareEventKind.VASOPRESSOR_STARTED, _NE, rate, "ug/kg/min") for rate in (0.05, 0.1, 0.2)]
              + [(CareEventKind.VASOPRESSOR_STARTED, _EPI, rate, "ug/kg/min") for rate in (0.005, 0.1, 0.15)]
              + [(CareEventKind.VASOPRESSOR_STARTED, _DOPA, rate, "ug/kg/min") for rate in (5.0, 6.0, 15.0, 16.0)]
              + [(CareEventKind.VASOPRESSOR_RATE_CHANGED, _NE, 0.08, "ug/kg/min"),
                 (CareEventKind.VASOPRESSOR_STARTED, _EPI, 7.0, "ug/min"),
                 (CareEventKind.VASOPRESSOR_STARTED, DRUG_CODE[Vasopressor.DOBUTAMINE], 5.0, "ug/kg/min"),
                 (CareEventKind.VASOPRESSOR_STARTED, DRUG_CODE[Vasopressor.VASOPRESSIN], 0.03, "U/min"),
                 (CareEventKind.VASOPRESSOR_STOPPED, _NE, NO_CODE, NO_CODE)])
# care events: ventilation on/off, cultures and antibiotics (suspected infection when paired), catecholamine
# infusions at the SOFA boundaries (weight-based, absolute, vasopressin)
_CARE = st.lists(st.tuples(
    st.sampled_from([(CareEventKind.VENTILATION_STARTED, NO_CODE, NO_CODE, NO_CODE),
                     (CareEventKind.VENTILATION_STOPPED, NO_CODE, NO_CODE, NO_CODE),
                     (CareEventKind.BLOOD_CULTURE_ORDERED, NO_CODE, NO_CODE, NO_CODE),
                     (CareEventKind.ANTIBIOTIC_GIVEN, NO_CODE, NO_CODE, NO_CODE), *_INFUSIONS]),
    st.sampled_from([0, 30 * 60, 2 * H, 5 * H, 20 * H, 30 * H])), max_size=5)


def _care_log(items: list) -> CareLog:
    log = CareLog()
    for n, ((kind, drug, rate, unit), ago) in enumerate(items):
        log.add((NOW - ago, CARE_KIND_CODE[kind], n + 1, drug,
                 round(rate * RATE_SCALE) if unit != NO_CODE else NO_CODE,
                 RATE_UNIT_CODE[unit] if unit != NO_CODE else NO_CODE), 32)
    return log


def _none(value: float) -> float | None:
    return None if value != value else value


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(), config=_CONFIGS, baseline=st.integers(0, 6), care_items=_CARE,
       weight=st.sampled_from([None, 70.0]))
def test_fast_numbers_equal_the_score_functions(rows: list, config: TimingConfig, baseline: int, care_items: list,
                                                weight: float | None) -> None:
    """GCS, respiratory support, PaO2/FiO2, urine and care events included (the engine passes them to the kernel
    as the Python selection reads them, `extras_of`), and suspected infection (SEP-1, Sepsis-3 on the ladder)."""
    _assert_fast_equals_reference(_window(rows), _care_log(care_items), config, baseline, weight)


_BASE = {Measure.HEART_RATE: 72.0, Measure.RESPIRATORY_RATE: 14.0, Measure.TEMPERATURE: 36.8,
         Measure.SYSTOLIC_BP: 124.0, Measure.DIASTOLIC_BP: 78.0, Measure.SPO2: 98.0, Measure.ON_OXYGEN: 0.0,
         Measure.CONSCIOUSNESS: 0.0, Measure.WBC: 8.0, Measure.PLATELETS: 250.0, Measure.BILIRUBIN: 0.6,
         Measure.CREATININE: 0.9, Measure.LACTATE: 1.1}


def _grid(low: float, high: float, step: float, *exact: float) -> list[float]:
    """Every `step` from low to high (rounded to 4 decimals, as the window stores them) plus `exact` values."""
    count = round((high - low) / step)
    return sorted({round(low + k * step, 4) for k in range(count + 1)} | set(exact))


# every threshold of every score in the fast path, on a fine grid around it: NEWS2, MEWS, qSOFA, SIRS and SOFA
_SWEEPS: dict[Measure, list[float]] = {
    Measure.HEART_RATE: _grid(20, 200, 0.5, 40.0001, 90.0001, 99.9999),
    Measure.RESPIRATORY_RATE: _grid(3, 45, 0.5, 8.0001, 20.0001, 21.9999),
    Measure.TEMPERATURE: _grid(33, 42, 0.05, 35.0001, 38.0001, 38.4999),
    Measure.SYSTOLIC_BP: _grid(40, 240, 0.5, 90.0001, 100.0001, 219.0001),
    Measure.SPO2: _grid(70, 100, 0.5, 91.0001, 95.0001),
    Measure.CONSCIOUSNESS: [0.0, 1.0, 2.0, 3.0, 4.0],
    Measure.WBC: _grid(0.5, 20, 0.1, 3.9999, 12.0001),
    Measure.BANDS: _grid(0, 20, 0.5, 10.0001),
    Measure.PACO2: _grid(20, 50, 0.5, 31.9999),
    Measure.PLATELETS: _grid(0, 200, 1, 19.9999, 49.9999, 99.9999, 149.9999),
    Measure.BILIRUBIN: _grid(0, 14, 0.05, 1.1999, 11.9999),
    Measure.CREATININE: _grid(0.1, 6, 0.05, 1.1999, 4.9999),
    Measure.MEAN_BP: _grid(40, 90, 0.5, 69.9999),
    Measure.GCS: _grid(3, 15, 1),
    Measure.PAO2: _grid(10, 120, 1, 20.9999, 41.9999, 62.9999, 83.9999),
    Measure.URINE_OUTPUT: _grid(0, 800, 5, 199.9999, 499.9999),
    Measure.INR: _grid(0.5, 3, 0.05, 1.5001),
    Measure.APTT: _grid(20, 100, 1, 60.0001),
    Measure.LACTATE: _grid(0.5, 6, 0.05, 2.0001, 3.9999),
}


_INFECTED = [((CareEventKind.BLOOD_CULTURE_ORDERED, NO_CODE, NO_CODE, NO_CODE), 5 * H),
             ((CareEventKind.ANTIBIOTIC_GIVEN, NO_CODE, NO_CODE, NO_CODE), 4 * H)]
_NOREPINEPHRINE = ((CareEventKind.VASOPRESSOR_STARTED, _NE, 0.05, "ug/kg/min"), 2 * H)


@pytest.mark.parametrize("measure", list(_SWEEPS), ids=lambda m: m.value)
@pytest.mark.parametrize("variant", ["air", "oxygen, scale 2, ventilated", "infected", "infected, norepinephrine"])
def test_fast_numbers_equal_the_score_functions_at_every_threshold(measure: Measure, variant: str) -> None:
    """One measure swept over a fine grid (every band edge and the values just beside it) in an otherwise
    normal set: on air; on oxygen with the SpO2 scale 2 and respiratory support (P/F with FiO2 0.4); with
    suspected infection (SEP-1 signs, a fever so that SEP-1 SIRS can reach 2); and on norepinephrine too
    (Sepsis-3 septic shock, with a SOFA rise from a baseline of 0)."""
    config = TimingConfig()
    care_items = {"infected": _INFECTED, "infected, norepinephrine": [*_INFECTED, _NOREPINEPHRINE]}.get(variant, [])
    for value in _SWEEPS[measure]:
        rows = {**_BASE, measure: value}
        if variant.startswith("oxygen"):
            rows.update({Measure.ON_OXYGEN: 1.0, Measure.SPO2_SCALE: 2.0, Measure.RESP_SUPPORT: 1.0,
                         Measure.FIO2: 0.4})
        elif variant.startswith("infected") and measure not in (Measure.TEMPERATURE, Measure.HEART_RATE):
            rows.update({Measure.TEMPERATURE: 38.6, Measure.HEART_RATE: 104.0})
        window = _window([(NOW - 600, m, v) for m, v in rows.items()])
        window.first_s = NOW - 30 * H  # the window covers 24 h: urine counts
        _assert_fast_equals_reference(window, _care_log(care_items), config, 0 if "norepinephrine" in variant else 2,
                                      70.0)


def _assert_fast_equals_reference(window: PatientWindow, care_log: CareLog, config: TimingConfig, baseline: int,
                                  weight: float | None) -> None:
    scan = scan_window(window, NOW, config)
    if scan is None:  # a derived-MAP near-tie: the scans already hand this scoring to the reference
        return
    extras = NO_EXTRAS
    if needs_window_extras(window, care_log):
        built = selected_from_scan(scan.tolist(), NOW, config, (window, care_log, weight))
        extras = extras_of(built.criteria, built.sofa)
    state = PatientState()  # a SOFA ring whose baseline (72 h before the SOFA window) is `baseline`
    state.record_sofa(NOW - int(config.sofa_lab_window_hours + 10) * H, baseline)
    state.record_sofa(NOW - H, 9)
    ring = bytearray(state.sofa_ring)
    x = np.full(30, -1.0)
    params = score_params(int(config.shock_index_pair_minutes * 60), config.sofa_lab_window_hours, 72.0)
    infection = infection_status(care_log, NOW, InfectionConfig())
    (ok, news, band, incomplete, q, sofa_now, shock, lactate, sbp, set_map, anchored, anchor_t, fast_baseline,
     newest_hour, sirs, severe, septic_shock) = classic_numbers(scan, params, extras, infection.suspected, ring,
                                                                state.sofa_hour, NOW, x, 3, 71.0, 1.0, 5.5)
    assert state.sofa_baseline(NOW, config.sofa_lab_window_hours, 72.0) == baseline
    selected = _select_reference(window, care_log, NOW, config, weight)
    detector_config = DetectorConfig()  # score_selected reads only the ladder; the timing is in the selection
    reference = score_selected(selected, infection, baseline, None, detector_config, None, True)
    scores = reference.scores
    if not ok:  # a rounding near-tie (shock index, a derived MAP, P/F): only the reference may decide it
        assert ring == state.sofa_ring  # and the ring was left alone
        return
    assert fast_baseline == baseline
    state.record_sofa(NOW, scores["sofa"].value)  # type: ignore[arg-type]
    assert (ring, int(newest_hour)) == (state.sofa_ring, state.sofa_hour)
    assert (int(news), BANDS[int(band)], bool(incomplete)) == (scores["news2"].value, scores["news2"].band,
                                                                scores["news2"].incomplete)
    assert (int(q), int(sofa_now)) == (scores["qsofa"].value, scores["sofa"].value)
    assert x[3 + 14:3 + 20].tolist() == [float(v) for v in scores["sofa"].points.values()]  # every system
    assert _none(shock) == scores["shock_index"].value
    assert _none(lactate) == selected.criteria.lactate
    obs_set = selected.observation_set
    assert _none(sbp) == obs_set.sbp
    expected_map = obs_set.map
    if expected_map is None and obs_set.sbp is not None and obs_set.dbp is not None:
        expected_map = (obs_set.sbp + 2 * obs_set.dbp) / 3
    assert _none(set_map) == expected_map
    assert (int(anchor_t) if anchored else None) == selected.set_anchor_s
    infected = infection.suspected
    assert int(sirs) == scores["sirs"].value
    if infected:
        expected_shock = bool(scores["sep1_septic_shock"].value) or scores["sepsis3_septic_shock"].value is True
        assert (severe, septic_shock) == (float(bool(scores["sep1_severe_sepsis"].value)), float(expected_shock))
    else:
        assert (severe, septic_shock) == (0.0, 0.0)
    level, triggers = ladder_triggers(
        news2=int(news), news2_band=BANDS[int(band)], qsofa=int(q), sirs=int(sirs) if infected else None,
        infection=infected, sep1_severe=severe == 1.0, sofa_rise=int(sofa_now) - baseline,
        septic_shock=septic_shock == 1.0, lactate=_none(lactate), shock_index=_none(shock), sbp=_none(sbp),
        map_mmhg=_none(set_map), config=detector_config.ladder)
    assert (level, triggers) == (reference.assessment.level, reference.assessment.reasons)
    # the model's score and context features, written after 3 untouched positions
    tail = compiled_tail(scores, baseline, RiskContext(71.0, True, NOW - int(5.5 * 3600)), None, NOW)
    assert x[:3].tolist() == [-1.0] * 3
    assert all(_same(a, b) for a, b in zip(x[3:].tolist(), tail, strict=True)), (x[3:].tolist(), tail)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from([0, 0, 1, 1, 2, 5, 25, 71, 72, 73, 96, 97, 98, 200]),
                                st.integers(0, 30), st.sampled_from([0, 59, 1800, 3599])), min_size=1, max_size=40),
       hours=st.sampled_from([(24.0, 72.0), (2.0, 72.0), (48.5, 48.0), (24.9, 12.0), (0.5, 96.0)]))
def test_the_sofa_ring_kernels_equal_the_patient_state(steps: list, hours: tuple[float, float]) -> None:
    """Baseline then record, hour after hour (same hour, the next, gaps beyond the ring), as the engine does, for
    SOFA windows and baselines up to what the config accepts (96 whole hours together)."""
    window_hours, baseline_hours = hours
    state = PatientState()
    ring, last = bytearray(state.sofa_ring), NO_HOUR
    hour = 1000
    for gap, total, second in steps:
        hour += gap
        now_s = hour * H + second
        expected = state.sofa_baseline(now_s, window_hours, baseline_hours)
        assert sofa_baseline_of(ring, last, now_s, int(window_hours), int(baseline_hours)) == expected
        state.record_sofa(now_s, total)
        last = record_sofa_into(ring, last, now_s, total)
        assert (ring, last) == (state.sofa_ring, state.sofa_hour)


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
    """Ward patients, one with GCS, one ventilated on a vasopressor with blood gases (window extras), one with a
    suspected infection, one admitted with age and sex (the model's context features), a discharge."""
    events = list(workload(12, 30, seed=11))
    events += _deteriorating("dete")
    events += [patient_event("aged", PatientEventKind.ADMIT, at(0))]
    for hour in range(10):
        events += message("aged", at(hour, 5), **{**NORMAL, "hr": 80 + 6 * hour, "rr": 14 + hour})
        events += message("gcs", at(hour, 7), **{**NORMAL, "gcs": 15 - hour // 2})
        events += message("infected", at(hour, 9), **{**NORMAL, "temp": 38.0 + hour / 10})
        events += message("vented", at(hour, 11), **{**NORMAL, "sbp": 100 - 3 * hour, "dbp": 55, "support": 1,
                                                      "pao2": 90 - 4 * hour, "fio2": 0.4 + hour / 50, "gcs": 14})
    events += [care("infected", CareEventKind.BLOOD_CULTURE_ORDERED, at(2)),
               care("infected", CareEventKind.ANTIBIOTIC_GIVEN, at(3)),
               care("vented", CareEventKind.VENTILATION_STARTED, at(0, 30)),
               care("vented", CareEventKind.VASOPRESSOR_STARTED, at(2), drug=Vasopressor.NOREPINEPHRINE, rate=0.08,
                    rate_unit="ug/kg/min"),
               care("vented", CareEventKind.VASOPRESSOR_RATE_CHANGED, at(6), drug=Vasopressor.NOREPINEPHRINE,
                    rate=0.15, rate_unit="ug/kg/min"),
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


def test_only_rounding_near_ties_take_the_reference() -> None:
    engine = DetectorEngine(NO_MODEL)
    for event in message("ward", at(0), **NORMAL) + message("icu", at(0), **{**NORMAL, "gcs": 14}):
        engine.process(event)
    assert engine._scores["ward"].scan is not None and engine._scores["ward"].scan.selected is None
    icu = engine._scores["icu"].scan
    assert icu is not None and icu.selected is not None  # GCS: the inputs were built for the kernel's extras
    assert engine.current_scores("icu")["sofa"].points["cns"] == 1
    for event in [care("sick", CareEventKind.BLOOD_CULTURE_ORDERED, at(0)),
                  care("sick", CareEventKind.ANTIBIOTIC_GIVEN, at(0, 10)), *message("sick", at(0, 20), **NORMAL)]:
        engine.process(event)
    sick = engine._scores["sick"]
    assert sick.scan is not None and sick.infection.suspected  # SEP-1 and Sepsis-3 decided by the kernel too
    assert engine.current_scores("sick")["sep1_severe_sepsis"].points["infection"] == 1
    # a shock index on a rounding near-tie (100.5 / 100 = 1.005): round2_fast defers it to Decimal, so does the
    # fast path (to the reference, which rounds half up)
    for event in message("tie", at(0), **{**NORMAL, "hr": 100.5, "sbp": 100}):
        engine.process(event)
    assert engine._scores["tie"].scan is None
    assert engine.current_scores("tie")["shock_index"].value == 1.01
