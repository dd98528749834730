"""Explicit unit conversion (clinical-scores.md §1, §1.6, worked example E10)."""

from __future__ import annotations

import math

import pytest

from ingest.core.errors import ImplausibleValueError, UnknownUnitError
from ingest.core.units import to_canonical
from schemas.measures import MEASURES, Measure
from schemas.rounding import round2

M = Measure


@pytest.mark.parametrize(
    ("measure", "value", "unit", "expected"),
    [
        # E10 conversions, exactly as the spec states them.
        (M.TEMPERATURE, 101.3, "[degF]", 38.50),
        (M.FIO2, 35, "%", 0.35),
        (M.WBC, 3500, "/uL", 3.5),
        (M.LACTATE, 27, "mg/dL", 3.00),
        (M.CREATININE, 221, "umol/L", 2.50),
        (M.BILIRUBIN, 34.2, "umol/L", 2.00),
        (M.PLATELETS, 140000, "/uL", 140.0),
        (M.PAO2, 9.0, "kPa", 67.51),
        # §1.6: 100.4 °F is exactly 38.00 °C (SIRS not met); 101.0 °F is 38.33 °C.
        (M.TEMPERATURE, 100.4, "degF", 38.00),
        (M.TEMPERATURE, 101.0, "DEG F", 38.33),
        # §0 float trap: 205.2/17.1 is 11.999999999999998 in binary floating point.
        (M.BILIRUBIN, 205.2, "µmol/L", 12.00),
        # Spellings real feeds use, identity factors, values kept as received.
        (M.HEART_RATE, 72, "bpm", 72),
        (M.HEART_RATE, 72, "{beats}/min", 72),
        (M.RESPIRATORY_RATE, 18, "breaths/min", 18),
        (M.SYSTOLIC_BP, 121, "mm Hg", 121),
        (M.SYSTOLIC_BP, 16, "kPa", 120.01),
        (M.TEMPERATURE, 37.25, "deg C", 37.25),
        (M.WBC, 7.456, "K/uL", 7.456),
        (M.WBC, 7.4, "10^9/L", 7.4),
        (M.PLATELETS, 250, "x10E3/uL", 250),
        (M.SPO2, 0.97, "1", 97.0),
        (M.CREATININE, 0.9, "mg/dl", 0.9),
        # §1.3: a bare FiO2 above 1.0 is a percentage; the only size-based rule.
        (M.FIO2, 40, None, 0.40),
        (M.FIO2, 0.5, "1", 0.5),
        (M.GCS, 14, None, 14),
        (M.HEART_RATE, 72, None, 72),  # /min is the only unit a rate can have
        (M.WEIGHT, 154, "lb", 69.85),
    ],
)
def test_conversions(measure: Measure, value: float, unit: str | None, expected: float) -> None:
    assert to_canonical(measure, value, unit) == expected


@pytest.mark.parametrize(
    ("measure", "value", "unit"),
    [
        (M.HEART_RATE, 80, "furlongs"),
        (M.TEMPERATURE, 37.0, "K"),
        (M.LACTATE, 2.0, "mEq/L"),  # not in the spec's table: rejected, not assumed equal
        (M.CREATININE, 1.0, "mmol/L"),
        (M.TEMPERATURE, 37.0, None),  # a unit is required where more than one exists
        (M.CREATININE, 1.0, ""),
        (M.WBC, 7.0, "g/L"),
    ],
)
def test_unknown_units_are_rejected(measure: Measure, value: float, unit: str | None) -> None:
    with pytest.raises(UnknownUnitError, match="unit"):
        to_canonical(measure, value, unit, location="OBX[1]-6")


@pytest.mark.parametrize(
    ("measure", "value", "unit"),
    [
        (M.HEART_RATE, 900, "/min"),
        (M.TEMPERATURE, 101.0, "Cel"),  # °F value labelled °C: never silently "fixed"
        (M.TEMPERATURE, 60.0, "[degF]"),
        (M.SPO2, 101, "%"),
        (M.FIO2, 0.15, "1"),
        (M.GCS, 2, None),
    ],
)
def test_implausible_values_are_rejected(measure: Measure, value: float, unit: str | None) -> None:
    with pytest.raises(ImplausibleValueError) as err:
        to_canonical(measure, value, unit, location="OBX[1]-5")
    assert err.value.location == "OBX[1]-5"
    assert "implausible" in str(err.value)


def test_every_measure_with_a_range_has_a_conversion_table() -> None:
    from ingest.core.units import CONVERSIONS

    missing = [m for m, spec in MEASURES.items() if spec.kind != "categorical" and m not in CONVERSIONS]
    assert missing == []
    for measure, table in CONVERSIONS.items():
        assert MEASURES[measure].unit in table, f"{measure}: canonical unit must convert to itself"


def test_number_parts_numbers_each_patients_observations_in_order() -> None:
    from datetime import UTC, datetime

    from ingest.core.result import number_parts
    from schemas import Observation

    t = datetime(2026, 1, 1, tzinfo=UTC)

    def obs(key: str, i: int) -> Observation:
        return Observation(patient_key=key, measure="heart_rate", code="8867-4", value=80 + i, unit="/min",
                           effective_at=t, received_at=t, source="hl7v2", source_message_id="m",
                           source_id=f"{key}{i}")

    events = number_parts([obs("A", 0), obs("B", 0), obs("A", 1)])
    assert [(e.patient_key, e.part, e.parts) for e in events] == [("A", 0, 2), ("B", 0, 1), ("A", 1, 2)]
    assert Observation.model_validate_json(events[2].to_json_bytes()).part == 1


@pytest.mark.parametrize("value", [1.8e26, -1.8e26, float("inf"), float("nan"), 2e9])
def test_absurd_magnitudes_are_implausible_not_a_crash(value: float) -> None:
    """decimal quantize of 1.8e26 degF used to raise InvalidOperation inside round2."""
    with pytest.raises(ImplausibleValueError) as info:
        to_canonical(Measure.TEMPERATURE, value, "[degF]", location="OBX[1]-5")
    assert info.value.location == "OBX[1]-5"


def test_round2_never_raises() -> None:
    assert round2(1.8e26) == 1.8e26
    assert math.isnan(round2(float("nan"))) and round2(float("inf")) == float("inf")
    assert round2(205.2 / 17.1) == 12.0 and round2(2.675) == 2.68
