"""ScoreInputs validation, derived values (§0 rounding, §1.1 MAP, §1.3 FiO2) and the ScoreResult type."""

from __future__ import annotations

import dataclasses
import math

import pytest

from detector.core.scores import (
    INPUT_KEYS,
    ScoreInputError,
    ScoreInputs,
    ScoreResult,
    derived_map,
    effective_fio2,
    effective_map,
    effective_on_oxygen,
    pf_ratio,
    sofa,
)
from detector.core.scores.inputs import make_result
from ingest.core.units import to_canonical
from schemas.measures import Measure


def test_section6_keys_are_all_accepted() -> None:
    section6 = {"hr", "rr", "temp_c", "sbp", "dbp", "map", "spo2", "on_oxygen", "spo2_scale", "consciousness", "gcs",
                "wbc", "bands_pct", "lactate", "creatinine", "bilirubin", "platelets", "pao2", "fio2", "paco2",
                "resp_support"}
    assert section6 <= set(INPUT_KEYS)


def test_from_mapping_builds_the_inputs_and_null_means_missing() -> None:
    inputs = ScoreInputs.from_mapping({"hr": 72, "temp_c": 36.8, "consciousness": "v", "gcs": 14.0,
                                       "on_oxygen": None, "spo2_scale": None, "resp_support": None})
    assert inputs == ScoreInputs(hr=72, temp_c=36.8, consciousness="V", gcs=14)
    assert isinstance(inputs.gcs, int)
    assert (inputs.spo2_scale, inputs.resp_support, inputs.on_oxygen) == (1, False, None)


@pytest.mark.parametrize(("data", "key", "fragment"), [
    ({"heart_rate": 72}, "heart_rate", "unknown input key"),
    ({"hr": "72"}, "hr", "must be a number"),
    ({"hr": True}, "hr", "must be a number"),
    ({"hr": 301}, "hr", "outside the plausible range 0..300"),
    ({"hr": -1}, "hr", "outside the plausible range"),
    ({"temp_c": 24.9}, "temp_c", "25..45"),
    ({"temp_c": math.nan}, "temp_c", "finite"),
    ({"spo2": 101}, "spo2", "50..100"),
    ({"fio2": 40}, "fio2", "a fraction, not a percentage"),
    ({"fio2": 0.2}, "fio2", "0.21..1"),
    ({"gcs": 2}, "gcs", "3..15"),
    ({"gcs": 14.5}, "gcs", "must be an integer"),
    ({"consciousness": "X"}, "consciousness", "A/C/V/P/U"),
    ({"consciousness": 1}, "consciousness", "A/C/V/P/U"),
    ({"on_oxygen": 1}, "on_oxygen", "true or false"),
    ({"resp_support": "yes"}, "resp_support", "true or false"),
    ({"spo2_scale": 3}, "spo2_scale", "1 or 2"),
    ({"spo2_scale": True}, "spo2_scale", "1 or 2"),
    ({"sbp": 80, "dbp": 80}, "sbp", "greater than diastolic"),
    ({"platelets": 2001}, "platelets", "0..2000"),
    ({"norepinephrine": 50}, "norepinephrine", "0..10"),
    ({"urine_ml_24h": -5}, "urine_ml_24h", "plausible"),
])
def test_from_mapping_names_the_bad_key(data: dict[str, object], key: str, fragment: str) -> None:
    with pytest.raises(ScoreInputError) as caught:
        ScoreInputs.from_mapping(data)
    assert caught.value.key == key
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{key}: ")


def test_inputs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ScoreInputs(hr=80).hr = 90  # type: ignore[misc]


@pytest.mark.parametrize(("sbp", "dbp", "expected"), [
    (124, 78, 93.33), (118, 70, 86.0), (100, 60, 73.33), (101, 65, 77.0), (91, 60, 70.33), (82, 44, 56.67),
    (None, 80, None), (120, None, None),
])
def test_derived_map(sbp: float | None, dbp: float | None, expected: float | None) -> None:
    assert derived_map(sbp, dbp) == expected


def test_measured_map_wins() -> None:
    assert effective_map(ScoreInputs(sbp=82, dbp=44, map=56)) == 56
    assert effective_map(ScoreInputs(sbp=82, dbp=44)) == 56.67


@pytest.mark.parametrize(("fio2", "on_oxygen", "expected"), [
    (None, None, 0.21), (None, False, 0.21), (None, True, None), (0.4, True, 0.4), (0.4, None, 0.4),
])
def test_fio2_defaults_of_section_1_3(fio2: float | None, on_oxygen: bool | None, expected: float | None) -> None:
    assert effective_fio2(fio2, on_oxygen) == expected


def test_effective_on_oxygen() -> None:
    assert effective_on_oxygen(ScoreInputs(on_oxygen=False, fio2=0.4)) is False  # the recorded flag wins
    assert effective_on_oxygen(ScoreInputs(fio2=0.4)) is True
    assert effective_on_oxygen(ScoreInputs(fio2=0.21)) is None
    assert effective_on_oxygen(ScoreInputs()) is None


def test_pf_ratio_rounds_half_up() -> None:
    assert pf_ratio(67.51, 0.35) == 192.89
    assert pf_ratio(68, 0.4) == 170.0
    assert pf_ratio(None, 0.4) is None
    assert pf_ratio(68, None) is None


def test_float_trap_bilirubin_205_2_umol_scores_liver_4() -> None:
    # §0/E10: 205.2 / 17.1 == 11.999999999999998 in floating point; the rounding rule makes it 12.00 → 4.
    assert 205.2 / 17.1 < 12.0
    bilirubin = to_canonical(Measure.BILIRUBIN, 205.2, "umol/L")
    assert bilirubin == 12.0
    result = sofa(ScoreInputs(bilirubin=bilirubin))
    assert result.points["liver"] == 4
    assert sofa(ScoreInputs(bilirubin=205.2 / 17.1)).points["liver"] == 3  # what skipping §0 would give


def test_make_result_builds_an_ordinary_frozen_score_result() -> None:
    fast = make_result("news2", 5, "medium", {"hr": 2, "sbp": 3}, ("sbp", "hr"), ("rr",), "NEWS2 5")
    slow = ScoreResult("news2", 5, "medium", {"hr": 2, "sbp": 3}, ("sbp", "hr"), ("rr",), True, "NEWS2 5")
    assert type(fast) is ScoreResult
    assert fast == slow
    assert fast.incomplete is True
    assert fast.reason == "NEWS2 5"
    assert dataclasses.replace(fast, value=6).value == 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.value = 7  # type: ignore[misc]


def test_reason_may_be_produced_lazily_and_is_not_part_of_equality() -> None:
    lazy = ScoreResult("mews", 1, "normal", {}, (), (), False, lambda: "MEWS 1")
    assert lazy.reason == "MEWS 1"
    assert lazy == ScoreResult("mews", 1, "normal", {}, (), (), False, "something else")
