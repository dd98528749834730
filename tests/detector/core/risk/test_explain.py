"""Explanation text: contributions summed per clinical signal, described from the values the model saw."""

from __future__ import annotations

import math

import pytest

from detector.core.risk.explain import describe_signal, explain, signal_of, top_signals
from detector.core.risk.features import FEATURE_NAMES, feature_index


def _vector(**values: float) -> list[float]:
    x = [math.nan] * len(FEATURE_NAMES)
    for name, value in values.items():
        x[feature_index(name)] = value
    return x


def _contributions(**values: float) -> list[float]:
    c = [0.0] * len(FEATURE_NAMES)
    for name, value in values.items():
        c[feature_index(name)] = value
    return c


def test_every_feature_belongs_to_a_known_signal() -> None:
    assert signal_of("rr_slope_6h") == "rr"
    assert signal_of("base_excess_min_24h") == "base_excess"
    assert signal_of("hct_last") == "hct" and signal_of("hr_last") == "hr"
    assert signal_of("news2_pts_rr") == "news2" and signal_of("score_sofa_rise") == "sofa"
    assert signal_of("pulse_pressure") == "sbp" and signal_of("age_years") == "age_years"
    assert all(signal_of(name) != name or name in ("age_years", "sex_male", "hours_since_admission")
               for name in FEATURE_NAMES)


def test_rising_vital_and_lab_are_described_with_their_values() -> None:
    x = _vector(rr_last=28, rr_delta_6h=10, lactate_last=3.1, lactate_delta_prev=1.3, score_news2=7)
    assert describe_signal("rr", x) == "respiratory rate rising 18→28/min over 6 h"
    assert describe_signal("lactate", x) == "lactate 3.1 mmol/L (previous 1.8)"
    assert describe_signal("news2", x) == "NEWS2 7"


def test_falling_trend_uses_the_first_span_with_a_real_change() -> None:
    x = _vector(sbp_last=88, sbp_delta_6h=-2, sbp_delta_12h=-30)
    assert describe_signal("sbp", x) == "systolic BP falling 118→88 mmHg over 12 h"
    assert describe_signal("hr", x) == "heart rate not measured in 24 h"


def test_top_signals_sum_features_and_keep_only_positive_ones() -> None:
    x = _vector(rr_last=28, rr_delta_6h=10, lactate_last=3.1, hr_last=80, score_sofa=5, score_sofa_rise=2)
    c = _contributions(rr_last=0.3, rr_slope_6h=0.4, lactate_last=0.5, hr_last=-0.9, score_sofa=0.1,
                       sofa_pts_renal=0.05)
    top = top_signals(x, c, limit=3)
    assert [s.signal for s in top] == ["rr", "lactate", "sofa"]
    assert top[0].contribution == 0.7
    assert explain(x, c) == ("respiratory rate rising 18→28/min over 6 h; lactate 3.1 mmol/L; "
                             "SOFA 5 (+2 from baseline)")
    assert explain(x, _contributions(hr_last=-1.0)) == ""


def test_contributions_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="one per feature"):
        top_signals(_vector(), [1.0, 2.0])
