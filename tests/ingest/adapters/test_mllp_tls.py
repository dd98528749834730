"""MLLP over TLS with a client-certificate allow-list (certificates made with the openssl CLI)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import END_BLOCK, MllpSettings, frame
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import WorkerThread, ack_fields, unique_id
from tests.ingest.core.samples import ADT_A01, with_ids

pytestmark = pytest.mark.integration


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=test-ca", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("engine-a", []), ("engine-b", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_listener(pki: Path, kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[int]:
    producer = EventProducer(kafka_settings)
    ingest = IngestSettings(send_timeout_s=20)
    settings = Hl7WorkerSettings(mllp=MllpSettings(
        port=0, tls_certfile=pki / "server.pem", tls_keyfile=pki / "server.key",
        tls_client_cafile=pki / "ca.pem", tls_allowed_clients=["engine-a"]))
    thread = WorkerThread(lambda: Hl7Worker(ingest, settings, KafkaEventSink(
        producer, raw_topic=settings.raw_topic, timeout_s=20)))
    port = thread.start()
    try:
        yield port
    finally:
        thread.stop()
        producer.close()


def _client(pki: Path, port: int, cert: str | None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        context.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _exchange(sock: ssl.SSLSocket, message: bytes) -> bytes:
    sock.sendall(frame(message))
    buffer = b""
    while END_BLOCK not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    return buffer[1:buffer.index(END_BLOCK)]


def test_allowed_client_certificate_gets_aa(pki: Path, tls_listener: int) -> None:
    msg_id = unique_id("TLS")
    with _client(pki, tls_listener, "engine-a") as sock:
        assert ack_fields(_exchange(sock, with_ids(ADT_A01, msg_id, unique_id("MRN"))))["MSA"][1:3] == ["AA", msg_id]


def test_certificate_not_in_the_allow_list_is_disconnected(pki: Path, tls_listener: int) -> None:
    with _client(pki, tls_listener, "engine-b") as sock, pytest.raises((ConnectionError, ssl.SSLError, OSError)):
        _exchange(sock, with_ids(ADT_A01, unique_id("TLS"), unique_id("MRN")))


def test_client_without_certificate_is_refused(pki: Path, tls_listener: int) -> None:
    with pytest.raises((ConnectionError, ssl.SSLError, OSError)), _client(pki, tls_listener, None) as sock:
        _exchange(sock, with_ids(ADT_A01, unique_id("TLS"), unique_id("MRN")))
