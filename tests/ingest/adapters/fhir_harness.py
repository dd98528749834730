"""The FHIR endpoint under a real uvicorn server on a thread, wired like `sepsis-alert ingest-fhir` (tests only),
and small helpers shared by the FHIR endpoint tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import uvicorn
from fhir.resources.R4B.operationoutcome import OperationOutcome
from prometheus_client import CollectorRegistry

from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
from ingest.config import IngestSettings
from ingest.fhir_worker import FhirWorkerSettings, load_tokens, make_fetcher
from ingest.metrics_fhir import FhirMetrics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer

FHIR_JSON = {"Content-Type": "application/fhir+json"}


class FhirServer:
    """create_app + KafkaFhirSink (+ the id-only fetcher when configured) under uvicorn; `start()`, then `stop()`.

    `seen_keys` are the duplicate keys a restarted worker loads from the ingest-dedup topic.
    """

    def __init__(self, settings: FhirWorkerSettings, kafka: KafkaSettings, ingest: IngestSettings | None = None,
                 *, seen_keys: Sequence[str] = (), **uvicorn_overrides: Any) -> None:
        self.settings = settings
        self.ingest = ingest or IngestSettings(send_timeout_s=20)
        self.producer = EventProducer(kafka)
        self.metrics = FhirMetrics(CollectorRegistry())
        app = create_app(settings, self.ingest, KafkaFhirSink(self.producer, self.ingest.send_timeout_s),
                         load_tokens(settings), self.metrics, make_fetcher(settings), seen_keys)
        overrides = {"log_level": "warning", **uvicorn_overrides}
        self.server = uvicorn.Server(uvicorn_config(app, settings, **overrides))
        self._thread = threading.Thread(target=self.server.run, name="test-fhir", daemon=True)
        self._clients: list[httpx.Client] = []

    @property
    def base_url(self) -> str:
        scheme = "https" if self.settings.tls_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.settings.port}"

    def start(self) -> FhirServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def client(self, token: str | None) -> httpx.Client:
        """An httpx client for this server sending FHIR JSON (with `token` as bearer token when given)."""
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.base_url, headers={**auth, **FHIR_JSON}, timeout=60)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self.server.should_exit = True
        self._thread.join(30)
        self.producer.close(timeout_s=2)


def records_for(kafka_settings: KafkaSettings, topic: str, key: str) -> list[Any]:
    """The records of `topic` keyed `key` (tests use unique patient keys on the shared topics)."""
    return [r for r in read_all(kafka_settings, topic, timeout_s=60) if r.key == key.encode()]


def heart_rate_observation(patient: str, *, rid: str | None = None, value: float = 92, code: str = "8867-4",
                           unit: str = "/min") -> dict[str, Any]:
    """A final vital-sign Observation (heart rate unless `code` says otherwise) for `Patient/<patient>`."""
    return {"resourceType": "Observation", "id": rid or uuid.uuid4().hex, "meta": {"versionId": "1"},
            "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": "2024-03-01T10:15:00Z",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}


def outcome_of(response: httpx.Response) -> dict[str, Any]:
    """The response body, checked to be an application/fhir+json, valid R4 OperationOutcome."""
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    OperationOutcome.model_validate(body)
    return body
