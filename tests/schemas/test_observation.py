"""Observation validation and JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas import Observation, describe_validation_error
from schemas.codec import decode_event

T0 = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def _obs(**overrides: object) -> Observation:
    fields: dict[str, object] = dict(
        patient_key="MRN123", measure="heart_rate", code="8867-4", value=88.0, unit="/min",
        effective_at=T0, received_at=T0 + timedelta(seconds=3), source="hl7v2",
        source_message_id="MSG1", source_id="MSG1|OBX1",
    )
    fields.update(overrides)
    return Observation(**fields)  # type: ignore[arg-type]


def test_round_trip_preserves_every_field() -> None:
    obs = _obs(location={"unit": "4W", "bed": "12"}, part=0, parts=3,
               effective_at=datetime(2026, 1, 5, 8, 30, tzinfo=timezone(timedelta(hours=-5))))
    decoded = decode_event(obs.to_json_bytes())
    assert decoded == obs
    assert isinstance(decoded, Observation)
    assert decoded.effective_at.utcoffset() == timedelta(hours=-5)
    assert obs.kafka_key() == b"MRN123"


def _error_text(**overrides: object) -> str:
    with pytest.raises(ValidationError) as err:
        _obs(**overrides)
    return describe_validation_error(err.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"value": 900.0}, "value: implausible heart_rate 900.0"),
        ({"value": float("nan")}, "value: must be finite"),
        ({"unit": "bpm"}, "unit: 'bpm' is not the canonical unit '/min'"),
        ({"measure": "gcs", "unit": "{score}", "value": 13.5}, "whole number"),
        ({"measure": "fio2", "unit": "1", "value": 0.1}, "implausible fio2 0.1"),
        ({"measure": "consciousness", "unit": "{ACVPU}", "value": None, "value_code": "X"}, "value_code"),
        ({"measure": "pulse"}, "measure: Input should be"),
        ({"patient_key": ""}, "patient_key"),
        ({"effective_at": datetime(2026, 1, 5, 8, 30)}, "effective_at"),
        ({"part": 3, "parts": 3}, "part: 3 of 3"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(overrides: dict[str, object], expected: str) -> None:
    assert expected in _error_text(**overrides)


def test_plausible_edges_are_accepted() -> None:
    assert _obs(value=0.0).value == 0.0
    assert _obs(value=300.0).value == 300.0
    assert _obs(measure="fio2", unit="1", value=0.21).value == 0.21
    assert _obs(measure="spo2", unit="%", value=100.0).value == 100.0


def test_consciousness_carries_a_code_not_a_value() -> None:
    obs = _obs(measure="consciousness", unit="{ACVPU}", value=None, value_code="C", code="67775-7")
    assert decode_event(obs.to_json_bytes()) == obs


def test_cancelled_result_may_omit_the_value() -> None:
    obs = _obs(value=None, status="cancelled")
    assert obs.status == "cancelled"


def test_unknown_fields_are_rejected() -> None:
    assert "extra" in _error_text(colour="blue").lower()
