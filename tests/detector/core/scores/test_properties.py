"""Hypothesis properties of the scores: monotone tables, missing never adds points, exact fast rounding."""

from __future__ import annotations

import dataclasses

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detector.core.scores import (
    ScoreInputs,
    derived_map,
    pf_ratio,
    qsofa,
    score_all,
    shock_index_value,
    sirs_bone,
    sirs_sep1,
)
from detector.core.scores._rounding import round2_fast
from detector.core.scores.mews import hr_points as mews_hr
from detector.core.scores.mews import rr_points as mews_rr
from detector.core.scores.mews import sbp_points as mews_sbp
from detector.core.scores.mews import temp_points as mews_temp
from detector.core.scores.news2 import hr_points, rr_points, sbp_points, spo2_points, temp_points
from detector.core.scores.qsofa import mentation_met
from detector.core.scores.qsofa import rr_met as qsofa_rr
from detector.core.scores.qsofa import sbp_met as qsofa_sbp
from detector.core.scores.sirs import (
    heart_rate_met,
    respiration_met,
    respiration_met_sep1,
    temperature_met,
    temperature_met_sep1,
    white_cells_met,
)
from detector.core.scores.sofa import (
    bilirubin_points,
    creatinine_points,
    gcs_points,
    platelet_points,
    respiration_points,
    vasopressor_points,
)
from schemas.rounding import round2

PROFILE = settings(max_examples=200, deadline=None)


def _vital(low: float, high: float) -> st.SearchStrategy[float | None]:
    return st.none() | st.integers(int(low), int(high)).map(float) | st.floats(low, high, allow_nan=False)


@st.composite
def score_inputs(draw: st.DrawFn) -> ScoreInputs:
    """Plausible, physically consistent input sets (FiO2 recorded only when on oxygen)."""
    sbp = draw(_vital(40, 250))
    dbp = draw(st.none() | st.floats(20, (sbp - 1) if sbp is not None else 150, allow_nan=False))
    on_oxygen = draw(st.none() | st.booleans())
    fio2 = draw(st.none() | st.floats(0.22, 1.0)) if on_oxygen else None
    return ScoreInputs(
        hr=draw(_vital(20, 220)), rr=draw(_vital(4, 60)), temp_c=draw(_vital(30, 43)), sbp=sbp, dbp=dbp,
        map=draw(st.none() | st.floats(30, 150)), spo2=draw(_vital(60, 100)), on_oxygen=on_oxygen,
        spo2_scale=draw(st.sampled_from((1, 2))), consciousness=draw(st.none() | st.sampled_from("ACVPU")),
        gcs=draw(st.none() | st.integers(3, 15)), wbc=draw(_vital(0, 60)), bands_pct=draw(_vital(0, 40)),
        lactate=draw(_vital(0, 15)), creatinine=draw(_vital(0.1, 12)), bilirubin=draw(_vital(0, 30)),
        platelets=draw(_vital(5, 600)), pao2=draw(_vital(30, 500)), fio2=fio2, paco2=draw(_vital(15, 90)),
        resp_support=draw(st.booleans()), urine_ml_24h=draw(st.none() | st.floats(0, 4000)),
        norepinephrine=draw(st.none() | st.floats(0, 1)), dopamine=draw(st.none() | st.floats(0, 25)),
    )


# Keys whose removal is "missing". `map` is excluded because removing a measured MAP falls back to the
# MAP derived from SBP/DBP (another value, §1.1); spo2_scale and resp_support are settings with defaults.
REMOVABLE = ("hr", "rr", "temp_c", "sbp", "dbp", "spo2", "on_oxygen", "consciousness", "gcs", "wbc", "bands_pct",
             "lactate", "creatinine", "bilirubin", "platelets", "pao2", "fio2", "paco2", "urine_ml_24h",
             "norepinephrine", "dopamine")


@PROFILE
@given(score_inputs(), st.sampled_from(REMOVABLE))
def test_a_missing_input_never_adds_points(inputs: ScoreInputs, key: str) -> None:
    # Removing an on-oxygen flag that stands without a recorded FiO2 does not lose a value: it changes the §1.3
    # assumption from "FiO2 unknown" (SOFA respiration 0, incomplete) to room air, which may score.
    assume(not (key == "on_oxygen" and inputs.on_oxygen and inputs.fio2 is None and inputs.pao2 is not None))
    fewer = dataclasses.replace(inputs, **{key: None})
    if key == "dbp" and inputs.map is None:
        fewer = dataclasses.replace(fewer, map=None)
    before, after = score_all(inputs), score_all(fewer)
    for name in ("sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa"):
        assert after[name].value <= before[name].value, name  # type: ignore[operator]
        for component, points in after[name].points.items():
            assert points <= before[name].points[component], (name, component)


@PROFILE
@given(score_inputs())
def test_incomplete_exactly_when_something_is_missing(inputs: ScoreInputs) -> None:
    for result in score_all(inputs, infection_suspected=True).values():
        assert result.incomplete is bool(result.missing)
        assert set(result.missing) <= set(dataclasses.asdict(inputs)) | {"map"}
        assert result.met == tuple(k for k, v in result.points.items() if v) or result.name.startswith("sep1")


