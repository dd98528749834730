"""The FHIR endpoint against a real uvicorn server on 127.0.0.1 and the session's real Kafka broker.

Each test checks the HTTP status, the OperationOutcome / response Bundle, and what is
(or is not) in Kafka. Patient keys and resource ids are unique per test, so records
of other tests on the shared topics are filtered out by key.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
from ingest.config import IngestSettings
from ingest.fhir_worker import FhirWorkerSettings, load_tokens
from ingest.metrics_fhir import FhirMetrics
from schemas import DeadLetter, Topics, decode_event
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "fhir"
WRITE_TOKEN = "test-write-token-" + uuid.uuid4().hex
READ_TOKEN = "test-read-token-" + uuid.uuid4().hex
MAX_BODY = 64 * 1024
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    def __init__(self, base_url: str, metrics: FhirMetrics) -> None:
        self.base_url = base_url
        self.metrics = metrics


def _start(settings: FhirWorkerSettings, ingest: IngestSettings, producer: EventProducer) -> tuple[
        uvicorn.Server, threading.Thread, FhirMetrics]:
    metrics = FhirMetrics(CollectorRegistry())
    app = create_app(settings, ingest, KafkaFhirSink(producer, ingest.send_timeout_s), load_tokens(settings),
                     metrics)
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, metrics


@pytest.fixture(scope="module")
def server(kafka_settings: KafkaSettings, kafka_topics: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[RunningServer]:
    secrets = tmp_path_factory.mktemp("fhir-secrets") / "tokens"
    secrets.write_text(f"# test tokens\n{READ_TOKEN} read\n")
    port = _free_port()
    settings = FhirWorkerSettings(port=port, tokens=SecretStr(WRITE_TOKEN), tokens_file=secrets,
                                  max_body_bytes=MAX_BODY)
    producer = EventProducer(kafka_settings)
    srv, thread, metrics = _start(settings, IngestSettings(send_timeout_s=20), producer)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", metrics)
    finally:
        srv.should_exit = True
        thread.join(15)
        producer.close()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {WRITE_TOKEN}", **FHIR_JSON}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as c:
        yield c


def _records(kafka_settings: KafkaSettings, topic: str, key: str) -> list[Any]:
    return [r for r in read_all(kafka_settings, topic, timeout_s=60) if r.key == key.encode()]


def _observation(patient: str, *, rid: str | None = None, value: float = 92, code: str = "8867-4",
                 unit: str = "/min") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid or uuid.uuid4().hex, "meta": {"versionId": "1"},
            "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": "2024-03-01T10:15:00Z",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}


def _outcome(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)  # a valid R4 OperationOutcome
    return body


def test_single_observation_created_and_stored(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(_observation(patient))
    r = client.post("/fhir/Observation", content=body)
    assert r.status_code == 201, r.text
    assert _outcome(r)["issue"][0]["severity"] == "information"
    (record,) = _records(kafka_settings, Topics.OBSERVATIONS, patient)
    event = decode_event(record.value)
    assert (event.measure.value, event.value, event.unit) == ("heart_rate", 92.0, "/min")
    raw = _records(kafka_settings, Topics.RAW_FHIR, patient)
    assert [x.value for x in raw] == [body]


def test_duplicate_post_is_200_and_not_stored_twice(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(_observation(patient, rid="dup-" + patient))
    assert client.post("/fhir/Observation", content=body).status_code == 201
    again = client.post("/fhir/Observation", content=body, headers={"Content-Type": "application/json"})
    assert again.status_code == 200
    assert "duplicate" in _outcome(again)["issue"][0]["diagnostics"]
    assert len(_records(kafka_settings, Topics.OBSERVATIONS, patient)) == 1
    corrected = _observation(patient, rid="dup-" + patient, value=95)
    corrected["status"] = "corrected"
    assert client.post("/fhir/Observation", content=orjson.dumps(corrected)).status_code == 201
    values = [decode_event(x.value) for x in _records(kafka_settings, Topics.OBSERVATIONS, patient)]
    assert [(v.value, v.status.value) for v in values] == [(92.0, "final"), (95.0, "corrected")]


def test_bad_observation_is_422_with_fhirpath_and_dead_lettered(client: httpx.Client,
                                                                  kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = _observation(patient, unit="[fur_us]")
    body = orjson.dumps(resource)
    r = client.post("/fhir/Observation", content=body)
    assert r.status_code == 422
    (issue,) = _outcome(r)["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "value")
    assert issue["expression"] == ["Observation.valueQuantity.code"]
    assert "unknown_unit" in issue["diagnostics"]
    assert _records(kafka_settings, Topics.OBSERVATIONS, patient) == []
    (letter,) = [DeadLetter.model_validate_json(x.value)
                 for x in _records(kafka_settings, Topics.DEAD_LETTER, f"Observation/{resource['id']}/_history/1")]
    assert letter.raw_payload() == body
    assert (letter.error_code, letter.details[0].location) == ("unknown_unit", "Observation.valueQuantity.code")


def test_not_json_is_400_and_dead_lettered(client: httpx.Client) -> None:
    r = client.post("/fhir/Observation", content=b'{"resourceType": "Observation", ')
    assert r.status_code == 400
    assert _outcome(r)["issue"][0]["code"] == "structure"


def test_transaction_bundle_all_stored(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle = {"resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": _observation(patient),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": _observation(patient, code="9279-1", value=24),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Claim", "id": "c1"}, "request": {"method": "POST", "url": "Claim"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle))
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["type"] == "transaction-response"
    assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created", "201 Created", "200 OK"]
    events = [decode_event(x.value) for x in _records(kafka_settings, Topics.OBSERVATIONS, patient)]
    assert sorted((e.measure.value, e.part, e.parts) for e in events) == [("heart_rate", 0, 2),
                                                                         ("respiratory_rate", 1, 2)]


def test_transaction_with_bad_entry_stores_nothing(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle_id = uuid.uuid4().hex
    bundle = {"resourceType": "Bundle", "id": bundle_id, "type": "transaction", "entry": [
        {"resource": _observation(patient), "request": {"method": "POST", "url": "Observation"}},
        {"resource": _observation(patient, value=900), "request": {"method": "POST", "url": "Observation"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle))
    assert r.status_code == 422
    (issue,) = _outcome(r)["issue"]
    assert issue["expression"] == ["Bundle.entry[1].resource.valueQuantity.code"]
    assert "implausible" in issue["diagnostics"]
    assert _records(kafka_settings, Topics.OBSERVATIONS, patient) == []
    assert len(_records(kafka_settings, Topics.DEAD_LETTER, f"Bundle/{bundle_id}")) == 1


def test_batch_with_bad_entry_accepts_the_good_ones(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle_id = uuid.uuid4().hex
    bad = _observation(patient)
    bad["valueQuantity"]["value"] = "ninety"
    bundle = {"resourceType": "Bundle", "id": bundle_id, "type": "batch", "entry": [
        {"resource": _observation(patient), "request": {"method": "POST", "url": "Observation"}},
        {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "DELETE", "url": "Observation/1"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in reply["entry"]]
    assert statuses == ["201 Created", "400 Bad Request", "422 Unprocessable Entity"]
    bad_outcome = reply["entry"][1]["response"]["outcome"]
    OperationOutcome.model_validate(bad_outcome)
    assert bad_outcome["issue"][0]["expression"] == ["Bundle.entry[1].resource.valueQuantity.value"]
    assert reply["entry"][2]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
    assert len(_records(kafka_settings, Topics.OBSERVATIONS, patient)) == 1
    (letter,) = [DeadLetter.model_validate_json(x.value)
                 for x in _records(kafka_settings, Topics.DEAD_LETTER, f"Bundle/{bundle_id}")]
    assert [d.location for d in letter.details] == ["Bundle.entry[1].resource.valueQuantity.value",
                                                    "Bundle.entry[2].request.method"]


def test_backport_notification(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = uuid.uuid4().hex
    text = (CORPUS / "inferno_Bundle_r4-notification_full-resource.json").read_text()
    text = text.replace("1599eb66-431a-447c-a3de-6897fe9ae9a1", patient)
    r = client.post("/fhir/$subscription-notification", content=text.encode())
    assert r.status_code == 200, r.text
    assert "event-notification" in _outcome(r)["issue"][0]["diagnostics"]
    (record,) = _records(kafka_settings, Topics.PATIENT_EVENTS, patient)
    assert decode_event(record.value).event.value == "admit"


def test_handshake_and_heartbeat_store_nothing(client: httpx.Client, server: RunningServer,
                                               kafka_settings: KafkaSettings) -> None:
    doc = orjson.loads((CORPUS / "inferno_Bundle_r4-notification_handshake.json").read_bytes())
    doc["id"] = uuid.uuid4().hex
    r = client.post("/fhir/$subscription-notification", content=orjson.dumps(doc))
    assert r.status_code == 200
    assert "handshake" in _outcome(r)["issue"][0]["diagnostics"]
    assert _records(kafka_settings, Topics.RAW_FHIR, f"Bundle/{doc['id']}") == []
    counted = server.metrics.notifications.labels("r4-backport", "handshake")._value.get()
    assert counted >= 1
    not_a_notification = client.post("/fhir/$subscription-notification",
                                      content=orjson.dumps({"resourceType": "Bundle", "type": "batch"}))
    assert not_a_notification.status_code == 422


def test_auth_failures(server: RunningServer, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(_observation(patient))
    with httpx.Client(base_url=server.base_url, headers=FHIR_JSON, timeout=30) as anon:
        missing = anon.post("/fhir/Observation", content=body)
        wrong = anon.post("/fhir/Observation", content=body, headers={"Authorization": "Bearer nope"})
        read_only = anon.post("/fhir/Observation", content=body, headers={"Authorization": f"Bearer {READ_TOKEN}"})
        metadata = anon.get("/fhir/metadata")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert _outcome(missing)["issue"][0]["code"] == "login"
    assert wrong.status_code == 401 and _outcome(wrong)["issue"][0]["code"] == "login"
    assert read_only.status_code == 403 and _outcome(read_only)["issue"][0]["code"] == "forbidden"
    assert metadata.status_code == 200
    assert _records(kafka_settings, Topics.OBSERVATIONS, patient) == []


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    r = client.post("/fhir/Observation", content=b"<Observation/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    assert _outcome(r)["issue"][0]["code"] == "not-supported"


def test_oversized_body_is_413(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = _observation(patient)
    resource["note"] = [{"text": "x" * (MAX_BODY + 10)}]
    r = client.post("/fhir/Observation", content=orjson.dumps(resource))
    assert r.status_code == 413
    assert _outcome(r)["issue"][0]["code"] == "too-long"
    assert _records(kafka_settings, Topics.OBSERVATIONS, patient) == []
    marker = resource["id"].encode()
    letters = [DeadLetter.model_validate_json(r.value) for r in read_all(kafka_settings, Topics.DEAD_LETTER,
                                                                          timeout_s=60)]
    mine = [letter for letter in letters if marker in letter.raw_payload()]
    assert len(mine) == 1, "an oversize body must leave one dead letter"
    assert mine[0].error_code == "body_too_large" and "truncated" in mine[0].error_message
    assert len(mine[0].raw_payload()) <= 4096


def test_metrics_need_a_token_unless_dev_mode(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {READ_TOKEN}"}) as reader:
        scraped = reader.get("/metrics")
    assert scraped.status_code == 200 and "sepsis_fhir" in scraped.text


def test_metadata_is_a_valid_capability_statement(client: httpx.Client) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = CapabilityStatement.model_validate(r.json())
    types = {res.type for res in cs.rest[0].resource}
    assert {"Observation", "Patient", "Encounter", "MedicationAdministration"} <= types
    assert cs.fhirVersion == "4.0.1"


def test_kafka_unavailable_is_503_with_retry_after() -> None:
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{_free_port()}", bootstrap_timeout_ms=1500,
                         request_timeout_ms=2000, delivery_timeout_ms=3000, max_block_ms=1500)
    settings = FhirWorkerSettings(port=_free_port(), dev_no_auth=True, retry_after_s=7)
    producer = EventProducer(dead)
    srv, thread, _ = _start(settings, IngestSettings(send_timeout_s=2), producer)
    try:
        body = orjson.dumps(_observation("p-" + uuid.uuid4().hex))
        r = httpx.post(f"http://127.0.0.1:{settings.port}/fhir/Observation", content=body, headers=FHIR_JSON,
                       timeout=30)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "7"
        assert _outcome(r)["issue"][0]["code"] == "transient"
    finally:
        srv.should_exit = True
        thread.join(15)
        producer.close(timeout_s=1)
