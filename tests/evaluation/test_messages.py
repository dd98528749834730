"""Replayed HL7 v2.5 and FHIR R4 messages, read back by the service's own ingest normalisers.

The live pipeline must see exactly the events the offline evaluation feeds the
detector, so each message is normalised by ingest.core (pure, no sockets) and the
resulting observations are compared with the offline ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from evaluation.fhir_bundles import admission_bundle, observation_bundle
from evaluation.hl7_messages import adt_a01, hl7_timestamp, oru_r01
from evaluation.physionet import admit_event, hour_messages, read_psv
from ingest.config import IngestSettings
from ingest.core.fhir.document import normalise_fhir_document
from ingest.core.hl7v2.normalise import Hl7Normaliser
from schemas import Observation, PatientEvent
from schemas.patient_event import PatientEventKind, Sex

DATA = Path(__file__).parent / "data"
BASE = datetime(2019, 1, 1, tzinfo=UTC)
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _essentials(observations: list[Observation] | tuple[Observation, ...]) -> list[tuple[object, ...]]:
    return [(o.patient_key, o.measure, o.value, o.unit, o.effective_at, o.part, o.parts) for o in observations]


def test_hl7_timestamp_is_utc_with_offset() -> None:
    assert hl7_timestamp(datetime(2019, 1, 1, 3, tzinfo=UTC)) == "20190101030000+0000"


def test_oru_r01_round_trips_through_the_hl7_normaliser() -> None:
    normaliser = Hl7Normaliser(IngestSettings())
    for name in ("handmade_a.psv", "physionet_sample/p000009.psv"):
        record = read_psv(DATA / name)
        for message in hour_messages(record, BASE):
            raw = oru_r01(message.observations, control_id=f"{message.patient_key}-{message.iculos}", unit="MICU")
            assert raw.startswith("MSH|^~\\&|PHYSIONET-REPLAY|") and "|ORU^R01^ORU_R01|" in raw
            result = normaliser.normalise(raw.encode(), RECEIVED)
            assert result.message_id == f"{message.patient_key}-{message.iculos}"
            assert _essentials(result.observations) == _essentials(message.observations)


def test_adt_a01_round_trips_through_the_hl7_normaliser() -> None:
    normaliser = Hl7Normaliser(IngestSettings())
    admit = admit_event(read_psv(DATA / "handmade_a.psv"), BASE)
    result = normaliser.normalise(adt_a01(admit).encode(), RECEIVED)
    [event] = result.events
    assert isinstance(event, PatientEvent)
    assert event.event is PatientEventKind.ADMIT
    assert event.patient_key == "handmade_a"
    assert event.event_time == BASE
    assert event.sex is Sex.MALE
    assert event.age_years == 71  # completed years from the birth date placed 71.5 years back
    assert event.location is not None and event.location.unit == "SICU"


def test_fhir_bundle_round_trips_through_the_fhir_normaliser() -> None:
    settings = IngestSettings()
    record = read_psv(DATA / "physionet_sample" / "p000011.psv")
    for message in list(hour_messages(record, BASE))[:12]:
        bundle = observation_bundle(message.observations)
        assert bundle["type"] == "transaction"
        result = normalise_fhir_document(json.dumps(bundle).encode(), settings, RECEIVED)
        assert _essentials(result.observations) == _essentials(message.observations)


def test_fhir_admission_bundle_is_a_valid_transaction() -> None:
    admit = admit_event(read_psv(DATA / "handmade_b.psv"), BASE)
    bundle = admission_bundle(admit)
    patient = bundle["entry"][0]["resource"]
    assert patient["gender"] == "female" and patient["birthDate"] == "1974-01-01"
    # Accepted by the FHIR ingest (a Patient/Encounter carries no observation).
    normalise_fhir_document(json.dumps(bundle).encode(), IngestSettings(), RECEIVED)
