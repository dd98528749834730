"""Authentication on every HTTP surface outside local-development mode, over real servers on 127.0.0.1.

FHIR endpoint: no token / unknown token -> 401 with an OperationOutcome; a read-only token
-> 403; the worker refuses to start without tokens unless --dev. Its /metrics must not be
readable anonymously either. Notifier API: acknowledgements and silences need the bearer
token; the signed phone link acknowledges only its own episode, only before it expires, and
only by POST.
"""

from __future__ import annotations

import html
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from pydantic import SecretStr, ValidationError

from devstack.broker import free_port
from ingest.fhir_worker import FhirWorkerSettings
from notifier.adapters.http_api import create_api
from notifier.core.links import ack_token
from notifier.core.model import AckEvent
from notifier.core.silence import Silence, SilenceRequest, new_silence
from sepsis_alert.kafka.config import KafkaSettings
from tests.adversarial.messages import observation, unique
from tests.ingest.adapters.fhir_harness import FhirServer

WRITE = "sec-write-" + uuid.uuid4().hex
READ = "sec-read-" + uuid.uuid4().hex
API_TOKEN = "sec-api-" + uuid.uuid4().hex
LINK_SECRET = "sec-link-" + uuid.uuid4().hex


# ------------------------------------------------------------------------------------------- FHIR


@pytest.fixture(scope="module")
def fhir(kafka_settings: KafkaSettings, kafka_topics: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    secrets = tmp_path_factory.mktemp("fhir-tokens") / "tokens"
    secrets.write_text(f"{READ} read\n")
    server = FhirServer(FhirWorkerSettings(port=free_port(), tokens=SecretStr(WRITE), tokens_file=secrets),
                        kafka_settings).start()
    try:
        yield server
    finally:
        server.stop()


def _post(server: FhirServer, headers: dict[str, str]) -> httpx.Response:
    body = observation(rid=unique("o"), patient=unique("p"))
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        return client.post("/fhir/Observation", json=body,
                           headers={"Content-Type": "application/fhir+json", **headers})


@pytest.mark.integration
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer " + "x" * 40}, {"Authorization": WRITE},
                                     {"Authorization": f"Basic {WRITE}"}, {"Authorization": "Bearer   x"}],
                         ids=["none", "unknown", "no-scheme", "basic", "blank"])
def test_fhir_post_without_a_valid_token_is_401(fhir: FhirServer, headers: dict[str, str]) -> None:
    response = _post(fhir, headers)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "bearer" in response.headers.get("www-authenticate", "").lower()
    assert WRITE not in response.text


@pytest.mark.integration
def test_fhir_read_only_token_cannot_write(fhir: FhirServer) -> None:
    assert _post(fhir, {"Authorization": f"Bearer {READ}"}).status_code == 403


@pytest.mark.integration
def test_fhir_write_token_is_accepted(fhir: FhirServer) -> None:
    assert _post(fhir, {"Authorization": f"Bearer {WRITE}"}).status_code == 201


@pytest.mark.integration
def test_fhir_metrics_are_not_anonymous_outside_dev_mode(fhir: FhirServer) -> None:
    with httpx.Client(base_url=fhir.base_url, timeout=30) as client:
        anonymous = client.get("/metrics")
    assert anonymous.status_code in (401, 403, 404), (
        f"/metrics on the FHIR port answered {anonymous.status_code} without a token (auth is on)")


def test_fhir_worker_refuses_to_start_without_tokens() -> None:
    with pytest.raises(ValidationError, match="token"):
        FhirWorkerSettings(_env_file=None)  # type: ignore[call-arg]
    assert FhirWorkerSettings(dev_no_auth=True).dev_no_auth


# --------------------------------------------------------------------------------- notifier API


