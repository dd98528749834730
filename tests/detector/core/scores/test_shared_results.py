"""Differential tests: the definitions given results they build on (`sirs=`, `severe=`, `sepsis=`, as the engine
passes them) equal the definitions computing everything themselves, reason texts included; the inlined
organ-dysfunction check equals the straightforward one built from the public `*_met` predicates."""

from __future__ import annotations

import random

from detector.core.scores import (
    ScoreInputs,
    effective_map,
    sep1_septic_shock,
    sep1_severe_sepsis,
    sepsis3,
    sepsis3_septic_shock,
    sirs_sep1,
)
from detector.core.scores.sepsis_defs import (
    ORGAN_SIGNS,
    aptt_met,
    bilirubin_met,
    creatinine_met,
    inr_met,
    lactate_met,
    map_met,
    organ_dysfunction_signs,
    platelets_met,
    sbp_met,
)

_RANGES = {"hr": (40, 160), "rr": (6, 40), "temp_c": (34.5, 41.0), "sbp": (60, 180), "dbp": (30, 110),
           "map": (40, 120), "wbc": (1.0, 25.0), "bands_pct": (0, 30), "lactate": (0.5, 8.0),
           "creatinine": (0.4, 5.0), "bilirubin": (0.2, 6.0), "platelets": (10, 400), "inr": (0.8, 3.0),
           "aptt": (20, 90), "norepinephrine": (0.0, 0.5), "vasopressin": (0.0, 0.04)}


def _inputs(rnd: random.Random) -> ScoreInputs:
    values: dict[str, object] = {}
    for key, (low, high) in _RANGES.items():
        if rnd.random() < 0.7:  # about a third missing: the missing lists must match too
            values[key] = round(rnd.uniform(low, high), 1)
    if rnd.random() < 0.3:
        values["resp_support"] = rnd.random() < 0.5
    return ScoreInputs(**values)  # type: ignore[arg-type]


def _reference_signs(inputs: ScoreInputs) -> tuple[str, ...]:
    checks = (sbp_met(inputs.sbp), map_met(effective_map(inputs)), inputs.resp_support,
              creatinine_met(inputs.creatinine), bilirubin_met(inputs.bilirubin), platelets_met(inputs.platelets),
              inr_met(inputs.inr), aptt_met(inputs.aptt), lactate_met(inputs.lactate))
    return tuple(name for name, ok in zip(ORGAN_SIGNS, checks, strict=True) if ok)


def test_definitions_with_shared_results_equal_the_standalone_ones() -> None:
    rnd = random.Random(11)
    positives = 0
    for _ in range(3000):
        inputs = _inputs(rnd)
        infected = rnd.random() < 0.6
        assert organ_dysfunction_signs(inputs) == _reference_signs(inputs)
        severe = sep1_severe_sepsis(inputs, infected)
        shared_severe = sep1_severe_sepsis(inputs, infected, sirs=sirs_sep1(inputs))
        assert shared_severe == severe and shared_severe.reason == severe.reason
        shock = sep1_septic_shock(inputs, infected)
        shared_shock = sep1_septic_shock(inputs, infected, severe=shared_severe)
        assert shared_shock == shock and shared_shock.reason == shock.reason
        sofa_now, baseline = rnd.randint(0, 12), rnd.randint(0, 4)
        s3_shock = sepsis3_septic_shock(inputs, sofa_now, baseline, infected)
        shared_s3 = sepsis3_septic_shock(inputs, sofa_now, baseline, infected,
                                         sepsis=sepsis3(sofa_now, baseline, infected))
        assert shared_s3 == s3_shock and shared_s3.reason == s3_shock.reason
        positives += bool(severe.value) + bool(shock.value) + (s3_shock.value is True)
    assert positives > 100  # the sample reaches the positive branches, not only "not met"
