"""Every file of ../shared/corpora/fhir/ gives the expected events or a clear rejection (table-driven)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import normalise_fhir_document
from ingest.core.units import CONVERSIONS, canonical_unit_key
from schemas import CareEvent, Measure, Observation, PatientEvent, PatientEventKind, ResultStatus

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "corpora" / "fhir"
RECEIVED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CORPUS_SETTINGS = IngestSettings(max_event_age_days=73000)
"""The corpora carry example dates from decades ago: this module tests mapping, not the event-time window."""

M = Measure
F, C, X = ResultStatus.FINAL, ResultStatus.CORRECTED, ResultStatus.CANCELLED

# file -> Counter of (measure or patient-event kind, status) of the events expected
EXPECTED: dict[str, Counter[tuple[str, str]]] = {
    "hl7-fhir-r4_Bundle_searchset.json": Counter(),
    "hl7-fhir-r4_Bundle_transaction.json": Counter({("update", ""): 4}),
    "hl7-fhir-r4_Observation_1minute-apgar_contained-Patient.json": Counter(),
    "hl7-fhir-r4_Observation_bloodpressure-dar.json": Counter({("systolic_bp", F): 1}),
    "hl7-fhir-r4_Observation_bloodpressure.json": Counter({("systolic_bp", F): 1, ("diastolic_bp", F): 1}),
    "hl7-fhir-r4_Observation_bmi-using-related_derivedFrom.json": Counter(),
    "hl7-fhir-r4_Observation_bmi.json": Counter(),
    "hl7-fhir-r4_Observation_body-height.json": Counter(),
    "hl7-fhir-r4_Observation_body-temperature.json": Counter({("temperature", F): 1}),
    "hl7-fhir-r4_Observation_f001-glucose_effectivePeriod.json": Counter(),  # 15074-8 is not a §1 code
    "hl7-fhir-r4_Observation_f003-co2.json": Counter(),  # 11557-6 (pCO2 in blood, not arterial 2019-8)
    "hl7-fhir-r4_Observation_f004-erythrocyte.json": Counter(),
    "hl7-fhir-r4_Observation_f005-hemoglobin.json": Counter({("hemoglobin", F): 1}),
    "hl7-fhir-r4_Observation_f202-temperature_entered-in-error.json": Counter({("temperature", X): 1}),
    "hl7-fhir-r4_Observation_f203-bicarbonate_no-effective.json": Counter({("bicarbonate", F): 1}),
    "hl7-fhir-r4_Observation_f205-egfr_components.json": Counter(),
    "hl7-fhir-r4_Observation_glasgow.json": Counter({("gcs", F): 1, ("gcs_eye", F): 1, ("gcs_verbal", F): 1,
                                                     ("gcs_motor", F): 1}),
    "hl7-fhir-r4_Observation_heart-rate.json": Counter({("heart_rate", F): 1}),
    "hl7-fhir-r4_Observation_satO2.json": Counter({("spo2", F): 1}),
    "hl7-fhir-r4_Observation_unsat_cancelled_DAR.json": Counter(),  # cancelled 15074-8: not a code we use
    "hl7-fhir-r4_Observation_vitals-panel.json": Counter(),  # hasMember only, no value
    "hl7-fhir-r4_Observation_weight_lbs.json": Counter({("weight", F): 1}),
    "inferno_Bundle_r4-notification_full-resource.json": Counter({("admit", ""): 1}),
    "inferno_Bundle_r4-notification_handshake.json": Counter(),
    "prime-reportstream_Bundle_message_AK.json": Counter({("update", ""): 1}),
    "prime-reportstream_Bundle_message_AOE_corrected.json": Counter({("update", ""): 1, ("admit", ""): 1}),
    "prime-reportstream_Bundle_message_OBX_ST_empty_DAR.json": Counter({("update", ""): 1}),
    "prime-reportstream_Bundle_message_SR_entered-in-error.json": Counter({("update", ""): 1}),
    "prime-reportstream_Bundle_message_valid_data.json": Counter({("update", ""): 1}),
    "us-core_Observation_bp-data-absent.json": Counter({("systolic_bp", F): 1}),
    "us-core_Observation_capillary-refill.json": Counter(),
    "us-core_Observation_cbc-leukocytes.json": Counter({("wbc", F): 1}),
    "us-core_Observation_height.json": Counter(),
    "us-core_Observation_respiratory-rate.json": Counter({("respiratory_rate", F): 1}),
    "us-core_Observation_serum-creatinine.json": Counter({("creatinine", F): 1}),
    "us-core_Observation_serum-glucose.json": Counter({("glucose", F): 1}),
    "us-core_Observation_serum-potassium.json": Counter({("potassium", F): 1}),
    "us-core_Observation_weight.json": Counter({("weight", F): 1}),
}

# file -> (error code, FHIRPath location) of a genuine defect
REJECTED: dict[str, tuple[str, str]] = {
    # value AND dataAbsentReason: FHIR invariant obs-6
    "hl7-fhir-build_Observation_obs-6_value-and-DAR_invalid.json":
        ("invariant_violation", "Observation.dataAbsentReason"),
    # Patient identifier extension valueOid 'urn:oid:05D2222542' is not an OID (R4 oid pattern)
    "prime-reportstream_Bundle_message_multiple_observations.json":
        ("invalid_resource", "Bundle.entry[28].resource.identifier[0].extension[0].valueOid"),
}

_CREATININE_MMOL = canonical_unit_key("mmol/L") in CONVERSIONS[Measure.CREATININE]


def _shape(events: list) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for e in events:
        if isinstance(e, Observation):
            out[(e.measure.value, e.status.value)] += 1
        elif isinstance(e, PatientEvent | CareEvent):
            out[(e.event.value, "")] += 1
    return out


def test_every_corpus_file_is_classified() -> None:
    files = {p.name for p in CORPUS.iterdir()}
    known = set(EXPECTED) | set(REJECTED) | {"hl7-fhir-r4_Bundle_diagnosticreport-ghp_collection.json"}
    known |= {p.name for p in CORPUS.glob("synthea_*.json")}
    assert files == known


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_expected_events(name: str) -> None:
    result = normalise_fhir_document((CORPUS / name).read_bytes(), CORPUS_SETTINGS, RECEIVED)
    assert _shape(result.events) == EXPECTED[name]
    for e in result.events:
        assert e.received_at == RECEIVED
        assert e.source_message_id


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_invalid_corpus_file_is_rejected_with_location(name: str) -> None:
    with pytest.raises(InputRejected) as info:
        normalise_fhir_document((CORPUS / name).read_bytes(), CORPUS_SETTINGS, RECEIVED)
    code, location = REJECTED[name]
    assert info.value.code == code
    assert info.value.location == location
    assert str(info.value)


def test_ghp_collection_creatinine_in_mmol_per_litre() -> None:
    raw = (CORPUS / "hl7-fhir-r4_Bundle_diagnosticreport-ghp_collection.json").read_bytes()
    if _CREATININE_MMOL:  # once units.py converts creatinine mmol/L the whole panel must come through
        result = normalise_fhir_document(raw, CORPUS_SETTINGS, RECEIVED)
        assert any(e.measure is Measure.CREATININE for e in result.observations)
        return
    with pytest.raises(InputRejected) as info:
        normalise_fhir_document(raw, CORPUS_SETTINGS, RECEIVED)
    assert info.value.code == "unknown_unit"
    assert info.value.location == "Bundle.entry[30].resource.valueQuantity.unit"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("synthea_*.json")))
def test_synthea_transaction_bundles(name: str) -> None:
    result = normalise_fhir_document((CORPUS / name).read_bytes(), CORPUS_SETTINGS, RECEIVED)
    shape = _shape(result.events)
    assert shape[("update", "")] == 1
    assert shape[("systolic_bp", F)] == shape[("diastolic_bp", F)] > 0
    assert shape[("discharge", "")] > 0
    keys = {e.patient_key for e in result.events}
    assert len(keys) == 1  # urn:uuid subject references resolve to the one Patient's MRN
    patient = next(e for e in result.events if isinstance(e, PatientEvent) and e.event is PatientEventKind.UPDATE)
    assert patient.birth_date is not None
    # observation parts are numbered per patient over the whole Bundle
    obs = result.observations
    assert [o.part for o in obs] == list(range(len(obs)))
    assert {o.parts for o in obs} == {len(obs)}
