"""§3.2 timing rules: which value each score reads (observation set, 6 h criteria, 24 h SOFA, pairing)."""

from __future__ import annotations

from detector.core.config import InfectionConfig, TimingConfig
from detector.core.infection import CARE_KIND_CODE, DRUG_CODE, NO_CODE, RATE_UNIT_CODE, CareLog, infection_status
from detector.core.timing import select_inputs, vasopressor_doses
from detector.core.window import MEASURE_INDEX, PatientWindow, source_hash
from schemas.care_event import CareEventKind, Vasopressor
from schemas.measures import CONSCIOUSNESS_LEVELS, Measure

H, M = 3600, 60
NOW = 100 * H
CFG = TimingConfig()


def _window(rows: list[tuple[float, Measure, float | str]]) -> PatientWindow:
    """rows: (hours before NOW, measure, value)."""
    window = PatientWindow()
    for i, (hours_ago, measure, value) in enumerate(rows):
        if isinstance(value, str):
            value = float(CONSCIOUSNESS_LEVELS.index(value))
        window.add(MEASURE_INDEX[measure], NOW - int(hours_ago * H), value, source_hash(f"r{i}"), length_s=30 * H,
                   grace_s=30 * H, max_entries=288)
    return window


def _select(rows, care: CareLog | None = None, weight: float | None = None):
    return select_inputs(_window(rows), care or CareLog(), NOW, CFG, weight)


def test_observation_set_is_the_newest_set_with_carry_forward_flagged() -> None:
    sel = _select([(5, Measure.HEART_RATE, 70), (3, Measure.RESPIRATORY_RATE, 18), (1, Measure.HEART_RATE, 110),
                   (1.1, Measure.SYSTOLIC_BP, 120), (0.95, Measure.TEMPERATURE, 37.0)])
    s = sel.observation_set
    assert (s.hr, s.sbp, s.temp_c, s.rr) == (110, 120, 37.0, 18)
    assert sel.carried_forward == ("rr",)  # 2 h before the anchor: carried forward, flagged
    assert sel.set_anchor_s == NOW - H + 3 * M  # the newest vital (temperature at -0.95 h)


def test_carry_forward_is_limited_to_four_hours() -> None:
    sel = _select([(5.1, Measure.RESPIRATORY_RATE, 30), (1, Measure.HEART_RATE, 80)])
    assert sel.observation_set.rr is None
    assert sel.observation_set.hr == 80


def test_vitals_older_than_twelve_hours_are_never_used() -> None:
    sel = _select([(12.5, Measure.HEART_RATE, 130)])
    assert sel.observation_set.hr is None and sel.criteria.hr is None and sel.set_anchor_s is None


def test_shock_index_needs_hr_and_sbp_within_15_minutes() -> None:
    assert _select([(0, Measure.HEART_RATE, 100), (0.25, Measure.SYSTOLIC_BP, 100)]).shock_index_pair == (100, 100)
    assert _select([(0, Measure.HEART_RATE, 100), (0.26, Measure.SYSTOLIC_BP, 100)]).shock_index_pair is None


def test_criteria_use_any_value_in_the_trailing_six_hours() -> None:
    sel = _select([(5.9, Measure.HEART_RATE, 120), (0, Measure.HEART_RATE, 80), (6.1, Measure.RESPIRATORY_RATE, 30),
                   (2, Measure.TEMPERATURE, 38.6), (1, Measure.TEMPERATURE, 35.5), (3, Measure.SYSTOLIC_BP, 95),
                   (0, Measure.SYSTOLIC_BP, 130), (4, Measure.WBC, 13.0), (1, Measure.WBC, 3.5),
                   (2, Measure.CONSCIOUSNESS, "V"), (0, Measure.CONSCIOUSNESS, "A")])
    c = sel.criteria
    assert c.hr == 120 and c.rr is None and c.sbp == 95 and c.consciousness == "V"
    assert c.temp_c == 35.5  # the low side meets both SIRS variants
    assert c.wbc == 3.5


def test_criteria_temperature_high_side_when_low_side_does_not_meet() -> None:
    sel = _select([(2, Measure.TEMPERATURE, 38.6), (1, Measure.TEMPERATURE, 36.5)])
    assert sel.criteria.temp_c == 38.6


def test_sofa_uses_the_worst_lab_in_24_hours_and_lactate_in_6() -> None:
    sel = _select([(20, Measure.PLATELETS, 80), (2, Measure.PLATELETS, 140), (25, Measure.BILIRUBIN, 5.0),
                   (10, Measure.CREATININE, 2.4), (1, Measure.CREATININE, 1.1), (7, Measure.LACTATE, 5.0),
                   (1, Measure.LACTATE, 2.5)])
    s = sel.sofa
    assert (s.platelets, s.bilirubin, s.creatinine, s.lactate) == (80, None, 2.4, 2.5)


def test_map_measured_wins_and_derived_otherwise() -> None:
    sel = _select([(1, Measure.SYSTOLIC_BP, 90), (1, Measure.DIASTOLIC_BP, 50), (1, Measure.MEAN_BP, 75),
                   (2, Measure.SYSTOLIC_BP, 100), (2, Measure.DIASTOLIC_BP, 55)])
    assert sel.sofa.map == 70.0  # (100 + 110) / 3 at -2 h; at -1 h the measured 75 wins over the derived 63.33
    assert sel.criteria.map == 70.0


def test_gcs_from_components_at_the_same_time() -> None:
    sel = _select([(1, Measure.GCS_EYE, 3), (1, Measure.GCS_VERBAL, 4), (1, Measure.GCS_MOTOR, 5),
                   (2, Measure.GCS_EYE, 1), (2, Measure.GCS_VERBAL, 1)])
    assert sel.sofa.gcs == 12 and sel.criteria.gcs == 12


