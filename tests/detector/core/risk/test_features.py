"""Risk features on hand-made windows: latest values, time since, trends, scores, demographics."""

from __future__ import annotations

import math

import pytest

from detector.core.engine import DetectorEngine
from detector.core.risk.features import (
    FEATURE_NAMES,
    FEATURE_SET_HASH,
    RiskContext,
    extract_features,
    feature_index,
)
from detector.core.scores import ScoreResult
from detector.core.window import MEASURE_INDEX, PatientWindow, event_seconds
from schemas.measures import Measure
from tests.detector.builders import at, message

H = 3600
NOW = 100 * 24 * H  # an arbitrary event time (seconds since 2000)


def _window(values: dict[Measure, list[tuple[float, float]]]) -> PatientWindow:
    """A window holding (hours before NOW, value) pairs per measure."""
    window = PatientWindow()
    for measure, pairs in values.items():
        for i, (hours_before, value) in enumerate(pairs):
            window.add(MEASURE_INDEX[measure], NOW - int(hours_before * H), value, i + 1000 * len(pairs),
                       length_s=48 * H, grace_s=48 * H, max_entries=288)
    return window


def _f(x: list[float], name: str) -> float:
    return x[feature_index(name)]


def test_feature_names_are_unique_and_hash_is_stable() -> None:
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert len(FEATURE_SET_HASH) == 16


def test_latest_value_time_since_and_count() -> None:
    window = _window({Measure.RESPIRATORY_RATE: [(7, 16), (5, 18), (3, 22), (1, 28)]})
    x = extract_features(window, {}, None, RiskContext(), NOW)
    assert len(x) == len(FEATURE_NAMES)
    assert _f(x, "rr_last") == 28
    assert _f(x, "rr_hours_since") == 1.0
    assert _f(x, "rr_count_6h") == 3  # 5, 3 and 1 h before; 7 h is outside
    assert math.isnan(_f(x, "hr_last"))
    assert _f(x, "hr_count_6h") == 0


def test_trends_per_span() -> None:
    # RR rising by 2/h for the last 6 h, flat (16) before that, 20 h ago a single 30
    pairs = [(20, 30), (10, 16), (8, 16), (6, 16), (4, 20), (2, 24), (0, 28)]
    x = extract_features(_window({Measure.RESPIRATORY_RATE: pairs}), {}, None, RiskContext(), NOW)
    assert _f(x, "rr_slope_6h") == pytest.approx(2.0)  # 16, 20, 24, 28 at -6, -4, -2, 0 h
    assert _f(x, "rr_delta_6h") == 12  # 28 - 16
    assert (_f(x, "rr_min_6h"), _f(x, "rr_max_6h")) == (16, 28)
    assert _f(x, "rr_delta_12h") == 12  # oldest within 12 h is 16 (10 h ago)
    assert _f(x, "rr_delta_24h") == -2  # 28 - 30
    assert _f(x, "rr_max_24h") == 30
    assert _f(x, "rr_min_12h") == 16


def test_single_value_has_no_slope_and_old_value_leaves_short_spans_empty() -> None:
    x = extract_features(_window({Measure.HEART_RATE: [(9, 110)]}), {}, None, RiskContext(), NOW)
    assert _f(x, "hr_last") == 110 and _f(x, "hr_hours_since") == 9
    assert math.isnan(_f(x, "hr_slope_6h")) and math.isnan(_f(x, "hr_delta_6h"))  # nothing within 6 h
    assert _f(x, "hr_delta_12h") == 0 and math.isnan(_f(x, "hr_slope_12h"))
    assert _f(x, "hr_max_24h") == 110


def test_values_after_now_and_older_than_24h_are_ignored() -> None:
    window = _window({Measure.LACTATE: [(30, 5.0), (2, 2.0), (-1, 9.0)]})  # -1: one hour AFTER now
    x = extract_features(window, {}, None, RiskContext(), NOW)
    assert _f(x, "lactate_last") == 2.0
    assert math.isnan(_f(x, "lactate_delta_prev"))  # the 30 h value is outside the 24 h window
    assert _f(x, "lactate_max_24h") == 2.0


