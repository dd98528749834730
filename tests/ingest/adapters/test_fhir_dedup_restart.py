"""A duplicate POST after the endpoint restarted is still answered 200 and not stored again (real broker)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from ingest.adapters.dedup import load_fhir_keys
from ingest.fhir_worker import FhirWorkerSettings
from schemas import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.fhir_harness import Endpoint
from tests.ingest.adapters.test_fhir_http import _free_port, _observation, _records

pytestmark = pytest.mark.integration

TOKEN = "dedup-restart-" + uuid.uuid4().hex


def test_duplicate_after_restart_is_recognised_from_the_dedup_topic(kafka_settings: KafkaSettings,
                                                                    kafka_topics: dict[str, str]) -> None:
    patient = uuid.uuid4().hex
    body = _observation(patient)
    settings = FhirWorkerSettings(port=_free_port(), tokens=SecretStr(TOKEN))
    producer = EventProducer(kafka_settings)
    try:
        first = Endpoint(settings, producer, TOKEN)
        try:
            assert first.client.post("/fhir/Observation", json=body).status_code == 201
        finally:
            first.close()
        keys = load_fhir_keys(kafka_settings)  # what `sepsis-alert ingest-fhir` loads at start-up
        assert f"Observation/{body['id']}|1|final" in keys
        second = Endpoint(settings.model_copy(update={"port": _free_port()}), producer, TOKEN, keys)
        try:
            again = second.client.post("/fhir/Observation", json=body)
            assert again.status_code == 200, again.text
            corrected = dict(body, status="corrected", valueQuantity=dict(body["valueQuantity"], value=95))
            assert second.client.post("/fhir/Observation", json=corrected).status_code == 201
        finally:
            second.close()
        assert [r.value.count(b'"status":"final"') for r in
                _records(kafka_settings, Topics.OBSERVATIONS, patient)].count(1) == 1
        assert len(_records(kafka_settings, Topics.OBSERVATIONS, patient)) == 2
    finally:
        producer.close()
