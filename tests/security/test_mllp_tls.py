"""MLLP over TLS with a client-certificate allow-list, against the running listener and the real broker.

Only a client whose certificate is signed by the configured CA AND names an allowed engine
gets an ACK. A CA-signed certificate with another name, a self-signed certificate that
claims the allowed name, no certificate at all, and a plaintext client get nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from ingest.adapters.mllp import MllpSettings
from sepsis_alert.kafka.config import KafkaSettings
from tests.adversarial.messages import unique, vitals_oru
from tests.adversarial.servers import Hl7WorkerThread, ack_code
from tests.ingest.adapters.harness import MllpClient
from tests.security.certs import Pki, make_pki

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_listener(pki: Pki, kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[int]:
    settings = MllpSettings(port=0, tls_certfile=pki.server_cert, tls_keyfile=pki.server_key,
                            tls_client_cafile=pki.ca, tls_allowed_clients=["allowed-engine"], idle_timeout_s=10)
    worker = Hl7WorkerThread(kafka_settings, settings)
    port = worker.start()
    try:
        yield port
    finally:
        worker.stop()


def _client_context(pki: Pki, client: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    if client is not None:
        cert, key = pki.clients[client]
        context.load_cert_chain(str(cert), str(key))
    return context


def _ack_or_none(port: int, context: ssl.SSLContext | None) -> str | None:
    """MSA-1 of the ACK, or None when the handshake fails or the server closes without answering."""
    try:
        client = MllpClient("127.0.0.1", port, timeout_s=20, tls=context)
    except (ssl.SSLError, OSError):
        return None
    try:
        return ack_code(client.send(vitals_oru(control_id=unique(), mrn=unique("P"))))
    except (ssl.SSLError, OSError, ConnectionError):
        return None
    finally:
        client.close()


def test_allowed_client_certificate_gets_aa(tls_listener: int, pki: Pki) -> None:
    assert _ack_or_none(tls_listener, _client_context(pki, "allowed-engine")) == "AA"


def test_ca_signed_certificate_not_in_allow_list_is_refused(tls_listener: int, pki: Pki) -> None:
    assert _ack_or_none(tls_listener, _client_context(pki, "other-engine")) is None


def test_self_signed_certificate_claiming_an_allowed_name_is_refused(tls_listener: int, pki: Pki) -> None:
    assert _ack_or_none(tls_listener, _client_context(pki, "rogue-engine")) is None


def test_client_without_certificate_is_refused(tls_listener: int, pki: Pki) -> None:
    assert _ack_or_none(tls_listener, _client_context(pki, None)) is None


def test_plaintext_client_gets_no_ack(tls_listener: int) -> None:
    assert _ack_or_none(tls_listener, None) is None


def test_tls_listener_refuses_old_protocol_versions(tls_listener: int, pki: Pki) -> None:
    context = _client_context(pki, "allowed-engine")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    assert _ack_or_none(tls_listener, context) is None


def test_certificate_files_are_never_required_in_the_repository() -> None:
    """The default listener has no TLS material configured (deployments mount their own)."""
    defaults = MllpSettings()
    assert defaults.tls_certfile is None and defaults.tls_client_cafile is None
