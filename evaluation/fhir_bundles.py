"""Replayed events as FHIR R4 transaction Bundles (pure): one Bundle per patient-hour.

Observations carry the LOINC code, a UCUM `valueQuantity` in the canonical unit,
`effectiveDateTime` with an explicit offset, and refer to the patient by logical
identifier (`subject.identifier`, type MR), so the FHIR ingest's patient-key policy
picks the same key as the HL7 v2 path. Each entry is a conditional create
(`ifNoneExist` on the observation identifier), so replaying twice creates nothing new.

The admission is a Bundle with the Patient (conditional update on its identifier,
with gender and birth date) and an in-progress Encounter starting at the admission.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from evaluation.hl7_messages import _birth_date
from schemas.measures import MEASURES, Measure
from schemas.observation import Observation
from schemas.patient_event import PatientEvent, Sex

__all__ = ["OBSERVATION_SYSTEM", "PATIENT_SYSTEM", "admission_bundle", "observation_bundle"]

PATIENT_SYSTEM = "urn:physionet:challenge-2019:patient"
OBSERVATION_SYSTEM = "urn:physionet:challenge-2019:observation"
ENCOUNTER_SYSTEM = "urn:physionet:challenge-2019:encounter"
_NAMESPACE = uuid.UUID("5b0f4f2e-0c55-4b8e-9d61-2f4d8a3c9e01")
_MR_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}


def _patient_ref(key: str) -> dict[str, Any]:
    return {"identifier": {"system": PATIENT_SYSTEM, "value": key, "type": _MR_TYPE}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _observation(obs: Observation, key: str) -> dict[str, Any]:
    spec = MEASURES[Measure(obs.measure)]
    category = "vital-signs" if spec.kind == "vital" else "laboratory"
    source_id = obs.source_id
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key + '|' + source_id)}",
        "resource": {
            "resourceType": "Observation",
            "identifier": [{"system": OBSERVATION_SYSTEM, "value": source_id}],
            "status": "final",
            "category": [{"coding": [{"system": _CATEGORY, "code": category}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": obs.code, "display": spec.measure.value}]},
            "subject": _patient_ref(key),
            "effectiveDateTime": _iso(obs.effective_at),
            "valueQuantity": {"value": obs.value, "unit": obs.unit, "system": "http://unitsofmeasure.org",
                              "code": obs.unit},
        },
        "request": {"method": "POST", "url": "Observation",
                    "ifNoneExist": f"identifier={OBSERVATION_SYSTEM}|{source_id}"},
    }


def observation_bundle(observations: tuple[Observation, ...] | list[Observation]) -> dict[str, Any]:
    """A transaction Bundle with one Observation entry per observation (one patient-hour)."""
    if not observations:
        raise ValueError("a Bundle needs at least one observation")
    key = observations[0].patient_key
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [_observation(o, key) for o in observations]}


def admission_bundle(event: PatientEvent) -> dict[str, Any]:
    """A transaction Bundle with the Patient and the in-progress Encounter of an admission."""
    key = event.patient_key
    birth: date | None = _birth_date(event)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_SYSTEM, "value": key, "type": _MR_TYPE}],
        "gender": _GENDER[event.sex],
    }
    if birth:
        patient["birthDate"] = birth.isoformat()
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": ENCOUNTER_SYSTEM, "value": event.encounter_id or event.patient_key}],
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": _patient_ref(key),
        "period": {"start": _iso(event.event_time)},
    }
    if event.location and event.location.unit:
        encounter["location"] = [{"location": {"display": event.location.unit}}]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key + '|patient')}", "resource": patient,
             "request": {"method": "PUT", "url": f"Patient?identifier={PATIENT_SYSTEM}|{key}"}},
            {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key + '|encounter')}", "resource": encounter,
             "request": {"method": "POST", "url": "Encounter"}},
        ],
    }