@PROFILE
@given(score_inputs())
def test_scores_stay_in_range_and_agree_with_the_criterion_predicates(inputs: ScoreInputs) -> None:
    results = score_all(inputs)
    assert 0 <= results["news2"].value <= 20  # type: ignore[operator]
    assert 0 <= results["mews"].value <= 14  # type: ignore[operator]
    assert 0 <= results["sofa"].value <= 24  # type: ignore[operator]
    assert sirs_bone(inputs).points == {
        "temperature": temperature_met(inputs.temp_c), "heart_rate": heart_rate_met(inputs.hr),
        "respiration": respiration_met(inputs.rr, inputs.paco2),
        "white_cells": white_cells_met(inputs.wbc, inputs.bands_pct)}
    assert sirs_sep1(inputs).points == {
        "temperature": temperature_met_sep1(inputs.temp_c), "heart_rate": heart_rate_met(inputs.hr),
        "respiration": respiration_met_sep1(inputs.rr), "white_cells": white_cells_met(inputs.wbc, inputs.bands_pct)}
    assert qsofa(inputs).value == (qsofa_rr(inputs.rr) + qsofa_sbp(inputs.sbp)
                                   + mentation_met(inputs.gcs, inputs.consciousness))
    assert sirs_sep1(inputs).value <= sirs_bone(inputs).value  # type: ignore[operator]  # SEP-1 is stricter
    assert (results["news2"].band == "high") is (results["news2"].value >= 7)  # type: ignore[operator]


def _pairs(low: float, high: float) -> st.SearchStrategy[tuple[float, float]]:
    return st.tuples(st.floats(low, high), st.floats(low, high)).map(sorted).map(tuple)  # type: ignore[arg-type]


@PROFILE
@given(_pairs(0, 20), _pairs(12, 80))
def test_news2_rr_points_grow_away_from_normal(below: tuple[float, float], above: tuple[float, float]) -> None:
    assert rr_points(below[0]) >= rr_points(below[1])
    assert rr_points(above[0]) <= rr_points(above[1])
    assert mews_rr(below[0]) >= mews_rr(below[1]) or below[1] >= 9
    assert mews_rr(max(above[0], 15)) <= mews_rr(max(above[1], 15))


@PROFILE
@given(_pairs(0, 90), _pairs(51, 300), _pairs(20, 219), _pairs(25, 38), _pairs(36.1, 45))
def test_news2_and_mews_tables_are_monotone(hr_low: tuple[float, float], hr_high: tuple[float, float],
                                            sbp_low: tuple[float, float], temp_low: tuple[float, float],
                                            temp_high: tuple[float, float]) -> None:
    assert hr_points(hr_low[0]) >= hr_points(hr_low[1])
    assert hr_points(hr_high[0]) <= hr_points(hr_high[1])
    assert mews_hr(hr_low[0]) >= mews_hr(hr_low[1])
    assert mews_hr(hr_high[0]) <= mews_hr(hr_high[1])
    assert sbp_points(sbp_low[0]) >= sbp_points(sbp_low[1])
    assert mews_sbp(min(sbp_low[0], 199)) >= mews_sbp(min(sbp_low[1], 199))
    assert temp_points(temp_low[0]) >= temp_points(temp_low[1])
    assert temp_points(temp_high[0]) <= temp_points(temp_high[1])
    assert mews_temp(temp_low[0]) >= mews_temp(temp_low[1])


@PROFILE
@given(_pairs(50, 100), st.sampled_from((1, 2)), st.booleans())
def test_spo2_points_fall_as_saturation_rises_up_to_the_target(spo2: tuple[float, float], scale: int,
                                                                on_oxygen: bool) -> None:
    low, high = spo2
    if scale == 2:
        low, high = min(low, 92), min(high, 92)  # above 92 on oxygen, scale 2 scores over-oxygenation
    assert spo2_points(low, scale, on_oxygen) >= spo2_points(high, scale, on_oxygen)


@PROFILE
@given(_pairs(0, 2000), _pairs(0, 70), _pairs(0.05, 30), st.tuples(st.integers(3, 15), st.integers(3, 15)),
       _pairs(0, 800), st.booleans(), _pairs(0, 2))
def test_sofa_systems_are_monotone(platelets: tuple[float, float], bilirubin: tuple[float, float],
                                   creatinine: tuple[float, float], gcs: tuple[int, int], pf: tuple[float, float],
                                   support: bool, dose: tuple[float, float]) -> None:
    assert platelet_points(platelets[0]) >= platelet_points(platelets[1])
    assert bilirubin_points(bilirubin[0]) <= bilirubin_points(bilirubin[1])
    assert creatinine_points(creatinine[0]) <= creatinine_points(creatinine[1])
    low_gcs, high_gcs = sorted(gcs)
    assert gcs_points(low_gcs) >= gcs_points(high_gcs)
    assert respiration_points(pf[0], support) >= respiration_points(pf[1], support)
    assert respiration_points(pf[0], True) >= respiration_points(pf[0], False)  # support can only add
    assert vasopressor_points(norepinephrine=dose[0]) <= vasopressor_points(norepinephrine=dose[1])
    assert vasopressor_points(dopamine=dose[0] * 10) <= vasopressor_points(dopamine=dose[1] * 10)


_TIES = st.integers(0, 10**7).map(lambda n: n / 1000)  # many values end in 5 at the third decimal


@settings(max_examples=1000, deadline=None)
@given(st.floats(-1e7, 1e7, allow_nan=False) | _TIES | st.integers(0, 10**6).map(lambda n: n / 8))
def test_fast_rounding_equals_the_normative_round2(value: float) -> None:
    assert round2_fast(value) == round2(value)


@PROFILE
@given(st.integers(20, 300) | st.floats(20, 300), st.integers(10, 250) | st.floats(10, 250),
       st.integers(0, 300) | st.floats(0, 300), st.floats(0.21, 1.0))
def test_derived_values_use_the_rounding_rule(a: float, b: float, c: float, fio2: float) -> None:
    assert derived_map(a, b) == round2((a + 2 * b) / 3)
    assert shock_index_value(c, a) == round2(c / a)
    assert pf_ratio(a, fio2) == round2(a / fio2)
