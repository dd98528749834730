"""Both sides of every threshold of every table in clinical-scores.md §2 (and the §5 edge choices).

Each row is (function, arguments, expected). The values just inside and just outside each cut-off come
from the spec's cascading comparisons; fractional values between printed integer bands follow the
interval rule of §2.3 ("a value scores in the first row whose upper limit it does not exceed").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

# The package exports the score FUNCTIONS under the module names, so helpers come from the module paths.
from detector.core.scores import ScoreInputs, mews, news2, pf_ratio, sepsis3, shock_index, shock_index_value, sofa
from detector.core.scores.mews import avpu_points
from detector.core.scores.mews import hr_points as mews_hr
from detector.core.scores.mews import rr_points as mews_rr
from detector.core.scores.mews import sbp_points as mews_sbp
from detector.core.scores.mews import temp_points as mews_temp
from detector.core.scores.news2 import (
    band_for,
    consciousness_points,
    hr_points,
    oxygen_points,
    rr_points,
    sbp_points,
    spo2_points,
    temp_points,
)
from detector.core.scores.qsofa import consciousness_met, gcs_met
from detector.core.scores.qsofa import rr_met as qsofa_rr
from detector.core.scores.qsofa import sbp_met as qsofa_sbp
from detector.core.scores.sepsis_defs import (
    aptt_met,
    bilirubin_met,
    creatinine_met,
    inr_met,
    lactate_met,
    map_met,
    platelets_met,
    sbp_met,
    sepsis3_lactate_met,
    septic_shock_lactate_met,
)
from detector.core.scores.sirs import (
    bands_met,
    heart_rate_met,
    paco2_met,
    rr_met,
    temperature_met,
    temperature_met_sep1,
    wbc_met,
)
from detector.core.scores.sofa import (
    bilirubin_points,
    cardiovascular_points,
    creatinine_points,
    gcs_points,
    map_points,
    platelet_points,
    respiration_points,
    urine_points,
    vasopressor_points,
)

Row = tuple[Callable[..., Any], tuple[Any, ...], Any]


def rows(function: Callable[..., Any], *pairs: tuple[Any, Any]) -> list[Row]:
    return [(function, args if isinstance(args, tuple) else (args,), expected) for args, expected in pairs]


SIRS: list[Row] = [
    *rows(temperature_met, (38.0, False), (38.01, True), (36.0, False), (35.99, True), (None, False)),
    *rows(temperature_met_sep1, (38.3, False), (38.31, True), (38.1, False), (36.0, False), (35.99, True)),
    *rows(heart_rate_met, (90, False), (90.5, True), (91, True), (None, False)),
    *rows(rr_met, (20, False), (20.5, True), (21, True), (None, False)),
    *rows(paco2_met, (32, False), (31.99, True), (None, False)),
    *rows(wbc_met, (12.0, False), (12.01, True), (4.0, False), (3.99, True), (None, False)),
    *rows(bands_met, (10, False), (10.01, True), (None, False)),
]

QSOFA: list[Row] = [
    *rows(qsofa_rr, (21, False), (21.9, False), (22, True), (None, False)),
    *rows(qsofa_sbp, (100, True), (100.01, False), (101, False), (None, False)),
    *rows(gcs_met, (15, False), (14, True), (3, True), (None, False)),
    *rows(consciousness_met, ("A", False), ("C", True), ("V", True), ("P", True), ("U", True), (None, False)),
]

NEWS2: list[Row] = [
    *rows(rr_points, (8, 3), (8.5, 1), (9, 1), (11, 1), (11.5, 0), (12, 0), (20, 0), (20.5, 2), (21, 2), (24, 2),
          (24.5, 3), (25, 3), (None, 0)),
    *rows(spo2_points, ((91, 1, False), 3), ((91.5, 1, False), 2), ((92, 1, False), 2), ((93, 1, False), 2),
          ((94, 1, False), 1), ((95, 1, False), 1), ((95.5, 1, False), 0), ((96, 1, False), 0),
          ((100, 1, True), 0), ((None, 1, False), 0)),
    *rows(spo2_points, ((83, 2, False), 3), ((84, 2, False), 2), ((85, 2, False), 2), ((86, 2, False), 1),
          ((87, 2, False), 1), ((88, 2, False), 0), ((92, 2, True), 0), ((93, 2, False), 0), ((100, 2, False), 0),
          ((93, 2, None), 0), ((93, 2, True), 1), ((94, 2, True), 1), ((95, 2, True), 2), ((96, 2, True), 2),
          ((97, 2, True), 3), ((100, 2, True), 3), ((92.5, 2, True), 1), ((None, 2, True), 0)),
    *rows(oxygen_points, (True, 2), (False, 0), (None, 0)),
    *rows(sbp_points, (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (219.5, 3), (220, 3),
          (None, 0)),
    *rows(hr_points, (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3),
          (None, 0)),
    *rows(consciousness_points, ("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3), (None, 0)),
    *rows(temp_points, (35.0, 3), (35.01, 1), (35.1, 1), (36.0, 1), (36.01, 0), (36.1, 0), (38.0, 0), (38.01, 1),
          (38.1, 1), (39.0, 1), (39.01, 2), (39.1, 2), (None, 0)),
    *rows(band_for, ((7, False), "high"), ((7, True), "high"), ((6, False), "medium"), ((5, True), "medium"),
          ((4, True), "low-medium"), ((4, False), "low"), ((3, True), "low-medium"), ((0, False), "low")),
]

MEWS: list[Row] = [
    *rows(mews_sbp, (70, 3), (71, 2), (80, 2), (81, 1), (100, 1), (101, 0), (199, 0), (199.5, 0), (200, 2),
          (None, 0)),
    *rows(mews_hr, (40, 2), (41, 1), (50, 1), (51, 0), (100, 0), (101, 1), (110, 1), (111, 2), (129, 2),
          (129.5, 2), (130, 3), (None, 0)),
    *rows(mews_rr, (8, 2), (8.5, 2), (9, 0), (14, 0), (14.5, 0), (15, 1), (20, 1), (21, 2), (29, 2), (29.5, 2),
          (30, 3), (None, 0)),
    *rows(mews_temp, (34.99, 2), (35.0, 0), (38.4, 0), (38.49, 0), (38.5, 2), (None, 0)),
    *rows(avpu_points, ("A", 0), ("C", 1), ("V", 1), ("P", 2), ("U", 3), (None, 0)),
]

SOFA: list[Row] = [
    *rows(respiration_points, ((400, False), 0), ((399.99, False), 1), ((300, False), 1), ((299.99, False), 2),
          ((200, True), 2), ((199.99, True), 3), ((199.99, False), 2), ((100, True), 3), ((99.99, True), 4),
          ((99.99, False), 2), ((None, True), 0)),
    *rows(platelet_points, (150, 0), (149.99, 1), (100, 1), (99.99, 2), (50, 2), (49.99, 3), (20, 3), (19.99, 4),
          (None, 0)),
    *rows(bilirubin_points, (1.19, 0), (1.2, 1), (1.99, 1), (2.0, 2), (5.99, 2), (6.0, 3), (11.99, 3), (12.0, 4),
          (None, 0)),
    *rows(map_points, (70, 0), (69.99, 1), (None, 0)),
    *rows(vasopressor_points, ((None, None, None, None), 0), ((0, 0, 0, 0), 0), ((None, None, 5.0, None), 2),
          ((None, None, 5.01, None), 3), ((None, None, 15, None), 3), ((None, None, 15.01, None), 4),
          ((None, 0.1, None, None), 3), ((None, 0.11, None, None), 4), ((None, 0.01, None, None), 3),
          ((0.1, None, None, None), 3), ((0.11, None, None, None), 4), ((0.01, None, None, None), 3),
          ((None, None, None, 0.5), 2), ((None, None, None, 20), 2), ((0.05, None, 20, None), 4)),
    *rows(cardiovascular_points, ((69, None, None, None, None), 1), ((70, None, None, None, None), 0),
          ((60, 0.08, None, None, None), 3), ((None, None, None, None, 5), 2), ((None,), 0)),
    *rows(gcs_points, (15, 0), (14, 1), (13, 1), (12, 2), (10, 2), (9, 3), (6, 3), (5, 4), (3, 4), (None, 0)),
    *rows(creatinine_points, (1.19, 0), (1.2, 1), (1.99, 1), (2.0, 2), (3.49, 2), (3.5, 3), (4.99, 3), (5.0, 4),
          (None, 0)),
    *rows(urine_points, (500, 0), (499.9, 3), (200, 3), (199.9, 4), (None, 0)),
]

SEP1_AND_SEPSIS3: list[Row] = [
    *rows(sbp_met, (90, False), (89.99, True), (None, False)),
    *rows(map_met, (65, False), (64.99, True), (None, False)),
    *rows(creatinine_met, (2.0, False), (2.01, True), (None, False)),
    *rows(bilirubin_met, (2.0, False), (2.01, True), (None, False)),
    *rows(platelets_met, (100, False), (99.99, True), (None, False)),
    *rows(inr_met, (1.5, False), (1.51, True), (None, False)),
    *rows(aptt_met, (60, False), (60.1, True), (None, False)),
    *rows(lactate_met, (2.0, False), (2.01, True), (None, False)),
    *rows(septic_shock_lactate_met, (3.99, False), (4.0, True), (None, False)),
    *rows(sepsis3_lactate_met, (2.0, False), (2.01, True), (None, False)),
]

ALL_ROWS = SIRS + QSOFA + NEWS2 + MEWS + SOFA + SEP1_AND_SEPSIS3


@pytest.mark.parametrize(("function", "args", "expected"), ALL_ROWS,
                         ids=[f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}{a}" for f, a, _ in ALL_ROWS])
def test_threshold(function: Callable[..., Any], args: tuple[Any, ...], expected: Any) -> None:
    assert function(*args) == expected


@pytest.mark.parametrize(("hr", "sbp", "value", "band"), [
    (100, 100, 1.0, "elevated"), (99, 100, 0.99, "normal"), (25, 200, 0.13, "normal"),  # 0.125 → 0.13, not 0.12
    (45, 40, 1.13, "elevated"),  # 1.125 → 1.13 (half-up)
])
def test_shock_index_edges_and_half_up(hr: int, sbp: int, value: float, band: str) -> None:
    assert shock_index_value(hr, sbp) == value
    result = shock_index(ScoreInputs(hr=hr, sbp=sbp))
    assert (result.value, result.band, result.incomplete) == (value, band, False)


@pytest.mark.parametrize(("inputs", "missing"), [
    (ScoreInputs(hr=80), ("sbp",)), (ScoreInputs(sbp=120), ("hr",)), (ScoreInputs(), ("hr", "sbp")),
])
def test_shock_index_is_null_without_hr_or_sbp(inputs: ScoreInputs, missing: tuple[str, ...]) -> None:
    result = shock_index(inputs)
    assert result.value is None and result.band is None
    assert result.missing == missing and result.incomplete


def test_pf_is_rounded_before_the_400_cut_off() -> None:
    # 83.999 / 0.21 = 399.9952... → 400.00 (§0 applies to P/F), so respiration scores 0, not 1.
    assert pf_ratio(83.999, 0.21) == 400.0
    assert sofa(ScoreInputs(pao2=83.999, on_oxygen=False)).points["respiration"] == 0
    assert sofa(ScoreInputs(pao2=83.99, on_oxygen=False)).points["respiration"] == 1  # 399.95


@pytest.mark.parametrize(("fio2", "on_oxygen", "respiration", "missing_fio2"), [
    (None, None, 2, False),   # room air assumed: 60 / 0.21 = 285.71 → 2
    (None, False, 2, False),  # room air
    (None, True, 0, True),    # on oxygen, FiO2 unknown → 0 and incomplete
    (0.5, True, 2, False),    # 60 / 0.5 = 120, no support → capped at 2
])
def test_sofa_fio2_defaults(fio2: float | None, on_oxygen: bool | None, respiration: int,
                            missing_fio2: bool) -> None:
    result = sofa(ScoreInputs(pao2=60, fio2=fio2, on_oxygen=on_oxygen))
    assert result.points["respiration"] == respiration
    assert ("fio2" in result.missing) is missing_fio2


def test_sofa_measured_map_wins_over_derived() -> None:
    # derived (120 + 2*50)/3 = 73.33 → 0 but the arterial-line MAP 65 → 1
    assert sofa(ScoreInputs(sbp=120, dbp=50, map=65)).points["cardiovascular"] == 1
    assert sofa(ScoreInputs(sbp=120, dbp=50)).points["cardiovascular"] == 0
    assert sofa(ScoreInputs(sbp=90, dbp=59)).points["cardiovascular"] == 1  # 69.33


def test_sofa_renal_takes_the_larger_of_creatinine_and_urine() -> None:
    result = sofa(ScoreInputs(creatinine=1.3, urine_ml_24h=150))
    assert result.points["renal"] == 4
    assert "urine 150 mL/24 h" in result.reason
    assert "creatinine" not in sofa(ScoreInputs(urine_ml_24h=150)).missing  # urine already gives the maximum


def test_sofa_cns_uses_gcs_only() -> None:
    result = sofa(ScoreInputs(consciousness="U"))
    assert result.points["cns"] == 0 and "gcs" in result.missing


def test_news2_fio2_above_room_air_means_oxygen_when_on_oxygen_is_absent() -> None:
    result = news2(ScoreInputs(fio2=0.35))
    assert result.points["on_oxygen"] == 2 and "on_oxygen" not in result.missing
    assert news2(ScoreInputs(fio2=0.21)).points["on_oxygen"] == 0


def test_news2_red_score_band_ignores_the_oxygen_two() -> None:
    # O2 2 + SBP 2 = 4 without any single 3 → low
    result = news2(ScoreInputs(on_oxygen=True, sbp=95))
    assert (result.value, result.band) == (4, "low")


def test_mews_c_scores_like_v() -> None:
    assert mews(ScoreInputs(consciousness="C")).points["consciousness"] == 1


@pytest.mark.parametrize(("now", "baseline", "infection", "expected"), [
    (2, 0, True, True), (1, 0, True, False), (5, 3, True, True), (5, 4, True, False), (11, 0, False, False),
])
def test_sepsis3_sofa_rise(now: int, baseline: int, infection: bool, expected: bool) -> None:
    result = sepsis3(now, baseline, infection)
    assert result.value is expected
    assert result.points["sofa_change"] == now - baseline