class AckRecorder:
    """The notifier side of the API, reduced to recording what the HTTP layer let through."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, str]] = []
        self.silences: dict[str, Silence] = {}

    def now_s(self) -> float:
        return time.time()

    async def acknowledge(self, episode_id: str, acked_by: str, via: str, resolved: bool = False,
                          snooze_s: float | None = None) -> AckEvent:
        self.acks.append((episode_id, via))
        return AckEvent(episode_id=episode_id, acked_by=acked_by, via=via,  # type: ignore[arg-type]
                        acked_at_s=self.now_s(), resolved=resolved)

    async def create_silence(self, request: SilenceRequest) -> Silence:
        silence = new_silence(request, self.now_s(), 3600 * 12)
        self.silences[silence.id] = silence
        return silence

    def list_silences(self) -> list[Silence]:
        return list(self.silences.values())

    async def expire_silence(self, silence_id: str, by: str) -> Silence | None:
        return self.silences.pop(silence_id, None)


class ApiServer:
    def __init__(self) -> None:
        self.service = AckRecorder()
        self.port = free_port()
        app = create_api(self.service, SecretStr(LINK_SECRET), SecretStr(API_TOKEN), None)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "notifier API did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
SILENCE: dict[str, Any] = {"unit": "MICU", "duration_s": 600, "created_by": "tester",
                           "reason": "downtime"}


def test_ack_api_requires_the_token(api: ApiServer) -> None:
    with api.client() as client:
        assert client.post("/ack/ep-1").status_code == 401
        assert client.post("/ack/ep-1", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post("/ack/ep-1", headers=BEARER).status_code == 200
    assert api.service.acks == [("ep-1", "api")]


def test_silence_api_requires_the_token(api: ApiServer) -> None:
    with api.client() as client:
        assert client.post("/silences", json=SILENCE).status_code == 401
        created = client.post("/silences", json=SILENCE, headers=BEARER)
        assert created.status_code == 201, created.text
        silence_id = created.json()["id"]
        assert client.delete(f"/silences/{silence_id}").status_code == 401
        assert client.delete(f"/silences/{silence_id}", headers=BEARER).status_code == 200


def test_silence_list_requires_the_token(api: ApiServer) -> None:
    """Silences name units, patients and reasons: listing them is not for anonymous callers."""
    with api.client() as client:
        assert client.get("/silences").status_code == 401
        assert client.get("/silences", headers=BEARER).status_code == 200


def test_signed_link_acknowledges_only_its_episode_only_before_expiry_only_by_post(api: ApiServer) -> None:
    now = int(time.time())
    good = ack_token(LINK_SECRET.encode(), "ep-link", now + 600)
    expired = ack_token(LINK_SECRET.encode(), "ep-link", now - 1)
    forged = ack_token(b"another-secret-entirely", "ep-link", now + 600)
    before = list(api.service.acks)
    with api.client() as client:
        assert client.get(f"/ack/ep-link?t={good}").status_code == 200  # confirmation page only
        assert api.service.acks == before, "a GET (link preview) acknowledged"
        assert client.post(f"/ack/ep-other?t={good}").status_code == 403  # replay for another episode
        assert client.post(f"/ack/ep-link?t={expired}").status_code == 403
        assert client.post(f"/ack/ep-link?t={forged}").status_code == 403
        assert client.post(f"/ack/ep-link?t={good[:-2]}").status_code == 403  # tampered signature
        assert client.post(f"/ack/ep-link?t={now + 10**6}.{good.split('.')[1]}").status_code == 403  # longer life
        assert api.service.acks == before
        assert client.post(f"/ack/ep-link?t={good}").status_code == 200
    assert api.service.acks == [*before, ("ep-link", "link")]


def test_pagerduty_webhook_without_a_valid_signature_is_refused() -> None:
    service = AckRecorder()
    app = create_api(service, SecretStr(LINK_SECRET), SecretStr(API_TOKEN), SecretStr("pd-secret-123456"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        body = b'{"event":{"event_type":"incident.acknowledged","data":{"incident_key":"ep-pd"}}}'
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert client.post("/webhooks/pagerduty", content=body).status_code == 401
            assert client.post("/webhooks/pagerduty", content=body,
                               headers={"X-PagerDuty-Signature": "v1=" + "0" * 64}).status_code == 401
        assert service.acks == []
    finally:
        server.should_exit = True
        thread.join(15)


def test_ack_page_escapes_a_hostile_episode_and_its_form_posts_back_to_it(api: ApiServer) -> None:
    episode = "ep-<img src=x onerror=alert('x')>&\"#1?"  # no "/": a path segment cannot hold one
    token = ack_token(LINK_SECRET.encode(), episode, int(time.time()) + 600)
    with api.client() as client:
        page = client.get(f"/ack/{quote(episode, safe='')}", params={"t": token})
        assert page.status_code == 200
        assert "<img" not in page.text and "&lt;img src=x" in page.text
        [action] = re.findall(r"action='([^']*)'", page.text)
        assert client.post(html.unescape(action)).status_code == 200
    assert api.service.acks[-1] == (episode, "link")
