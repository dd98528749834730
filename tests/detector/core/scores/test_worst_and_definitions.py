"""worst_for/points_for (the window helpers for the engine) and the SEP-1 / Sepsis-3 definitions."""

from __future__ import annotations

import pytest

from detector.core.scores import (
    ScoreInputs,
    points_for,
    sep1_septic_shock,
    sep1_severe_sepsis,
    sepsis3_septic_shock,
    worst_for,
)
from detector.core.scores.sepsis_defs import organ_dysfunction_signs, vasopressor_running


@pytest.mark.parametrize(("score", "key", "values", "expected"), [
    ("sofa", "platelets", [140, 85, 90], 85),
    ("sofa", "bilirubin", [1.0, 2.1, 0.8], 2.1),
    ("sofa", "creatinine", [2.4, 1.1], 2.4),
    ("sofa", "gcs", [15, 12, 14], 12),
    ("sofa", "map", [80, 65, 68], 65),  # both < 70 score 1; the lower is the worse
    ("sofa", "pf", [320, 170, None], 170),
    ("sofa", "norepinephrine", [0.05, 0.2], 0.2),
    ("sirs", "temp_c", [37.0, 38.4, 35.5], 38.4),  # two-sided: the first value that meets the criterion
    ("sirs", "temp_c", [37.0, 37.5], 37.0),
    ("sirs", "hr", [88, 95, 120], 120),
    ("sirs", "paco2", [40, 31, 28], 28),
    ("sirs_sep1", "temp_c", [38.2, 38.4], 38.4),
    ("qsofa", "sbp", [120, 100, 95], 95),
    ("qsofa", "consciousness", ["A", "C", "A"], "C"),
    ("news2", "hr", [72, 45, 135], 135),  # 3 points beats 1
    ("news2", "temp_c", [35.0, 39.5], 35.0),  # 3 beats 2
    ("mews", "consciousness", ["A", "V", "P"], "P"),
    ("sep1", "lactate", [1.5, 2.5, 4.2], 4.2),
    ("sep1", "platelets", [150, 98], 98),
])
def test_worst_for(score: str, key: str, values: list[object], expected: object) -> None:
    assert worst_for(score, key, values) == expected


def test_worst_for_without_values_is_none() -> None:
    assert worst_for("sofa", "platelets", []) is None
    assert worst_for("sofa", "platelets", [None, None]) is None


def test_points_for_uses_context() -> None:
    assert points_for("news2", "spo2", 97, spo2_scale=2, on_oxygen=True) == 3
    assert points_for("news2", "spo2", 97, spo2_scale=2, on_oxygen=False) == 0
    assert points_for("sofa", "pf", 150, resp_support=True) == 3
    assert points_for("sofa", "pf", 150) == 2
    assert points_for("sirs", "hr", None) == 0
    with pytest.raises(KeyError):
        points_for("sofa", "hr", 100)


SEPTIC = {"hr": 120, "rr": 24, "temp_c": 38.6, "wbc": 15.0}


def test_sep1_severe_sepsis_needs_all_three_parts() -> None:
    organ = ScoreInputs(**SEPTIC, lactate=2.5)
    assert sep1_severe_sepsis(organ, True).value is True
    assert sep1_severe_sepsis(organ, False).value is False  # no documented infection
    assert sep1_severe_sepsis(ScoreInputs(**SEPTIC, lactate=2.0), True).value is False  # 2.0 is not > 2
    assert sep1_severe_sepsis(ScoreInputs(hr=120, lactate=3.0), True).value is False  # one SIRS criterion


@pytest.mark.parametrize(("extra", "sign"), [
    ({"sbp": 89, "dbp": 60}, "sbp"), ({"map": 64}, "map"), ({"resp_support": True}, "ventilation"),
    ({"creatinine": 2.1}, "creatinine"), ({"bilirubin": 2.1}, "bilirubin"), ({"platelets": 99}, "platelets"),
    ({"inr": 1.6}, "inr"), ({"aptt": 61}, "aptt"), ({"lactate": 2.1}, "lactate"),
])
def test_each_sep1_organ_sign_alone_is_enough(extra: dict[str, object], sign: str) -> None:
    inputs = ScoreInputs(**SEPTIC, **extra)  # type: ignore[arg-type]
    assert sign in organ_dysfunction_signs(inputs)
    assert sep1_severe_sepsis(inputs, True).value is True


def test_sep1_lists_missing_organ_inputs_only_while_unmet() -> None:
    result = sep1_severe_sepsis(ScoreInputs(**SEPTIC), True)
    assert result.value is False and result.incomplete
    assert {"sbp", "map", "creatinine", "bilirubin", "platelets", "lactate"} <= set(result.missing)
    assert not sep1_severe_sepsis(ScoreInputs(**SEPTIC, lactate=3), True).missing


def test_sep1_septic_shock() -> None:
    assert sep1_septic_shock(ScoreInputs(**SEPTIC, lactate=4.0), True).value is True  # >= 4 counts
    assert sep1_septic_shock(ScoreInputs(**SEPTIC, lactate=3.9), True).value is False
    assert sep1_septic_shock(ScoreInputs(**SEPTIC, lactate=3.9), True, persistent_hypotension=True).value is True
    assert sep1_septic_shock(ScoreInputs(**SEPTIC, lactate=5.0), False).value is False


@pytest.mark.parametrize(("inputs", "sofa_now", "expected"), [
    (ScoreInputs(norepinephrine=0.08, lactate=3.1), 13, True),
    (ScoreInputs(vasopressin=0.03, lactate=2.5), 5, True),
    (ScoreInputs(norepinephrine=0.08, lactate=2.0), 13, False),  # lactate must be > 2
    (ScoreInputs(norepinephrine=0.0, lactate=3.1), 13, False),  # recorded as not running
    (ScoreInputs(dobutamine=5, lactate=3.1), 13, False),  # an inotrope, not a vasopressor
    (ScoreInputs(lactate=3.1), 13, None),  # no vasopressor data: undecided (E9)
    (ScoreInputs(norepinephrine=0.08), 13, None),  # lactate missing: undecided
    (ScoreInputs(norepinephrine=0.08, lactate=3.1), 1, False),  # no sepsis (SOFA rise < 2)
])
def test_sepsis3_septic_shock(inputs: ScoreInputs, sofa_now: int, expected: bool | None) -> None:
    result = sepsis3_septic_shock(inputs, sofa_now, 0, True)
    assert result.value is expected
    assert result.incomplete is (expected is None)


def test_vasopressor_running() -> None:
    assert vasopressor_running(ScoreInputs()) is None
    assert vasopressor_running(ScoreInputs(dobutamine=5)) is False
    assert vasopressor_running(ScoreInputs(epinephrine=0.02)) is True