def test_lab_change_from_previous_value() -> None:
    window = _window({Measure.LACTATE: [(20, 1.2), (8, 1.8), (1, 3.1)]})
    x = extract_features(window, {}, None, RiskContext(), NOW)
    assert _f(x, "lactate_last") == 3.1
    assert _f(x, "lactate_delta_prev") == pytest.approx(1.3)
    assert (_f(x, "lactate_min_24h"), _f(x, "lactate_max_24h")) == (1.2, 3.1)
    assert _f(x, "lactate_hours_since") == 1.0


def test_derived_values_demographics_and_admission_time() -> None:
    window = _window({Measure.HEART_RATE: [(0, 120)], Measure.SYSTOLIC_BP: [(0, 100)],
                      Measure.DIASTOLIC_BP: [(0, 60)], Measure.BUN: [(3, 40)], Measure.CREATININE: [(3, 2.0)]})
    x = extract_features(window, {}, 3, RiskContext(age_years=71.5, male=False, admitted_s=NOW - 30 * H), NOW)
    assert _f(x, "pulse_pressure") == 40
    assert _f(x, "shock_index_last") == pytest.approx(1.2)
    assert _f(x, "bun_creatinine_ratio") == 20
    assert (_f(x, "age_years"), _f(x, "sex_male"), _f(x, "hours_since_admission")) == (71.5, 0.0, 30.0)
    assert math.isnan(_f(x, "score_sofa_rise"))  # no SOFA score given


def test_admission_falls_back_to_first_value_seen() -> None:
    x = extract_features(_window({Measure.HEART_RATE: [(5, 80), (0, 90)]}), {}, None, RiskContext(), NOW)
    assert _f(x, "hours_since_admission") == 5.0
    assert math.isnan(_f(x, "age_years")) and math.isnan(_f(x, "sex_male"))


def test_scores_and_points_come_from_the_engine_scoring() -> None:
    news = ScoreResult("news2", 7, "high", {"rr": 3, "spo2": 2, "on_oxygen": 0, "sbp": 0, "hr": 2,
                                            "consciousness": 0, "temp_c": 0}, ("rr", "spo2", "hr"), (), False)
    sofa = ScoreResult("sofa", 4, None, {"respiration": 2, "coagulation": 0, "liver": 0, "cardiovascular": 1,
                                         "cns": 0, "renal": 1}, (), (), False)
    x = extract_features(PatientWindow(), {"news2": news, "sofa": sofa}, 1, RiskContext(), NOW)
    assert _f(x, "score_news2") == 7 and _f(x, "news2_pts_rr") == 3
    assert _f(x, "score_sofa") == 4 and _f(x, "score_sofa_rise") == 3 and _f(x, "sofa_pts_renal") == 1
    assert math.isnan(_f(x, "score_mews"))


def test_features_read_the_engine_window_after_real_messages() -> None:
    engine = DetectorEngine()
    for hour, rr in enumerate((16, 18, 22, 26)):
        for o in message("p1", at(hours=hour), hr=90 + hour, rr=rr, temp=38.4, sbp=118, dbp=70, spo2=95, o2=0,
                         acvpu="A"):
            engine.process(o)
    state = engine.patient("p1")
    assert state is not None
    now_s = state.window.newest_s
    x = extract_features(state.window, engine.current_scores("p1"), 0, RiskContext(), now_s)
    assert now_s == event_seconds(at(hours=3))
    assert _f(x, "rr_last") == 26 and _f(x, "rr_delta_6h") == 10
    assert _f(x, "rr_slope_6h") == pytest.approx(3.4)
    assert _f(x, "score_news2") == engine.current_scores("p1")["news2"].value
    assert _f(x, "sirs_pts_temperature") == 1
