"""Subscription notifications: R4 Backport (Parameters), R4B and R5 (SubscriptionStatus)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import analyse_fhir_document, normalise_fhir_document
from schemas import Measure, PatientEventKind

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "corpora" / "fhir"
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _status(kind: str, bundle_type: str = "history") -> dict[str, Any]:
    return {"resourceType": "SubscriptionStatus", "status": "active", "type": kind,
            "subscription": {"reference": "https://ehr.example/fhir/Subscription/9"},
            "topic": "http://example.org/topics/vitals"}


def test_backport_handshake_gives_no_events() -> None:
    doc = analyse_fhir_document((CORPUS / "inferno_Bundle_r4-notification_handshake.json").read_bytes(),
                                IngestSettings(), RECEIVED)
    assert doc.notification is not None
    assert (doc.notification.form, doc.notification.kind) == ("r4-backport", "handshake")
    assert doc.events == [] and doc.entries == []


def test_backport_full_resource_event() -> None:
    raw = (CORPUS / "inferno_Bundle_r4-notification_full-resource.json").read_bytes()
    doc = analyse_fhir_document(raw, IngestSettings(), RECEIVED)
    assert doc.notification is not None
    assert doc.notification.kind == "event-notification"
    assert doc.notification.subscription == "https://fhirserver.org/fhir/Subscription/123"
    assert doc.notification.topic == "http://fhirserver.org/topics/patient-admission"
    (admit,) = doc.events
    assert admit.event is PatientEventKind.ADMIT
    assert admit.patient_key == "1599eb66-431a-447c-a3de-6897fe9ae9a1"
    assert admit.encounter_id == "86009987-eabe-42bf-8c02-b112b18cb616"
    assert admit.event_time == RECEIVED  # the Encounter has no period: processing-time fallback


@pytest.mark.parametrize(("bundle_type", "form"), [("history", "r4b"), ("subscription-notification", "r5")])
def test_topic_based_heartbeat(bundle_type: str, form: str) -> None:
    bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": [{"resource": _status("heartbeat")}]}
    doc = analyse_fhir_document(orjson.dumps(bundle), IngestSettings(), RECEIVED)
    assert doc.notification is not None
    assert (doc.notification.form, doc.notification.kind) == (form, "heartbeat")
    assert doc.events == []


def test_r4b_event_notification_with_observation() -> None:
    obs = {"resourceType": "Observation", "id": "o1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "9279-1"}]},
           "subject": {"reference": "Patient/77"}, "effectiveDateTime": "2024-03-01T10:00:00Z",
           "valueQuantity": {"value": 24, "system": "http://unitsofmeasure.org", "code": "/min"}}
    bundle = {"resourceType": "Bundle", "type": "history",
              "entry": [{"resource": _status("event-notification")},
                        {"fullUrl": "https://ehr.example/fhir/Observation/o1", "resource": obs}]}
    result = normalise_fhir_document(orjson.dumps(bundle), IngestSettings(), RECEIVED)
    (rr,) = result.observations
    assert (rr.measure, rr.value, rr.patient_key) == (Measure.RESPIRATORY_RATE, 24.0, "77")
    assert result.message_type == "notification/r4b/event-notification"


def test_unknown_notification_type_rejected() -> None:
    bundle = {"resourceType": "Bundle", "type": "subscription-notification",
              "entry": [{"resource": _status("surprise")}]}
    with pytest.raises(InputRejected):
        normalise_fhir_document(orjson.dumps(bundle), IngestSettings(), RECEIVED)


def test_plain_history_bundle_is_not_a_notification() -> None:
    bundle = {"resourceType": "Bundle", "type": "history", "entry": []}
    doc = analyse_fhir_document(orjson.dumps(bundle), IngestSettings(), RECEIVED)
    assert doc.notification is None
