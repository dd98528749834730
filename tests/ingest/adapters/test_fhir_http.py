"""The FHIR endpoint against a real uvicorn server on 127.0.0.1 and the session's real Kafka broker.

Each test checks the HTTP status, the OperationOutcome / response Bundle, and what is
(or is not) in Kafka. Patient keys and resource ids are unique per test, so records
of other tests on the shared topics are filtered out by key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import SecretStr

from devstack.broker import free_port
from ingest.config import IngestSettings
from ingest.fhir_worker import FhirWorkerSettings
from schemas import DeadLetter, Topics, decode_event
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.ingest.adapters.fhir_harness import FHIR_JSON, FhirServer, heart_rate_observation, outcome_of, records_for

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "fhir"
WRITE_TOKEN = "test-write-token-" + uuid.uuid4().hex
READ_TOKEN = "test-read-token-" + uuid.uuid4().hex
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server(kafka_settings: KafkaSettings, kafka_topics: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[FhirServer]:
    secrets = tmp_path_factory.mktemp("fhir-secrets") / "tokens"
    secrets.write_text(f"# test tokens\n{READ_TOKEN} read\n")
    settings = FhirWorkerSettings(port=free_port(), tokens=SecretStr(WRITE_TOKEN), tokens_file=secrets,
                                  max_body_bytes=MAX_BODY)
    server = FhirServer(settings, kafka_settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(server: FhirServer) -> httpx.Client:
    return server.client(WRITE_TOKEN)


def test_single_observation_created_and_stored(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(heart_rate_observation(patient))
    r = client.post("/fhir/Observation", content=body)
    assert r.status_code == 201, r.text
    assert outcome_of(r)["issue"][0]["severity"] == "information"
    (record,) = records_for(kafka_settings, Topics.OBSERVATIONS, patient)
    event = decode_event(record.value)
    assert (event.measure.value, event.value, event.unit) == ("heart_rate", 92.0, "/min")
    raw = records_for(kafka_settings, Topics.RAW_FHIR, patient)
    assert [x.value for x in raw] == [body]


def test_duplicate_post_is_200_and_not_stored_twice(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(heart_rate_observation(patient, rid="dup-" + patient))
    assert client.post("/fhir/Observation", content=body).status_code == 201
    again = client.post("/fhir/Observation", content=body, headers={"Content-Type": "application/json"})
    assert again.status_code == 200
    assert "duplicate" in outcome_of(again)["issue"][0]["diagnostics"]
    assert len(records_for(kafka_settings, Topics.OBSERVATIONS, patient)) == 1
    corrected = heart_rate_observation(patient, rid="dup-" + patient, value=95)
    corrected["status"] = "corrected"
    assert client.post("/fhir/Observation", content=orjson.dumps(corrected)).status_code == 201
    values = [decode_event(x.value) for x in records_for(kafka_settings, Topics.OBSERVATIONS, patient)]
    assert [(v.value, v.status.value) for v in values] == [(92.0, "final"), (95.0, "corrected")]


def test_bad_observation_is_422_with_fhirpath_and_dead_lettered(client: httpx.Client,
                                                                  kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = heart_rate_observation(patient, unit="[fur_us]")
    body = orjson.dumps(resource)
    r = client.post("/fhir/Observation", content=body)
    assert r.status_code == 422
    (issue,) = outcome_of(r)["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "value")
    assert issue["expression"] == ["Observation.valueQuantity.code"]
    assert "unknown_unit" in issue["diagnostics"]
    assert records_for(kafka_settings, Topics.OBSERVATIONS, patient) == []
    (letter,) = [DeadLetter.model_validate_json(x.value)
                 for x in records_for(kafka_settings, Topics.DEAD_LETTER, f"Observation/{resource['id']}/_history/1")]
    assert letter.raw_payload() == body
    assert (letter.error_code, letter.details[0].location) == ("unknown_unit", "Observation.valueQuantity.code")


def test_not_json_is_400_and_dead_lettered(client: httpx.Client) -> None:
    r = client.post("/fhir/Observation", content=b'{"resourceType": "Observation", ')
    assert r.status_code == 400
    assert outcome_of(r)["issue"][0]["code"] == "structure"


def test_transaction_bundle_all_stored(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle = {"resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": heart_rate_observation(patient),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": heart_rate_observation(patient, code="9279-1", value=24),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Claim", "id": "c1"}, "request": {"method": "POST", "url": "Claim"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle))
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["type"] == "transaction-response"
    assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created", "201 Created", "200 OK"]
    events = [decode_event(x.value) for x in records_for(kafka_settings, Topics.OBSERVATIONS, patient)]
    assert sorted((e.measure.value, e.part, e.parts) for e in events) == [("heart_rate", 0, 2),
                                                                         ("respiratory_rate", 1, 2)]


def test_transaction_with_bad_entry_stores_nothing(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle_id = uuid.uuid4().hex
    bundle = {"resourceType": "Bundle", "id": bundle_id, "type": "transaction", "entry": [
        {"resource": heart_rate_observation(patient), "request": {"method": "POST", "url": "Observation"}},
        {"resource": heart_rate_observation(patient, value=900), "request": {"method": "POST", "url": "Observation"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle))
    assert r.status_code == 422
    (issue,) = outcome_of(r)["issue"]
    assert issue["expression"] == ["Bundle.entry[1].resource.valueQuantity.value"]  # the number, not its unit
    assert "implausible" in issue["diagnostics"]
    assert records_for(kafka_settings, Topics.OBSERVATIONS, patient) == []
    assert len(records_for(kafka_settings, Topics.DEAD_LETTER, f"Bundle/{bundle_id}")) == 1


def test_batch_with_bad_entry_accepts_the_good_ones(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    bundle_id = uuid.uuid4().hex
    bad = heart_rate_observation(patient)
    bad["valueQuantity"]["value"] = "ninety"
    bundle = {"resourceType": "Bundle", "id": bundle_id, "type": "batch", "entry": [
        {"resource": heart_rate_observation(patient), "request": {"method": "POST", "url": "Observation"}},
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
    assert len(records_for(kafka_settings, Topics.OBSERVATIONS, patient)) == 1
    (letter,) = [DeadLetter.model_validate_json(x.value)
                 for x in records_for(kafka_settings, Topics.DEAD_LETTER, f"Bundle/{bundle_id}")]
    assert [d.location for d in letter.details] == ["Bundle.entry[1].resource.valueQuantity.value",
                                                    "Bundle.entry[2].request.method"]


def test_backport_notification(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = uuid.uuid4().hex
    text = (CORPUS / "inferno_Bundle_r4-notification_full-resource.json").read_text()
    text = text.replace("1599eb66-431a-447c-a3de-6897fe9ae9a1", patient)
    r = client.post("/fhir/$subscription-notification", content=text.encode())
    assert r.status_code == 200, r.text
    assert "event-notification" in outcome_of(r)["issue"][0]["diagnostics"]
    (record,) = records_for(kafka_settings, Topics.PATIENT_EVENTS, patient)
    assert decode_event(record.value).event.value == "admit"


def test_handshake_and_heartbeat_store_nothing(client: httpx.Client, server: FhirServer,
                                               kafka_settings: KafkaSettings) -> None:
    doc = orjson.loads((CORPUS / "inferno_Bundle_r4-notification_handshake.json").read_bytes())
    doc["id"] = uuid.uuid4().hex
    r = client.post("/fhir/$subscription-notification", content=orjson.dumps(doc))
    assert r.status_code == 200
    assert "handshake" in outcome_of(r)["issue"][0]["diagnostics"]
    assert records_for(kafka_settings, Topics.RAW_FHIR, f"Bundle/{doc['id']}") == []
    counted = server.metrics.notifications.labels("r4-backport", "handshake")._value.get()
    assert counted >= 1
    not_a_notification = client.post("/fhir/$subscription-notification",
                                      content=orjson.dumps({"resourceType": "Bundle", "type": "batch"}))
    assert not_a_notification.status_code == 422


def test_auth_failures(server: FhirServer, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    body = orjson.dumps(heart_rate_observation(patient))
    with httpx.Client(base_url=server.base_url, headers=FHIR_JSON, timeout=30) as anon:
        missing = anon.post("/fhir/Observation", content=body)
        wrong = anon.post("/fhir/Observation", content=body, headers={"Authorization": "Bearer nope"})
        read_only = anon.post("/fhir/Observation", content=body, headers={"Authorization": f"Bearer {READ_TOKEN}"})
        metadata = anon.get("/fhir/metadata")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert outcome_of(missing)["issue"][0]["code"] == "login"
    assert wrong.status_code == 401 and outcome_of(wrong)["issue"][0]["code"] == "login"
    assert read_only.status_code == 403 and outcome_of(read_only)["issue"][0]["code"] == "forbidden"
    assert metadata.status_code == 200
    assert records_for(kafka_settings, Topics.OBSERVATIONS, patient) == []


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    r = client.post("/fhir/Observation", content=b"<Observation/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    assert outcome_of(r)["issue"][0]["code"] == "not-supported"


def test_oversized_body_is_413(client: httpx.Client, kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = heart_rate_observation(patient)
    resource["note"] = [{"text": "x" * (MAX_BODY + 10)}]
    r = client.post("/fhir/Observation", content=orjson.dumps(resource))
    assert r.status_code == 413
    assert outcome_of(r)["issue"][0]["code"] == "too-long"
    assert records_for(kafka_settings, Topics.OBSERVATIONS, patient) == []
    marker = resource["id"].encode()
    letters = [DeadLetter.model_validate_json(r.value) for r in read_all(kafka_settings, Topics.DEAD_LETTER,
                                                                          timeout_s=60)]
    mine = [letter for letter in letters if marker in letter.raw_payload()]
    assert len(mine) == 1, "an oversize body must leave one dead letter"
    assert mine[0].error_code == "body_too_large" and "truncated" in mine[0].error_message
    assert len(mine[0].raw_payload()) <= 4096


def test_metrics_need_a_token_unless_dev_mode(server: FhirServer) -> None:
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
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1500,
                         request_timeout_ms=2000, delivery_timeout_ms=3000, max_block_ms=1500)
    settings = FhirWorkerSettings(port=free_port(), dev_no_auth=True, retry_after_s=7)
    server = FhirServer(settings, dead, IngestSettings(send_timeout_s=2)).start()
    try:
        body = orjson.dumps(heart_rate_observation("p-" + uuid.uuid4().hex))
        r = server.client(None).post("/fhir/Observation", content=body)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "7"
        assert outcome_of(r)["issue"][0]["code"] == "transient"
    finally:
        server.stop()


def test_created_carries_a_location_naming_the_resource_version(client: httpx.Client) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = heart_rate_observation(patient)
    r = client.post("/fhir/Observation", content=orjson.dumps(resource))
    assert r.status_code == 201
    base = str(client.base_url).rstrip("/")
    assert r.headers["location"] == f"{base}/fhir/Observation/{resource['id']}/_history/1"
    anonymous = {k: v for k, v in heart_rate_observation(patient, value=93).items() if k not in ("id", "meta")}
    r = client.post("/fhir/Observation", content=orjson.dumps(anonymous))
    assert r.status_code == 201
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/fhir/Observation/[0-9a-f]{32}/_history/1", r.headers["location"])


def test_observation_without_code_is_400_at_code_not_accepted(client: httpx.Client,
                                                              kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = heart_rate_observation(patient)
    del resource["code"]
    r = client.post("/fhir/Observation", content=orjson.dumps(resource))
    assert r.status_code == 400, r.text
    (issue,) = outcome_of(r)["issue"]
    assert (issue["code"], issue["expression"]) == ("required", ["Observation.code"])
    assert "location" not in r.headers
    assert len(records_for(kafka_settings, Topics.DEAD_LETTER, f"Observation/{resource['id']}/_history/1")) == 1


def test_implausible_value_is_reported_at_the_value(client: httpx.Client) -> None:
    r = client.post("/fhir/Observation", content=orjson.dumps(heart_rate_observation("p-" + uuid.uuid4().hex,
                                                                                      value=900)))
    assert r.status_code == 422
    (issue,) = outcome_of(r)["issue"]
    assert issue["expression"] == ["Observation.valueQuantity.value"] and "implausible" in issue["diagnostics"]


def test_obs7_component_with_the_observation_code_is_refused(client: httpx.Client,
                                                             kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    resource = heart_rate_observation(patient)
    resource["component"] = [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {
            "value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": resource["code"], "valueQuantity": {"value": 95, "system": "http://unitsofmeasure.org",
                                                     "code": "/min"}}]
    r = client.post("/fhir/Observation", content=orjson.dumps(resource))
    assert r.status_code == 422
    (issue,) = outcome_of(r)["issue"]
    assert (issue["code"], issue["expression"]) == ("invariant", ["Observation.component[1].code"])
    assert "obs-7" in issue["diagnostics"]
    assert records_for(kafka_settings, Topics.OBSERVATIONS, patient) == []
    del resource["valueQuantity"]  # obs-7 allows the shared code once the top-level value is gone
    resource["id"] = uuid.uuid4().hex
    assert client.post("/fhir/Observation", content=orjson.dumps(resource)).status_code == 201


def test_transaction_with_a_patients_history_is_not_rejected_whole(client: httpx.Client,
                                                                   kafka_settings: KafkaSettings) -> None:
    patient = "p-" + uuid.uuid4().hex
    old_stay = {"resourceType": "Encounter", "id": uuid.uuid4().hex, "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": {"reference": f"Patient/{patient}"},
                "period": {"start": "1970-02-01T08:00:00Z", "end": "1970-02-09T12:00:00Z"}}
    old_patient = {"resourceType": "Patient", "id": patient, "meta": {"lastUpdated": "1971-01-01T00:00:00Z"},
                   "gender": "female", "birthDate": "1950-05-05"}
    bundle = {"resourceType": "Bundle", "id": uuid.uuid4().hex, "type": "transaction", "entry": [
        {"resource": old_patient, "request": {"method": "PUT", "url": f"Patient/{patient}"}},
        {"resource": old_stay, "request": {"method": "POST", "url": "Encounter"}},
        {"resource": heart_rate_observation(patient), "request": {"method": "POST", "url": "Observation"}}]}
    r = client.post("/fhir", content=orjson.dumps(bundle))
    assert r.status_code == 200, r.text
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == ["201 Created", "200 OK", "201 Created"]
    assert "historical" in r.json()["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"]
    assert len(records_for(kafka_settings, Topics.OBSERVATIONS, patient)) == 1
    # A measurement that old is still refused: the bound is for measurements.
    old_obs = heart_rate_observation(patient)
    old_obs["effectiveDateTime"] = "1970-02-01T08:00:00Z"
    r = client.post("/fhir/Observation", content=orjson.dumps(old_obs))
    assert r.status_code == 422 and "event_time_out_of_range" in outcome_of(r)["issue"][0]["diagnostics"]
