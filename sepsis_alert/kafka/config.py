"""Connection settings shared by every Kafka client of the service.

Values come from keyword arguments first, then from environment variables
prefixed `SEPSIS_KAFKA_` (e.g. `SEPSIS_KAFKA_BOOTSTRAP_SERVERS=kafka-1:9093,kafka-2:9093`,
`SEPSIS_KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `SEPSIS_KAFKA_SASL_PASSWORD=...`), then
from the defaults below, which match the local developer broker (`make kafka-up`).

All durations are in milliseconds (`*_ms`), as in Kafka's own configuration.
Secrets stay wrapped in `SecretStr` (never printed in reprs or logs) and are
unwrapped only inside `client_kwargs()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KafkaSettings", "SaslMechanism", "SecurityProtocol"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster and how long to wait for it (environment prefix `SEPSIS_KAFKA_`)."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_KAFKA_", extra="ignore", frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="comma-separated host:port list used for the first connection; "
                    "the rest of the cluster is discovered from it",
    )
    client_id: str = Field(
        default="sepsis-alert",
        min_length=1,
        max_length=128,
        description="client id sent to the broker; shows up in broker logs, quotas and metrics",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT (local broker only), SSL (TLS), SASL_PLAINTEXT or SASL_SSL "
                    "(SASL authentication, with TLS for SASL_SSL)",
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        description="SASL mechanism for SASL_* protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    sasl_username: str | None = Field(default=None, description="SASL user name (SASL_* protocols only)")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (SASL_* protocols only); never logged"
    )
    ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CA(s) that signed the brokers' certificates (SSL / SASL_SSL)"
    )
    ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require mutual TLS"
    )
    ssl_keyfile: Path | None = Field(default=None, description="PEM private key of `ssl_certfile`")
    ssl_check_hostname: bool = Field(
        default=True, description="verify that the broker certificate matches its host name (keep True)"
    )
    request_timeout_ms: int = Field(
        default=15_000,
        gt=1_000,
        description="milliseconds to wait for the response to one request before it is retried or failed",
    )
    delivery_timeout_ms: int = Field(
        default=30_000,
        gt=0,
        description="producer: milliseconds after which a record that is still not acknowledged "
                    "(broker down, leader missing) is failed by the producer's background retries; "
                    "must be >= request_timeout_ms",
    )
    max_block_ms: int = Field(
        default=10_000,
        gt=0,
        description="producer: upper bound in milliseconds for send() blocking on missing topic metadata; "
                    "EventProducer.send_all further caps it with its own timeout",
    )
    bootstrap_timeout_ms: int = Field(
        default=10_000,
        gt=0,
        description="milliseconds a new client waits for its first successful connection before failing",
    )
    reconnect_backoff_max_ms: int = Field(
        default=1_000,
        gt=0,
        description="maximum milliseconds between reconnection attempts to a broker that went away; "
                    "kept short so clients resume quickly after a broker restart",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("bootstrap_servers: at least one host:port is required")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"bootstrap_servers: {server!r} is not host:port")
        return ",".join(servers)

    @model_validator(mode="after")
    def _check_security(self) -> Self:
        if self.security_protocol.startswith("SASL_"):
            if self.sasl_mechanism is None:
                raise ValueError(f"sasl_mechanism is required with security_protocol={self.security_protocol}")
            if not self.sasl_username or self.sasl_password is None:
                raise ValueError(f"sasl_username and sasl_password are required with "
                                 f"security_protocol={self.security_protocol}")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile given without ssl_certfile")
        if self.delivery_timeout_ms < self.request_timeout_ms:
            raise ValueError(f"delivery_timeout_ms ({self.delivery_timeout_ms}) must be >= "
                             f"request_timeout_ms ({self.request_timeout_ms})")
        return self

    @property
    def uses_tls(self) -> bool:
        """True when connections are encrypted (SSL or SASL_SSL)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """True when connections authenticate with SASL."""
        return self.security_protocol.startswith("SASL_")

    def bootstrap_list(self) -> list[str]:
        """`bootstrap_servers` as a list of host:port strings."""
        return self.bootstrap_servers.split(",")

    def with_bootstrap(self, bootstrap_servers: str) -> KafkaSettings:
        """A copy of these settings pointed at other brokers (validated like the original)."""
        data = self.model_dump()
        data["bootstrap_servers"] = bootstrap_servers
        return type(self).model_validate(data)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments accepted by every kafka-python client (producer, consumer, admin).

        TLS and SASL options are included only when the security protocol uses
        them; the SASL password is unwrapped here and nowhere else.
        """
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_list(),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
            "bootstrap_timeout_ms": self.bootstrap_timeout_ms,
            "reconnect_backoff_max_ms": self.reconnect_backoff_max_ms,
        }
        if self.uses_tls:
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, name)
                if path is not None:
                    kwargs[name] = str(path)
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password is not None else None
            )
        return kwargs

    def producer_kwargs(self) -> dict[str, Any]:
        """`client_kwargs()` plus the producer-only timeouts (delivery_timeout_ms, max_block_ms)."""
        kwargs = self.client_kwargs()
        kwargs["delivery_timeout_ms"] = self.delivery_timeout_ms
        kwargs["max_block_ms"] = self.max_block_ms
        return kwargs
