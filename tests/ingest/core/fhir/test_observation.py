"""Observation normalisation: a real sample field by field, then each rule on small synthetic resources."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import FhirValidationError, normalise_fhir_document
from ingest.core.patient_key import Identifier, PatientKeyPolicy, choose_patient_key
from schemas import Measure, ResultStatus, Source

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "corpora" / "fhir"
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = IngestSettings()


def _run(resource: dict[str, Any], settings: IngestSettings = SETTINGS):
    return normalise_fhir_document(orjson.dumps(resource), settings, RECEIVED)


def _obs(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation", "id": "hr-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/123"},
        "effectiveDateTime": "2024-03-01T10:15:00+01:00",
        "valueQuantity": {"value": 92, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_blood_pressure_sample_field_by_field() -> None:
    result = normalise_fhir_document((CORPUS / "hl7-fhir-r4_Observation_bloodpressure.json").read_bytes(),
                                     IngestSettings(max_event_age_days=73000), RECEIVED)  # a 2012 example
    assert result.message_id == "Observation/blood-pressure"
    assert result.message_type == "Observation"
    sbp, dbp = result.observations
    assert sbp.measure is Measure.SYSTOLIC_BP and dbp.measure is Measure.DIASTOLIC_BP
    assert (sbp.value, sbp.unit, sbp.code, sbp.code_system) == (107.0, "mm[Hg]", "8480-6", "http://loinc.org")
    assert (dbp.value, dbp.unit, dbp.code) == (60.0, "mm[Hg]", "8462-4")
    assert sbp.patient_key == "example"  # bare Patient/example -> logical id under the default policy
    assert sbp.effective_at == datetime(2012, 9, 17, tzinfo=UTC)  # date only, site zone UTC
    assert sbp.received_at == RECEIVED
    assert sbp.source is Source.FHIR
    assert sbp.source_message_id == "Observation/blood-pressure"
    assert sbp.source_id == "Observation/blood-pressure#8480-6"
    assert dbp.source_id == "Observation/blood-pressure#8462-4"
    assert sbp.status is ResultStatus.FINAL
    assert (sbp.part, sbp.parts, dbp.part, dbp.parts) == (0, 2, 1, 2)
    assert sbp.encounter_id is None


def test_vital_sign_with_offset_keeps_event_time() -> None:
    (hr,) = _run(_obs()).observations
    assert hr.effective_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert hr.value == 92 and hr.unit == "/min" and hr.source_id == "Observation/hr-1"


def test_date_without_zone_is_site_local() -> None:
    settings = IngestSettings(site_timezone="Europe/Amsterdam")
    (hr,) = _run(_obs(effectiveDateTime="2024-03-01"), settings).observations
    assert hr.effective_at.utcoffset() == timedelta(hours=1)
    assert hr.effective_at.astimezone(UTC) == datetime(2024, 2, 29, 23, 0, tzinfo=UTC)


def test_time_without_zone_is_invalid_fhir() -> None:
    # FHIR R4 dateTime: "If hours and minutes are specified, a time zone SHALL be populated";
    # fhir.resources enforces it, so only date-only values fall back to the site zone.
    with pytest.raises(FhirValidationError) as info:
        _run(_obs(effectiveDateTime="2024-03-01T10:15:00"))
    assert info.value.location == "Observation.effectiveDateTime"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"effectiveDateTime": None, "effectivePeriod": {"start": "2024-03-01T08:00:00Z"}}, datetime(2024, 3, 1, 8, 0)),
    ({"effectiveDateTime": None, "effectiveInstant": "2024-03-01T07:00:00.123Z"},
     datetime(2024, 3, 1, 7, 0, 0, 123000)),
    ({"effectiveDateTime": None, "issued": "2024-03-01T06:00:00-05:00"}, datetime(2024, 3, 1, 11, 0)),
])
def test_event_time_sources(changes: dict[str, Any], expected: datetime) -> None:
    (hr,) = _run(_obs(**changes)).observations
    assert hr.effective_at == expected.replace(tzinfo=UTC)


def test_missing_time_is_rejected_with_location() -> None:
    with pytest.raises(InputRejected) as info:
        _run(_obs(effectiveDateTime=None))
    assert (info.value.code, info.value.location) == ("missing_time", "Observation.effective[x]")


def test_fahrenheit_converted_and_rounded() -> None:
    resource = _obs(code={"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                    valueQuantity={"value": 101.0, "unit": "degF", "system": "http://unitsofmeasure.org",
                                   "code": "[degF]"})
    (temp,) = _run(resource).observations
    assert (temp.value, temp.unit) == (38.33, "Cel")  # clinical-scores.md §1.6 example


def test_unit_text_used_when_code_missing() -> None:
    (hr,) = _run(_obs(valueQuantity={"value": 80, "unit": "bpm"})).observations
    assert hr.value == 80


def test_lab_in_si_units_converted() -> None:
    resource = _obs(code={"coding": [{"system": "http://loinc.org", "code": "14682-9"}]},
                    valueQuantity={"value": 176.8, "system": "http://unitsofmeasure.org", "code": "umol/L"})
    (creat,) = _run(resource).observations
    assert (creat.measure, creat.value, creat.unit) == (Measure.CREATININE, 2.0, "mg/dL")


def test_unknown_unit_rejected_with_fhirpath() -> None:
    with pytest.raises(InputRejected) as info:
        _run(_obs(valueQuantity={"value": 80, "unit": "furlongs", "system": "http://unitsofmeasure.org",
                                 "code": "[fur_us]/min"}))
    assert info.value.code == "unknown_unit"
    assert info.value.location == "Observation.valueQuantity.unit"


def test_implausible_value_rejected() -> None:
    with pytest.raises(InputRejected) as info:
        _run(_obs(valueQuantity={"value": 400, "system": "http://unitsofmeasure.org", "code": "/min"}))
    assert info.value.code == "implausible_value"
    assert info.value.location == "Observation.valueQuantity.value"  # the number is wrong, not its unit


def test_bad_component_named_inside_bundle() -> None:
    bp = _obs(code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, valueQuantity=None,
              component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                          "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                         {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                          "valueQuantity": {"value": 80, "unit": "cmH2O"}}])
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _obs(id="other")}, {"resource": _obs(id="x")}, {"resource": _obs(id="y")},
                        {"resource": bp}]}
    with pytest.raises(InputRejected) as info:
        _run(bundle)
    assert info.value.location == "Bundle.entry[3].resource.component[1].valueQuantity.unit"


def test_kpa_blood_pressure_component() -> None:
    bp = _obs(code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, valueQuantity=None,
              component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                          "valueQuantity": {"value": 16, "system": "http://unitsofmeasure.org", "code": "kPa"}}])
    (sbp,) = _run(bp).observations
    assert sbp.value == 120.01


def test_consciousness_snomed_answer() -> None:
    resource = _obs(code={"coding": [{"system": "http://loinc.org", "code": "67775-7"}]}, valueQuantity=None,
                    valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "450847001"}]})
    (acvpu,) = _run(resource).observations
    assert (acvpu.measure, acvpu.value, acvpu.value_code, acvpu.unit) == (Measure.CONSCIOUSNESS, None, "P", "{ACVPU}")


def test_consciousness_unknown_answer_skipped() -> None:
    resource = _obs(code={"coding": [{"system": "http://loinc.org", "code": "67775-7"}]}, valueQuantity=None,
                    valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "1"}]})
    result = _run(resource)
    assert result.events == [] and [s.reason for s in result.skipped] == ["unknown_answer"]


def test_data_absent_reason_skipped() -> None:
    result = _run(_obs(valueQuantity=None, dataAbsentReason={"coding": [{"code": "asked-unknown"}]}))
    assert result.events == []
    assert [(s.location, s.reason) for s in result.skipped] == [("Observation.dataAbsentReason", "data_absent")]


def test_unknown_code_skipped_and_counted() -> None:
    result = _run(_obs(code={"coding": [{"system": "http://loinc.org", "code": "39156-5"}]}))
    assert result.events == [] and [s.reason for s in result.skipped] == ["unknown_code"]


def test_non_loinc_coding_with_a_loinc_code_value_is_not_matched() -> None:
    result = _run(_obs(code={"coding": [{"system": "http://acme.org/codes", "code": "8867-4"}]}))
    assert result.events == []


@pytest.mark.parametrize(("status", "expected"), [
    ("entered-in-error", ResultStatus.CANCELLED), ("cancelled", ResultStatus.CANCELLED),
    ("amended", ResultStatus.CORRECTED), ("corrected", ResultStatus.CORRECTED),
    ("preliminary", ResultStatus.PRELIMINARY),
])
def test_status_mapping(status: str, expected: ResultStatus) -> None:
    (hr,) = _run(_obs(status=status)).observations
    assert hr.status is expected
    assert hr.source_id == "Observation/hr-1"  # same id: replaces / retracts the earlier value
    assert (hr.value is None) == (expected is ResultStatus.CANCELLED)


def test_registered_status_skipped() -> None:
    assert _run(_obs(status="registered")).events == []


def test_source_id_from_identifier_when_no_id() -> None:
    resource = _obs(id=None, identifier=[{"system": "urn:lab", "value": "A-77"}])
    (hr,) = _run(resource).observations
    assert hr.source_id == "urn:lab|A-77"


def test_subject_by_identifier_matches_hl7_mrn_key() -> None:
    policy = PatientKeyPolicy(authorities={"urn:oid:1.2.3": "HOSP", "HOSP": "HOSP"}, prefix_with_authority=True)
    settings = IngestSettings(patient_key=policy)
    resource = _obs(subject={"identifier": {"system": "urn:oid:1.2.3", "value": "MRN42",
                                            "type": {"coding": [{"code": "MR"}]}}})
    (hr,) = _run(resource, settings).observations
    hl7_key = choose_patient_key([Identifier("MRN42", "MR", "HOSP")], policy)
    assert hr.patient_key == hl7_key == "HOSP|MRN42"


def test_bare_reference_rejected_when_site_restricts_authorities() -> None:
    settings = IngestSettings(patient_key=PatientKeyPolicy(authorities={"urn:oid:1.2.3": "HOSP"}))
    with pytest.raises(InputRejected) as info:
        _run(_obs(), settings)
    assert (info.value.code, info.value.location) == ("missing_patient_id", "Observation.subject")


def test_contained_patient_subject() -> None:
    resource = _obs(subject={"reference": "#p1"},
                    contained=[{"resourceType": "Patient", "id": "p1",
                                "identifier": [{"system": "urn:mrn", "value": "M-9",
                                                "type": {"coding": [{"code": "MR"}]}}]}])
    (hr,) = _run(resource).observations
    assert hr.patient_key == "M-9"


def test_bundle_patient_by_urn_uuid() -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:ssn", "value": "S-1",
                                                          "type": {"coding": [{"code": "SS"}]}},
                                                         {"system": "urn:mrn", "value": "M-1",
                                                          "type": {"coding": [{"code": "MR"}]}}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:6d8f0b64-0000-4000-8000-000000000001", "resource": patient},
        {"resource": _obs(subject={"reference": "urn:uuid:6d8f0b64-0000-4000-8000-000000000001"})}]}
    result = _run(bundle)
    assert {e.patient_key for e in result.events} == {"M-1"}  # MR preferred over SS


def test_unresolved_urn_uuid_rejected() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": _obs(subject={"reference": "urn:uuid:6d8f0b64-0000-4000-8000-000000000009"})}]}
    with pytest.raises(InputRejected) as info:
        _run(bundle)
    assert info.value.location == "Bundle.entry[0].resource.subject.reference"


def test_group_subject_skipped() -> None:
    result = _run(_obs(subject={"reference": "Group/ward-4"}))
    assert result.events == [] and [s.reason for s in result.skipped] == ["non_patient_subject"]


def test_fhir_resources_validation_error_names_element() -> None:
    resource = _obs(valueQuantity={"value": "ninety", "system": "http://unitsofmeasure.org", "code": "/min"})
    with pytest.raises(FhirValidationError) as info:
        _run(resource)
    assert info.value.location == "Observation.valueQuantity.value"
    assert "ninety" in str(info.value)


def test_not_json_and_not_fhir() -> None:
    with pytest.raises(InputRejected) as info:
        normalise_fhir_document(b"{not json", SETTINGS, RECEIVED)
    assert (info.value.code, info.value.location) == ("parse_error", "$")
    with pytest.raises(InputRejected) as info:
        normalise_fhir_document(b'{"hello": 1}', SETTINGS, RECEIVED)
    assert info.value.location == "resourceType"


def test_bom_tolerated() -> None:
    raw = b"\xef\xbb\xbf" + orjson.dumps(_obs())
    assert len(normalise_fhir_document(raw, SETTINGS, RECEIVED).events) == 1


def test_input_is_not_mutated() -> None:
    resource = _obs()
    before = copy.deepcopy(resource)
    _run(resource)
    assert resource == before


def test_aware_times_any_offset() -> None:
    (hr,) = _run(_obs(effectiveDateTime="2024-03-01T23:30:00-03:30")).observations
    assert hr.effective_at.utcoffset() == timezone(timedelta(hours=-3, minutes=-30)).utcoffset(None)
