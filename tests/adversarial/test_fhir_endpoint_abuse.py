"""The running FHIR endpoint under hostile requests, against the real broker.

* No body ever gets a 5xx (a 503 is reserved for Kafka being down, which it is not here).
* Every 400/422 carries an OperationOutcome and leaves a dead letter with the raw body and a reason.
* An oversize body gets 413 (with and without Content-Length) and is dead-lettered with its reason.
* Slow-loris clients holding half-sent requests do not stop a good client.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from devstack.broker import free_port
from ingest.fhir_worker import FhirWorkerSettings
from sepsis_alert.kafka.config import KafkaSettings
from tests.adversarial.messages import HEART_RATE, TEMPERATURE, observation, unique
from tests.adversarial.servers import wait_for_dead_letters
from tests.ingest.adapters.fhir_harness import FhirServer

pytestmark = pytest.mark.integration

TOKEN = "adv-token-" + uuid.uuid4().hex
MAX_BODY = 64 * 1024
HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def fhir(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[FhirServer]:
    server = FhirServer(FhirWorkerSettings(port=free_port(), tokens=SecretStr(TOKEN), max_body_bytes=MAX_BODY),
                        kafka_settings).start()
    try:
        yield server
    finally:
        server.stop()


def _hostile_bodies() -> dict[str, bytes]:
    def obs(**kw: object) -> bytes:
        return json.dumps(observation(rid=unique("o"), patient=unique("p"), **kw)).encode()  # type: ignore[arg-type]

    tag = unique().encode()
    return {
        "not json": b"{not json " + tag,
        "invalid utf-8": b'{"resourceType":"Observation","id":"\xff\xfe' + tag + b'"}',
        "array": b'["' + tag + b'"]',
        "deep nesting": b'{"resourceType":"Observation","id":"' + tag + b'","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        "NaN literal": obs(value=0).replace(b'"value": 0', b'"value": NaN'),
        "huge number": obs(value=0).replace(b'"value": 0', b'"value": 1' + b"0" * 400),
        "heart rate 900": obs(value=900),
        "degF labelled Cel": obs(code=TEMPERATURE, value=101.3, unit_code="Cel"),
        "huge degF": obs(code=TEMPERATURE, value=1.8e26, unit_code="[degF]"),
        "unknown unit": obs(unit_code="furlongs"),
        "missing subject": json.dumps(observation(rid=unique("o"), patient=None)).encode(),
        "wrong type for value": obs(value="ninety"),
        "resource not a FHIR type": b'{"resourceType":"Sepsis","id":"' + tag + b'"}',
    }


def test_hostile_bodies_get_4xx_outcome_and_a_dead_letter(fhir: FhirServer, kafka_settings: KafkaSettings) -> None:
    bodies = _hostile_bodies()
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=fhir.base_url, timeout=60) as client:
        for name, body in bodies.items():
            response = client.post("/fhir/Observation", content=body, headers=HEADERS)
            statuses[name] = response.status_code
            if response.status_code in (400, 422):
                assert response.json().get("resourceType") == "OperationOutcome", name
    assert {n: s for n, s in statuses.items() if s not in (400, 422)} == {}, "hostile body not answered 400/422"
    found = wait_for_dead_letters(kafka_settings, bodies.values(), lambda sent, raw: sent == raw)
    missing = [name for name, body in bodies.items() if found[body] is None]
    assert missing == [], f"rejected without a dead letter: {missing}"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
        ["resourceType", "id", "status", "code", "subject", "valueQuantity", "effectiveDateTime", "entry", "type",
         "resource", "request", "component", "value", "coding", "system", "reference"]), c, max_size=4),
    max_leaves=20)


@settings(max_examples=40, deadline=timedelta(seconds=60),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/fhir/Observation", "/fhir", "/fhir/$subscription-notification", "/fhir/Patient"]),
       doc=_JSONISH, resource_type=st.sampled_from([None, "Observation", "Bundle", "Patient", "Parameters"]))
def test_fuzzed_json_never_gets_a_5xx(fhir: FhirServer, path: str, doc: object, resource_type: str | None) -> None:
    if resource_type is not None and isinstance(doc, dict):
        doc = {**doc, "resourceType": resource_type}
    with httpx.Client(base_url=fhir.base_url, timeout=60) as client:
        response = client.post(path, content=json.dumps(doc).encode(), headers=HEADERS)
    assert response.status_code < 500, f"{response.status_code} for {doc!r}: {response.text[:300]}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_body_gets_413_and_a_dead_letter(fhir: FhirServer, kafka_settings: KafkaSettings,
                                                  chunked: bool) -> None:
    marker = unique("BIG").encode()
    body = b'{"resourceType":"Observation","id":"' + marker + b'","note":"' + b"x" * (MAX_BODY * 2) + b'"}'
    with httpx.Client(base_url=fhir.base_url, timeout=60) as client:
        content = iter([body[i:i + 8192] for i in range(0, len(body), 8192)]) if chunked else body
        response = client.post("/fhir/Observation", content=content, headers=HEADERS)
    assert response.status_code == 413
    found = wait_for_dead_letters(kafka_settings, [marker], lambda m, raw: m in raw[:4096], timeout_s=20)
    assert found[marker] is not None, "an oversize body was refused without a dead letter saying so"


def test_half_sent_requests_do_not_block_a_good_client(fhir: FhirServer) -> None:
    holders = []
    try:
        for i in range(40):
            sock = socket.create_connection(("127.0.0.1", fhir.settings.port), timeout=10)
            if i % 2:
                sock.sendall(b"POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Le")  # headers never end
            else:
                sock.sendall(b"POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                             b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 5000\r\n\r\n{")
            holders.append(sock)
        body = json.dumps(observation(rid=unique("o"), patient=unique("p"), code=HEART_RATE)).encode()
        with httpx.Client(base_url=fhir.base_url, timeout=60) as client:
            assert client.post("/fhir/Observation", content=body, headers=HEADERS).status_code == 201
    finally:
        for sock in holders:
            sock.close()