def test_pf_pairs_the_fio2_nearest_before_within_four_hours() -> None:
    sel = _select([(3, Measure.FIO2, 0.5), (1, Measure.FIO2, 0.4), (2, Measure.PAO2, 80), (0.5, Measure.PAO2, 90)])
    # -2 h: 80 / 0.5 = 160; -0.5 h: 90 / 0.4 = 225 -> worst is 160
    assert (sel.sofa.pao2, sel.sofa.fio2) == (80, 0.5)


def test_pf_room_air_without_oxygen_and_unknown_on_oxygen() -> None:
    sel = _select([(1, Measure.PAO2, 70)])
    assert (sel.sofa.pao2, sel.sofa.fio2) == (70, 0.21)
    sel = _select([(2, Measure.O2_FLOW, 4), (1, Measure.PAO2, 70)])
    assert sel.sofa.fio2 is None and sel.sofa.on_oxygen is True
    sel = _select([(5, Measure.FIO2, 0.6), (1, Measure.PAO2, 70)])  # FiO2 exactly 4 h before: paired
    assert sel.sofa.fio2 == 0.6
    sel = _select([(5.1, Measure.FIO2, 0.6), (1, Measure.PAO2, 70)])  # older oxygen record: FiO2 unknown
    assert sel.sofa.fio2 is None and sel.sofa.on_oxygen is True
    sel = _select([(5.1, Measure.FIO2, 0.21), (1, Measure.PAO2, 70)])  # older record says room air
    assert sel.sofa.fio2 == 0.21


def test_on_oxygen_from_flow_or_fio2() -> None:
    assert _select([(0, Measure.HEART_RATE, 80), (0.5, Measure.O2_FLOW, 2)]).observation_set.on_oxygen is True
    assert _select([(0, Measure.HEART_RATE, 80), (0.5, Measure.FIO2, 0.21)]).observation_set.on_oxygen is False
    assert _select([(0, Measure.HEART_RATE, 80), (0.5, Measure.FIO2, 0.3)]).observation_set.on_oxygen is True
    assert _select([(0, Measure.HEART_RATE, 80)]).observation_set.on_oxygen is None


def _pressor(events: list[tuple[float, CareEventKind, float | None, str]], drug: Vasopressor) -> CareLog:
    log = CareLog()
    for i, (hours_ago, kind, rate, unit) in enumerate(events):
        log.add((NOW - int(hours_ago * H), CARE_KIND_CODE[kind], i, DRUG_CODE[drug],
                 NO_CODE if rate is None else round(rate * 10_000), RATE_UNIT_CODE[unit]), 32)
    return log


def test_vasopressor_counts_only_after_one_hour() -> None:
    started = CareEventKind.VASOPRESSOR_STARTED
    log = _pressor([(0.5, started, 0.08, "ug/kg/min")], Vasopressor.NOREPINEPHRINE)
    assert vasopressor_doses(log, NOW, 24 * H, H, None) == {"norepinephrine": 0.0}
    log = _pressor([(2, started, 0.08, "ug/kg/min")], Vasopressor.NOREPINEPHRINE)
    assert vasopressor_doses(log, NOW, 24 * H, H, None) == {"norepinephrine": 0.08}


def test_vasopressor_ug_per_minute_divided_by_weight() -> None:
    log = _pressor([(3, CareEventKind.VASOPRESSOR_STARTED, 8.0, "ug/min"),
                    (2.5, CareEventKind.VASOPRESSOR_RATE_CHANGED, 16.0, "ug/min")], Vasopressor.NOREPINEPHRINE)
    assert vasopressor_doses(log, NOW, 24 * H, H, 80.0) == {"norepinephrine": 0.2}
    assert vasopressor_doses(log, NOW, 24 * H, H, None) == {"norepinephrine": None}


def test_vasopressor_stopped_before_an_hour_does_not_count() -> None:
    log = _pressor([(3, CareEventKind.VASOPRESSOR_STARTED, 0.3, "ug/kg/min"),
                    (2.5, CareEventKind.VASOPRESSOR_STOPPED, None, "ug/kg/min")], Vasopressor.EPINEPHRINE)
    assert vasopressor_doses(log, NOW, 24 * H, H, None) == {"epinephrine": 0.0}


def _infection(events: list[tuple[float, CareEventKind]]) -> tuple[bool, int | None, bool]:
    log = CareLog()
    for i, (hours_ago, kind) in enumerate(events):
        log.add((NOW - int(hours_ago * H), CARE_KIND_CODE[kind], i, NO_CODE, NO_CODE, NO_CODE), 32)
    status = infection_status(log, NOW, InfectionConfig())
    return status.suspected, (None if status.onset_s is None else (NOW - status.onset_s) // H), status.treatment_started


ABX, CULT = CareEventKind.ANTIBIOTIC_GIVEN, CareEventKind.BLOOD_CULTURE_ORDERED


def test_seymour_windows() -> None:
    assert _infection([(10, ABX), (2, CULT)]) == (True, 10, True)  # antibiotic, culture 8 h later
    assert _infection([(20, CULT), (0, ABX)]) == (True, 20, True)  # culture, antibiotic 20 h later (<= 72 h)
    assert _infection([(30, ABX), (5, CULT)]) == (False, None, True)  # culture 25 h after antibiotic: no pair
    assert _infection([(2, CULT)]) == (False, None, False)  # culture alone
    assert _infection([(1, ABX)]) == (False, None, True)  # antibiotic alone: treatment, not suspicion
    assert _infection([(23, CULT), (23, ABX)]) == (True, 23, True)
    assert _infection([(25, CULT), (24.5, ABX)]) == (False, 25, True)  # onset more than 24 h ago: not relevant
