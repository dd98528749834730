"""Clinically dangerous input is rejected with a reason and never becomes a scored Observation.

Both ingest paths (HL7 v2 and FHIR R4) get the same table: an implausible heart rate,
a Fahrenheit temperature labelled Celsius, an unknown unit, a missing unit, a missing
patient key, and event times far in the past or future. A rejection must be an
`InputRejected` with a machine-readable code and the location of the bad element, so
that the worker can dead-letter it and tell the sender (ACK ERR / OperationOutcome).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import normalise_fhir_document
from ingest.core.hl7v2 import Hl7Normaliser
from tests.adversarial.messages import HEART_RATE, SPO2, TEMPERATURE, observation, obx, oru

RECEIVED_AT = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
"""Processing time of every message here (the event times below are relative to it)."""

SETTINGS = IngestSettings()
NORMALISER = Hl7Normaliser(SETTINGS)

# (case, HL7 OBX pieces (code, value, unit, OBX-14), FHIR (code, value, UCUM code, effectiveDateTime), location hint)
DANGEROUS = [
    ("heart rate 900", (HEART_RATE, "900", "/min", "20240301100500+0000"),
     (HEART_RATE, 900, "/min", "2024-03-01T10:05:00Z"), "5"),
    ("negative heart rate", (HEART_RATE, "-80", "/min", "20240301100500+0000"),
     (HEART_RATE, -80, "/min", "2024-03-01T10:05:00Z"), "5"),
    ("101.3 degF labelled Cel", (TEMPERATURE, "101.3", "Cel", "20240301100500+0000"),
     (TEMPERATURE, 101.3, "Cel", "2024-03-01T10:05:00Z"), "5"),
    ("SpO2 150 %", (SPO2, "150", "%", "20240301100500+0000"),
     (SPO2, 150, "%", "2024-03-01T10:05:00Z"), "5"),
    ("unknown unit", (HEART_RATE, "90", "furlongs/fortnight", "20240301100500+0000"),
     (HEART_RATE, 90, "furlongs/fortnight", "2024-03-01T10:05:00Z"), "6"),
    ("temperature in kelvin-ish unknown unit", (TEMPERATURE, "311", "K", "20240301100500+0000"),
     (TEMPERATURE, 311, "K", "2024-03-01T10:05:00Z"), "6"),
    # a converted unit with an absurd magnitude: the conversion must reject it, not crash on rounding
    ("1.8e26 degF", (TEMPERATURE, "1.8e26", "[degF]", "20240301100500+0000"),
     (TEMPERATURE, 1.8e26, "[degF]", "2024-03-01T10:05:00Z"), ""),
]


def _hl7(code: str, value: str, unit: str, when: str, mrn: str | None = "4711") -> bytes:
    return oru(obx(1, code, value, unit, when), mrn=mrn)


def _fhir(code: str, value: object, unit: str, when: str, patient: str | None = "adv-p1") -> bytes:
    return json.dumps(observation(code=code, value=value, unit_code=unit, when=when, patient=patient)).encode()


def _assert_rejected(call: object, where: str) -> InputRejected:
    with pytest.raises(InputRejected) as info:
        call()  # type: ignore[operator]
    exc = info.value
    assert exc.code and exc.code != "invalid_input", f"rejection without a specific code: {exc!r}"
    assert exc.message, "rejection without a reason"
    assert where in exc.location, f"location {exc.location!r} does not point at {where!r}"
    return exc


@pytest.mark.parametrize(("case", "hl7", "fhir", "field"), DANGEROUS, ids=[c[0] for c in DANGEROUS])
def test_hl7_dangerous_value_is_rejected_with_reason(case: str, hl7: tuple[str, str, str, str],
                                                    fhir: tuple[object, ...], field: str) -> None:
    exc = _assert_rejected(lambda: NORMALISER.normalise(_hl7(*hl7), RECEIVED_AT), f"OBX[1]-{field}")
    assert exc.code in ("implausible_value", "unknown_unit")


@pytest.mark.parametrize(("case", "hl7", "fhir", "field"), DANGEROUS, ids=[c[0] for c in DANGEROUS])
def test_fhir_dangerous_value_is_rejected_with_reason(case: str, hl7: tuple[str, ...],
                                                     fhir: tuple[str, object, str, str], field: str) -> None:
    exc = _assert_rejected(lambda: normalise_fhir_document(_fhir(*fhir), SETTINGS, RECEIVED_AT), "valueQuantity")
    assert exc.code in ("implausible_value", "unknown_unit")


def test_missing_unit_is_never_guessed() -> None:
    """A temperature without a unit could be Cel or degF: rejected, never guessed from its size.

    (Heart and respiratory rate may come without a unit: /min is their only possible unit.)
    """
    _assert_rejected(lambda: NORMALISER.normalise(_hl7(TEMPERATURE, "38.4", "", "20240301100500+0000"),
                                                  RECEIVED_AT), "OBX[1]-6")
    doc = observation(code=TEMPERATURE, value=38.4, unit_code="Cel")
    del doc["valueQuantity"]["code"], doc["valueQuantity"]["system"]
    _assert_rejected(lambda: normalise_fhir_document(json.dumps(doc).encode(), SETTINGS, RECEIVED_AT),
                     "valueQuantity")


def test_missing_patient_key_is_rejected_on_both_paths() -> None:
    _assert_rejected(lambda: NORMALISER.normalise(_hl7(HEART_RATE, "90", "/min", "20240301100500+0000", mrn=None),
                                                  RECEIVED_AT), "PID")
    _assert_rejected(lambda: normalise_fhir_document(_fhir(HEART_RATE, 90, "/min", "2024-03-01T10:05:00Z",
                                                           patient=None), SETTINGS, RECEIVED_AT), "subject")


FAR_TIMES = [
    ("year 0001", "00010101000000+0000", "0001-01-01T00:00:00Z"),
    ("year 1850", "18500101000000+0000", "1850-01-01T00:00:00Z"),
    ("two days after receipt", "20240303110000+0000", "2024-03-03T11:00:00Z"),
    ("year 2300", "23000101000000+0000", "2300-01-01T00:00:00Z"),
    ("year 9999", "99991231235959+1400", "9999-12-31T23:59:59+14:00"),
]
"""A value stamped decades ago or in the future would pin or poison the detector's event-time
windows (every later observation would look out of order); it must be rejected, not scored."""


@pytest.mark.parametrize(("case", "hl7_time", "fhir_time"), FAR_TIMES, ids=[c[0] for c in FAR_TIMES])
def test_hl7_event_time_far_from_receipt_is_rejected(case: str, hl7_time: str, fhir_time: str) -> None:
    _assert_rejected(lambda: NORMALISER.normalise(_hl7(HEART_RATE, "90", "/min", hl7_time), RECEIVED_AT),
                     "OBX[1]-14")


@pytest.mark.parametrize(("case", "hl7_time", "fhir_time"), FAR_TIMES, ids=[c[0] for c in FAR_TIMES])
def test_fhir_event_time_far_from_receipt_is_rejected(case: str, hl7_time: str, fhir_time: str) -> None:
    _assert_rejected(lambda: normalise_fhir_document(_fhir(HEART_RATE, 90, "/min", fhir_time), SETTINGS,
                                                     RECEIVED_AT), "effective")


def test_plausible_message_is_still_accepted() -> None:
    """Control: the same builders give an accepted message when nothing is wrong."""
    result = NORMALISER.normalise(_hl7(HEART_RATE, "90", "/min", "20240301100500+0000"), RECEIVED_AT)
    assert [(o.measure.value, o.value) for o in result.observations] == [("heart_rate", 90.0)]
    fhir = normalise_fhir_document(_fhir(HEART_RATE, 90, "/min", "2024-03-01T10:05:00Z"), SETTINGS, RECEIVED_AT)
    assert [(o.measure.value, o.value) for o in fhir.observations] == [("heart_rate", 90.0)]


@pytest.mark.parametrize("garbled", [b"9\xff0", b"NaN", b"Infinity", b"-inf", b"1e", b"0x5A", b"\x00"])
def test_garbled_numeric_value_is_never_scored(garbled: bytes) -> None:
    """Skipped (counted) or rejected, but never turned into a number."""
    raw = _hl7(HEART_RATE, "PLACEHOLDER", "/min", "20240301100500+0000").replace(b"PLACEHOLDER", garbled)
    try:
        result = NORMALISER.normalise(raw, RECEIVED_AT)
    except InputRejected:
        return
    assert result.observations == []
    assert result.skipped, "a dropped value must at least be counted as skipped"
