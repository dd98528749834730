"""KafkaSettings: environment, validation and the kwargs handed to kafka-python (no broker needed)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from sepsis_alert.kafka.config import KafkaSettings


def test_defaults_match_the_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SEPSIS_KAFKA_"):
            monkeypatch.delenv(name)
    kwargs = KafkaSettings().client_kwargs()
    assert kwargs["bootstrap_servers"] == ["127.0.0.1:9092"]
    assert kwargs["security_protocol"] == "PLAINTEXT"
    assert not any(key.startswith(("sasl_", "ssl_")) for key in kwargs)


def test_environment_and_sasl_ssl_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", "k1:9093, k2:9093")
    monkeypatch.setenv("SEPSIS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SEPSIS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SEPSIS_KAFKA_SASL_USERNAME", "sepsis")
    monkeypatch.setenv("SEPSIS_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("SEPSIS_KAFKA_SSL_CAFILE", "/etc/kafka/ca.pem")
    settings = KafkaSettings()
    assert "s3cret" not in repr(settings)
    kwargs = settings.producer_kwargs()
    assert kwargs["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "sepsis"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert kwargs["ssl_cafile"] == "/etc/kafka/ca.pem"
    assert kwargs["delivery_timeout_ms"] == settings.delivery_timeout_ms
    assert settings.with_bootstrap("k3:9093").client_kwargs()["sasl_plain_password"] == "s3cret"


@pytest.mark.parametrize("bad", [
    {"bootstrap_servers": "no-port"},
    {"bootstrap_servers": " , "},
    {"security_protocol": "SASL_SSL"},
    {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
    {"delivery_timeout_ms": 1000, "request_timeout_ms": 5000},
    {"ssl_keyfile": "/k.pem"},
])
def test_invalid_settings_are_rejected(bad: dict[str, str | int]) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(**bad)  # type: ignore[arg-type]
