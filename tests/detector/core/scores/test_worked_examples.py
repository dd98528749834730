"""Every value of the worked examples E1-E16 (clinical-scores.md §4), one test per example and stated value."""

from __future__ import annotations

from typing import Any

import pytest

from detector.core.scores import (
    ScoreInputs,
    derived_map,
    effective_fio2,
    pf_ratio,
    score_all,
    sep1_septic_shock,
    sep1_severe_sepsis,
    sepsis3,
    sepsis3_septic_shock,
)
from detector.core.scores.mews import PARAMETERS as MEWS_PARAMETERS
from detector.core.scores.news2 import PARAMETERS as NEWS2_PARAMETERS
from detector.core.scores.sofa import SYSTEMS
from tests.detector.core.scores.worked_examples import EXAMPLES, WorkedExample

CASES = [pytest.param(ex, key, id=f"{ex.id}-{key}") for ex in EXAMPLES for key in ex.expected]


def _actual(example: WorkedExample, key: str) -> Any:
    inputs = ScoreInputs.from_mapping(example.inputs)
    results = score_all(inputs, infection_suspected=example.infection_suspected)
    if key in ("sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa", "shock_index"):
        return results[key].value
    if key == "news2_band":
        return results["news2"].band
    if key == "news2_incomplete":
        return results["news2"].incomplete
    if key == "news2_points":
        return tuple(results["news2"].points[p] for p in NEWS2_PARAMETERS)
    if key == "mews_points":
        return tuple(results["mews"].points[p] for p in MEWS_PARAMETERS)
    if key == "sofa_points":
        return tuple(results["sofa"].points[s] for s in SYSTEMS)
    if key == "map":
        return inputs.map if inputs.map is not None else derived_map(inputs.sbp, inputs.dbp)
    if key == "pf":
        return pf_ratio(inputs.pao2, effective_fio2(inputs.fio2, inputs.on_oxygen))
    if key == "converted":
        return {k: getattr(inputs, k) for k in example.expected["converted"]}
    if key == "sep1_severe_sepsis":
        return sep1_severe_sepsis(inputs, example.infection_suspected).value
    if key == "sep1_septic_shock":
        return sep1_septic_shock(inputs, example.infection_suspected).value
    sofa_now = results["sofa"].value
    assert isinstance(sofa_now, int)
    if key == "sepsis3":  # §4: baseline 0 (no known prior organ dysfunction)
        return sepsis3(sofa_now, 0, example.infection_suspected).value
    if key == "sepsis3_septic_shock":
        return sepsis3_septic_shock(inputs, sofa_now, 0, example.infection_suspected).value
    raise AssertionError(f"no rule for expected key {key}")


@pytest.mark.parametrize(("example", "key"), CASES)
def test_worked_example_value(example: WorkedExample, key: str) -> None:
    expected = example.expected[key]
    actual = _actual(example, key)
    if isinstance(expected, bool) or expected is None:
        assert actual is expected
    else:
        assert actual == expected


def test_every_example_of_the_spec_is_covered() -> None:
    ids = {ex.id.rstrip("abc") for ex in EXAMPLES}
    assert ids == {f"E{i}" for i in range(1, 17)}


def test_e9_reason_texts_name_the_evidence() -> None:
    example = next(ex for ex in EXAMPLES if ex.id == "E9")
    results = score_all(ScoreInputs.from_mapping(example.inputs))
    assert results["news2"].reason.startswith("NEWS2 18 (high): RR 28 (3), SpO2 91 (3), O2 on (2)")
    assert "cardiovascular 1 (MAP 56)" in results["sofa"].reason
    assert "P/F 170" in results["sofa"].reason
    assert results["shock_index"].reason == "shock index 1.56 (elevated): HR 128 / SBP 82"


def test_e9_sepsis3_septic_shock_is_undecided_without_vasopressor_data() -> None:
    example = next(ex for ex in EXAMPLES if ex.id == "E9")
    result = sepsis3_septic_shock(ScoreInputs.from_mapping(example.inputs), 11, 0, True)
    assert result.value is None
    assert result.incomplete
    assert "norepinephrine" in result.missing
    assert "undecided" in result.reason


def test_e14_lists_what_is_missing() -> None:
    example = next(ex for ex in EXAMPLES if ex.id == "E14")
    results = score_all(ScoreInputs.from_mapping(example.inputs))
    assert results["news2"].missing == ("rr", "spo2", "on_oxygen", "consciousness", "temp_c")
    assert "map" in results["sofa"].missing
    assert results["sofa"].incomplete
    assert not results["shock_index"].incomplete
    assert "missing rr, spo2" in results["news2"].reason
