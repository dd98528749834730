"""ServiceRequest / MedicationRequest / MedicationAdministration -> CareEvent; Patient / Encounter -> PatientEvent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import normalise_fhir_document
from schemas import CareEvent, PatientEvent, PatientEventKind, Sex, Vasopressor
from schemas.care_event import CareEventKind

RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _run(resource: dict[str, Any]):
    return normalise_fhir_document(orjson.dumps(resource), IngestSettings(), RECEIVED)


def _culture(**changes: Any) -> dict[str, Any]:
    sr = {"resourceType": "ServiceRequest", "id": "sr-1", "status": "active", "intent": "order",
          "code": {"coding": [{"system": "http://loinc.org", "code": "600-7", "display": "Blood culture"}]},
          "subject": {"reference": "Patient/123"}, "authoredOn": "2024-03-01T10:00:00Z"}
    sr.update(changes)
    return sr


def _admin(drug: tuple[str, str], **changes: Any) -> dict[str, Any]:
    ma = {"resourceType": "MedicationAdministration", "id": "ma-1", "status": "in-progress",
          "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": drug[0], "display": drug[1]}]},
          "subject": {"reference": "Patient/123"}, "effectiveDateTime": "2024-03-01T11:00:00Z"}
    ma.update(changes)
    return ma


def test_blood_culture_order() -> None:
    (ev,) = _run(_culture()).events
    assert isinstance(ev, CareEvent)
    assert (ev.event, ev.code, ev.code_system, ev.patient_key) == (CareEventKind.BLOOD_CULTURE_ORDERED, "600-7",
                                                                   "http://loinc.org", "123")
    assert ev.event_time == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert ev.source_id == "ServiceRequest/sr-1"


def test_culture_by_text_keyword_and_revoked_cancels() -> None:
    local = _culture(code={"coding": [{"system": "urn:local", "code": "BC1"}], "text": "Blood culture x2"})
    assert _run(local).events[0].event is CareEventKind.BLOOD_CULTURE_ORDERED
    (cancel,) = _run(_culture(status="revoked")).events
    assert (cancel.event, cancel.cancels_source_id) == (CareEventKind.CANCELLED, "ServiceRequest/sr-1")


def test_other_orders_skipped_without_validation() -> None:
    result = _run(_culture(code={"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}, intent=None))
    assert result.events == [] and [s.reason for s in result.skipped] == ["unknown_code"]


def test_antibiotic_request_and_administration() -> None:
    mr = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
          "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "29561", "display": "meropenem"}]},
          "subject": {"reference": "Patient/123"}, "authoredOn": "2024-03-01T10:30:00Z"}
    (ordered,) = _run(mr).events
    assert (ordered.event, ordered.code, ordered.code_system) == (CareEventKind.ANTIBIOTIC_ORDERED, "29561", RXNORM)
    (given,) = _run(_admin(("29561", "meropenem"), status="completed")).events
    assert given.event is CareEventKind.ANTIBIOTIC_GIVEN
    assert given.event_time == datetime(2024, 3, 1, 11, 0, tzinfo=UTC)


def test_vasopressor_with_rate() -> None:
    ma = _admin(("7512", "norepinephrine"), dosage={"rateQuantity": {"value": 0.1, "unit": "mcg/kg/min",
                                                                       "system": "http://unitsofmeasure.org",
                                                                       "code": "ug/kg/min"}})
    (ev,) = _run(ma).events
    assert (ev.event, ev.drug, ev.rate, ev.rate_unit) == (CareEventKind.VASOPRESSOR_STARTED,
                                                          Vasopressor.NOREPINEPHRINE, 0.1, "ug/kg/min")


def test_vasopressor_rate_per_hour_converted() -> None:
    ma = _admin(("7512", "norepinephrine"), dosage={"rateQuantity": {"value": 0.6, "code": "mg/h"}})
    (ev,) = _run(ma).events
    assert (ev.rate, ev.rate_unit) == (10.0, "ug/min")


def test_vasopressor_unknown_rate_unit_rejected() -> None:
    ma = _admin(("7512", "norepinephrine"), dosage={"rateQuantity": {"value": 5, "unit": "mL/h"}})
    with pytest.raises(InputRejected) as info:
        _run(ma)
    assert (info.value.code, info.value.location) == ("unknown_unit",
                                                      "MedicationAdministration.dosage.rateQuantity.unit")


def test_vasopressor_stopped_at_period_end() -> None:
    ma = _admin(("3992", "epinephrine"), status="completed", effectiveDateTime=None,
                effectivePeriod={"start": "2024-03-01T11:00:00Z", "end": "2024-03-01T13:00:00Z"})
    ma = {k: v for k, v in ma.items() if v is not None}
    (ev,) = _run(ma).events
    assert (ev.event, ev.event_time) == (CareEventKind.VASOPRESSOR_STOPPED, datetime(2024, 3, 1, 13, tzinfo=UTC))


def test_unrelated_drug_skipped() -> None:
    result = _run(_admin(("316672", "Simvastatin 10 MG")))
    assert result.events == [] and result.skipped[0].reason == "unknown_code"


def test_patient_update() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-06-01",
               "identifier": [{"system": "urn:mrn", "value": "M-5", "type": {"coding": [{"code": "MR"}]}}],
               "meta": {"lastUpdated": "2024-03-01T09:00:00Z"}}
    (ev,) = _run(patient).events
    assert isinstance(ev, PatientEvent)
    assert (ev.event, ev.patient_key, ev.sex, str(ev.birth_date)) == (PatientEventKind.UPDATE, "M-5", Sex.FEMALE,
                                                                      "1950-06-01")
    assert ev.event_time == datetime(2024, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(("status", "period", "kind", "when"), [
    ("in-progress", {"start": "2024-03-01T08:00:00Z"}, PatientEventKind.ADMIT, datetime(2024, 3, 1, 8, tzinfo=UTC)),
    ("finished", {"start": "2024-03-01T08:00:00Z", "end": "2024-03-05T16:00:00Z"}, PatientEventKind.DISCHARGE,
     datetime(2024, 3, 5, 16, tzinfo=UTC)),
    ("entered-in-error", {"start": "2024-03-01T08:00:00Z"}, PatientEventKind.CANCEL, RECEIVED),
])
def test_encounter_events(status: str, period: dict[str, str], kind: PatientEventKind, when: datetime) -> None:
    enc = {"resourceType": "Encounter", "id": "e1", "status": status, "period": period,
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
           "subject": {"reference": "Patient/123"}, "location": [{"location": {"display": "MICU"}}]}
    (ev,) = _run(enc).events
    assert (ev.event, ev.event_time, ev.encounter_id, ev.patient_key) == (kind, when, "e1", "123")
    assert ev.location is not None and ev.location.unit == "MICU"
    if kind is PatientEventKind.CANCEL:
        assert ev.cancels is PatientEventKind.ADMIT


def test_planned_encounter_skipped() -> None:
    enc = {"resourceType": "Encounter", "id": "e1", "status": "planned",
           "class": {"code": "IMP"}, "subject": {"reference": "Patient/123"}}
    assert _run(enc).events == []
