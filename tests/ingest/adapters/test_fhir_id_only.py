"""Id-only Subscription notifications: the endpoint reads the named resources from a real EHR-like FHIR server.

Both servers are real HTTP servers on 127.0.0.1 (uvicorn for our endpoint, a stdlib
HTTP server playing the EHR) and the session's real Kafka broker stores the result.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from devstack.broker import free_port
from ingest.fhir_worker import FhirWorkerSettings
from schemas import DeadLetter, Topics, decode_event
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.ingest.adapters.fhir_harness import FhirServer, heart_rate_observation, outcome_of, records_for

pytestmark = pytest.mark.integration

WRITE_TOKEN = "id-only-write-" + uuid.uuid4().hex
EHR_TOKEN = "ehr-read-token-" + uuid.uuid4().hex


class FakeEhr:
    """A FHIR server on 127.0.0.1: GET /fhir/<Type>/<id> answers from `resources`; `status` forces an answer."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}
        self.forced_status: int | None = None
        self.seen_auth: list[str] = []
        ehr = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ehr.seen_auth.append(self.headers.get("Authorization", ""))
                found = ehr.resources.get(self.path.removeprefix("/fhir/"))
                status = ehr.forced_status or (200 if found else 404)
                body = json.dumps(found if status == 200 else {"resourceType": "OperationOutcome"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def ehr() -> Iterator[FakeEhr]:
    server = FakeEhr()
    yield server
    server.close()


@pytest.fixture(scope="module")
def client(ehr: FakeEhr, kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[httpx.Client]:
    settings = FhirWorkerSettings(port=free_port(), tokens=SecretStr(WRITE_TOKEN), fetch_base_urls=ehr.base,
                                  fetch_token=SecretStr(EHR_TOKEN), fetch_timeout_s=5, retry_after_s=7)
    server = FhirServer(settings, kafka_settings).start()
    yield server.client(WRITE_TOKEN)
    server.stop()


@pytest.fixture(autouse=True)
def _reset(ehr: FakeEhr) -> None:
    ehr.forced_status = None


def _id_only(*focus: str) -> bytes:
    parts = [{"name": "notification-event", "part": [
        {"name": "event-number", "valueString": str(i + 1)},
        {"name": "timestamp", "valueInstant": "2024-03-01T10:16:00Z"},
        {"name": "focus", "valueReference": {"reference": ref}}]} for i, ref in enumerate(focus)]
    status = {"resourceType": "Parameters", "id": uuid.uuid4().hex, "parameter": [
        {"name": "subscription", "valueReference": {"reference": "http://127.0.0.1/fhir/Subscription/vitals"}},
        {"name": "topic", "valueCanonical": "http://example.org/topics/vitals"},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": "event-notification"}, *parts]}
    bundle = {"resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "history", "entry": [
        {"fullUrl": f"urn:uuid:{status['id']}", "resource": status,
         "request": {"method": "GET", "url": "Subscription/vitals/$status"}, "response": {"status": "200"}}]}
    return orjson.dumps(bundle)


def test_named_observation_is_read_with_the_ehr_token_and_stored(client: httpx.Client, ehr: FakeEhr,
                                                                 kafka_settings: KafkaSettings) -> None:
    patient, rid = uuid.uuid4().hex, uuid.uuid4().hex
    ehr.resources[f"Observation/{rid}"] = heart_rate_observation(patient, rid=rid, value=131)
    r = client.post("/fhir/$subscription-notification", content=_id_only(f"{ehr.base}/Observation/{rid}"))
    assert r.status_code == 200, r.text
    assert "1 event(s)" in outcome_of(r)["issue"][0]["diagnostics"]
    assert ehr.seen_auth[-1] == f"Bearer {EHR_TOKEN}"
    (record,) = records_for(kafka_settings, Topics.OBSERVATIONS, patient)
    event = decode_event(record.value)
    assert (event.measure.value, event.value, event.source_id) == ("heart_rate", 131, f"Observation/{rid}")
    # The raw topic keeps the notification with the resource filled in, so it can be reprocessed offline.
    (raw,) = [orjson.loads(m.value) for m in records_for(kafka_settings, Topics.RAW_FHIR, patient)]
    assert [e["resource"]["id"] for e in raw["entry"][1:]] == [rid]


def test_ehr_unavailable_gives_503_then_the_retry_is_stored_once(client: httpx.Client, ehr: FakeEhr,
                                                                 kafka_settings: KafkaSettings) -> None:
    patient, rid = uuid.uuid4().hex, uuid.uuid4().hex
    ehr.resources[f"Observation/{rid}"] = heart_rate_observation(patient, rid=rid, value=131)
    body = _id_only(f"{ehr.base}/Observation/{rid}")
    ehr.forced_status = 503
    r = client.post("/fhir/$subscription-notification", content=body)
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    assert outcome_of(r)["issue"][0]["code"] == "transient"
    ehr.forced_status = None
    r = client.post("/fhir/$subscription-notification", content=body)
    assert r.status_code == 200, r.text
    assert len(records_for(kafka_settings, Topics.OBSERVATIONS, patient)) == 1


def test_gone_resource_is_acknowledged_without_events(client: httpx.Client, ehr: FakeEhr) -> None:
    r = client.post("/fhir/$subscription-notification",
                             content=_id_only(f"{ehr.base}/Observation/{uuid.uuid4().hex}"))
    assert r.status_code == 200, r.text
    assert "0 event(s)" in outcome_of(r)["issue"][0]["diagnostics"]


def test_reference_to_another_server_is_422_and_dead_lettered_without_any_request(
        client: httpx.Client, ehr: FakeEhr, kafka_settings: KafkaSettings) -> None:
    before = len(ehr.seen_auth)
    marker = uuid.uuid4().hex
    r = client.post("/fhir/$subscription-notification",
                             content=_id_only(f"http://127.0.0.2:1/fhir/Observation/{marker}"))
    assert r.status_code == 422
    issue = outcome_of(r)["issue"][0]
    assert "outside the FHIR servers" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[0].resource.parameter[4].part[2].valueReference.reference"]
    assert len(ehr.seen_auth) == before
    letters = [DeadLetter.model_validate_json(m.value) for m in read_all(kafka_settings, Topics.DEAD_LETTER,
                                                                           timeout_s=60) if marker.encode() in m.value]
    assert [d.error_code for d in letters] == ["fetch_not_allowed"]


def test_resource_not_matching_its_url_is_rejected(client: httpx.Client, ehr: FakeEhr) -> None:
    rid = uuid.uuid4().hex
    ehr.resources[f"Observation/{rid}"] = heart_rate_observation("p", rid="some-other-id")
    r = client.post("/fhir/$subscription-notification", content=_id_only(f"{ehr.base}/Observation/{rid}"))
    assert r.status_code == 422
    assert "not Observation/" in outcome_of(r)["issue"][0]["diagnostics"]


def test_without_fetch_configuration_id_only_is_rejected(kafka_settings: KafkaSettings, ehr: FakeEhr) -> None:
    server = FhirServer(FhirWorkerSettings(port=free_port(), tokens=SecretStr(WRITE_TOKEN)), kafka_settings).start()
    try:
        body = _id_only(f"{ehr.base}/Observation/x1")
        r = server.client(WRITE_TOKEN).post("/fhir/$subscription-notification", content=body)
        assert r.status_code == 422
        assert "fetch_base_urls" in outcome_of(r)["issue"][0]["diagnostics"]
    finally:
        server.stop()


def test_fetch_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="not https"):
        FhirWorkerSettings(tokens=SecretStr("t"), fetch_base_urls="http://ehr.example/fhir")
    ok = FhirWorkerSettings(tokens=SecretStr("t"), fetch_base_urls="https://EHR.example/fhir, http://127.0.0.1:9/f")
    assert ok.fetch_bases() == ("https://ehr.example/fhir/", "http://127.0.0.1:9/f/")
