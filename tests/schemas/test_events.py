"""PatientEvent, CareEvent, Alert and DeadLetter schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import (
    Alert,
    AlertLevel,
    CareEvent,
    DeadLetter,
    PatientEvent,
    ScoreSnapshot,
    decode_event,
    describe_validation_error,
)
from schemas.alert import alert_id_for, episode_id_for

T0 = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def test_patient_event_round_trip_and_merge_rule() -> None:
    ev = PatientEvent(patient_key="A", event="admit", event_time=T0, received_at=T0, source="hl7v2",
                      source_message_id="m", age_years=71, sex="female", location={"unit": "ED"})
    assert decode_event(ev.to_json_bytes()) == ev
    with pytest.raises(ValidationError, match="merged_from_key"):
        PatientEvent(patient_key="A", event="merge", event_time=T0, received_at=T0, source="hl7v2",
                     source_message_id="m")
    with pytest.raises(ValidationError, match="age_years"):
        PatientEvent(patient_key="A", event="admit", event_time=T0, received_at=T0, source="hl7v2",
                     source_message_id="m", age_years=-1)


def test_care_event_rate_rules() -> None:
    ev = CareEvent(patient_key="A", event="vasopressor_started", code="7512", code_system="RxNorm",
                   event_time=T0, received_at=T0, source="fhir", source_message_id="m", source_id="o1",
                   drug="norepinephrine", rate=0.08, rate_unit="ug/kg/min")
    assert decode_event(ev.to_json_bytes()) == ev
    with pytest.raises(ValidationError) as err:
        CareEvent(patient_key="A", event="vasopressor_started", code="7512", code_system="RxNorm",
                  event_time=T0, received_at=T0, source="fhir", source_message_id="m", source_id="o1",
                  rate=5.0, rate_unit="mL/h")
    assert "rate_unit" in describe_validation_error(err.value)


def test_alert_ids_are_deterministic() -> None:
    ep = episode_id_for("A", T0)
    assert ep == episode_id_for("A", T0)
    assert ep != episode_id_for("B", T0)
    assert alert_id_for(ep, 2) == f"{ep}-0002"
    alert = Alert(patient_key="A", alert_id=alert_id_for(ep, 0), episode_id=ep, sequence=0,
                  level=AlertLevel.URGENT, transition="opened", event_time=T0, emitted_at=T0,
                  scores=[ScoreSnapshot(name="news2", value=6, band="medium")], reasons=["NEWS2 6"])
    decoded = decode_event(alert.to_json_bytes())
    assert decoded == alert
    assert isinstance(decoded, Alert) and decoded.level is AlertLevel.URGENT


def test_dead_letter_keeps_raw_bytes_exactly() -> None:
    raw = b"MSH|^~\\&|\xff\x00 broken"
    dl = DeadLetter.for_payload(raw, source="hl7v2", error_code="parse_error", error_message="bad MSH",
                                received_at=T0)
    decoded = decode_event(dl.to_json_bytes())
    assert isinstance(decoded, DeadLetter)
    assert decoded.raw_payload() == raw
