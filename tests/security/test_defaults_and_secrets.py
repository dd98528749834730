"""Safe defaults and secret handling.

* Every listener binds 127.0.0.1 unless told otherwise.
* Binding a non-loopback address without credentials is a start-up error (notifier API).
* Kafka SASL / TLS settings pass through to the clients, and the SASL password never shows in a repr.
* The FHIR worker, run as a real process, never writes a bearer token (right or wrong) to its output.
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from devstack.broker import free_port
from ingest.adapters.mllp import MllpSettings
from ingest.fhir_worker import FhirWorkerSettings
from ingest.metrics_hl7 import Hl7Metrics
from notifier.config import NotifierSettings
from sepsis_alert.cli import build_parser
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.settings import OpsSettings
from tests.adversarial.messages import observation, unique

LOOPBACK = "127.0.0.1"


def test_every_listener_binds_loopback_by_default() -> None:
    assert MllpSettings().host == LOOPBACK
    assert FhirWorkerSettings(dev_no_auth=True).host == LOOPBACK
    assert NotifierSettings().api_host == LOOPBACK
    assert OpsSettings().host == LOOPBACK
    assert inspect.signature(Hl7Metrics.serve).parameters["host"].default == LOOPBACK


def test_cli_defaults_bind_loopback() -> None:
    parser = build_parser()
    # None = the settings' default (FhirWorkerSettings / MllpSettings), so SEPSIS_*_HOST is not hidden by a flag
    assert parser.parse_args(["ingest-fhir"]).host is None
    assert FhirWorkerSettings(dev_no_auth=True).host == LOOPBACK
    hl7 = parser.parse_args(["ingest-hl7"])
    assert hl7.host in (None, LOOPBACK)  # None = MllpSettings default, checked above


def test_notifier_api_on_a_public_address_requires_a_token() -> None:
    """The ack/silence API must not be reachable without authentication outside local use."""
    with pytest.raises(ValidationError):
        NotifierSettings(api_host="0.0.0.0", link_secret=SecretStr("s" * 32))
    assert NotifierSettings(api_host="0.0.0.0", api_token=SecretStr("t" * 32), link_secret=SecretStr("s" * 32))


def test_notifier_refuses_the_shipped_link_secret_on_a_public_address() -> None:
    """Ack links signed with the well-known development secret could be forged by anyone."""
    with pytest.raises(ValidationError):
        NotifierSettings(api_host="0.0.0.0", api_token=SecretStr("t" * 32))


def test_kafka_sasl_and_tls_settings_reach_the_clients(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real CA; only the path is passed through")
    password = "sasl-" + uuid.uuid4().hex
    settings = KafkaSettings(bootstrap_servers="broker-1:9093", security_protocol="SASL_SSL",
                             sasl_mechanism="SCRAM-SHA-512", sasl_username="sepsis",
                             sasl_password=SecretStr(password), ssl_cafile=ca)
    kwargs = settings.producer_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "sepsis" and kwargs["sasl_plain_password"] == password
    assert kwargs["ssl_cafile"] == str(ca)
    assert password not in repr(settings) and password not in str(settings.model_dump())


@pytest.mark.integration
def test_fhir_worker_process_never_logs_tokens(kafka_settings: KafkaSettings, kafka_topics: dict[str, str],
                                                tmp_path: Path) -> None:
    token = "fhir-secret-" + uuid.uuid4().hex
    wrong = "wrong-secret-" + uuid.uuid4().hex
    port = free_port()
    env = {**os.environ, "SEPSIS_FHIR_TOKENS": token, "PYTHONUNBUFFERED": "1", "SEPSIS_OPS_PORT": "0",
           "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers}
    log = tmp_path / "fhir.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", "ingest-fhir", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/fhir/metadata", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
                time.sleep(0.3)
        body = observation(rid=unique("o"), patient=unique("p"))
        with httpx.Client(base_url=base, timeout=60) as client:
            for bearer in (token, wrong):
                client.post("/fhir/Observation", json=body,
                            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/fhir+json"})
            client.post("/fhir/Observation", content=b"{broken", headers={"Authorization": f"Bearer {wrong}",
                                                                          "Content-Type": "application/fhir+json"})
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    output = log.read_text(errors="replace")
    assert output, "the worker wrote nothing at all (is logging configured?)"
    assert token not in output and wrong not in output, "a bearer token appeared in the worker's output"
