"""A duplicate POST after the endpoint restarted is still answered 200 and not stored again (real broker)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from devstack.broker import free_port
from ingest.adapters.dedup import load_fhir_keys
from ingest.fhir_worker import FhirWorkerSettings
from schemas import Topics, decode_event
from sepsis_alert.kafka.config import KafkaSettings
from tests.ingest.adapters.fhir_harness import FhirServer, heart_rate_observation, records_for

pytestmark = pytest.mark.integration

TOKEN = "dedup-restart-" + uuid.uuid4().hex


def test_duplicate_after_restart_is_recognised_from_the_dedup_topic(kafka_settings: KafkaSettings,
                                                                    kafka_topics: dict[str, str]) -> None:
    patient = uuid.uuid4().hex
    body = heart_rate_observation(patient)
    settings = FhirWorkerSettings(port=free_port(), tokens=SecretStr(TOKEN))
    first = FhirServer(settings, kafka_settings).start()
    try:
        assert first.client(TOKEN).post("/fhir/Observation", json=body).status_code == 201
    finally:
        first.stop()
    keys = load_fhir_keys(kafka_settings)  # what `sepsis-alert ingest-fhir` loads at start-up
    assert f"Observation/{body['id']}|1|final" in keys
    second = FhirServer(settings.model_copy(update={"port": free_port()}), kafka_settings, seen_keys=keys).start()
    try:
        client = second.client(TOKEN)
        again = client.post("/fhir/Observation", json=body)
        assert again.status_code == 200, again.text
        corrected = dict(body, status="corrected", valueQuantity=dict(body["valueQuantity"], value=95))
        assert client.post("/fhir/Observation", json=corrected).status_code == 201
    finally:
        second.stop()
    stored = records_for(kafka_settings, Topics.OBSERVATIONS, patient)
    assert sorted(decode_event(r.value).status.value for r in stored) == ["corrected", "final"]
