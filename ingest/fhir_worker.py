"""Settings and wiring of the FHIR ingest worker (`sepsis-alert ingest-fhir`).

Settings come from the environment (prefix SEPSIS_FHIR_) and command-line flags.
Bearer tokens are secrets: they come from `SEPSIS_FHIR_TOKENS` (comma-separated) or
from a secrets file (`SEPSIS_FHIR_TOKENS_FILE`, one token per line, `#` comments;
a line `<token> read` grants metadata only), never from a config file, and are
never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.config import IngestSettings
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.readiness import ReadinessRegistry
from sepsis_alert.ops.redaction import Redactor
from sepsis_alert.ops.settings import OpsSettings, is_loopback_host

__all__ = ["FhirWorkerSettings", "TokenTable", "load_tokens", "make_fetcher", "run_worker"]

log = logging.getLogger(__name__)


class FhirWorkerSettings(BaseSettings):
    """HTTP side of the FHIR worker (env prefix SEPSIS_FHIR_)."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_FHIR_", extra="forbid")

    host: str = Field(default="127.0.0.1", description="address to bind; 127.0.0.1 keeps it local")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0 = any free port)")
    base_path: str = Field(default="/fhir", pattern=r"^/[A-Za-z0-9_/-]*[A-Za-z0-9_-]$",
                           description="FHIR base path; resources are posted under it")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0, le=256 * 1024 * 1024,
                                description="largest accepted request body in bytes (413 above)")
    dev_no_auth: bool = Field(default=False,
                              description="local development only: accept requests without a bearer token")
    tokens: SecretStr | None = Field(default=None, description="comma-separated bearer tokens with write access")
    tokens_file: Path | None = Field(default=None,
                                     description="secrets file: one bearer token per line, optional ' read' "
                                                 "suffix for metadata-only tokens")
    tls_certfile: Path | None = Field(default=None, description="PEM certificate: serve HTTPS when set")
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of tls_certfile")
    dedup_capacity: int = Field(default=100_000, ge=0, le=10_000_000,
                                description="how many accepted resource ids/identifiers are remembered to answer "
                                            "a duplicate POST with 200 (0 disables)")
    load_dedup_on_start: bool = Field(default=True,
                                      description="reload the keys of accepted resources from the ingest-dedup topic "
                                                  "at start-up, so duplicates are recognised across restarts")
    retry_after_s: int = Field(default=10, ge=1, le=3600,
                               description="seconds in the Retry-After header of a 503 (Kafka unavailable)")
    worker_name: str = Field(default="fhir-http", min_length=1, max_length=64,
                             description="worker name written into dead letters")
    fetch_base_urls: str = Field(
        default="", description="comma-separated FHIR base URLs that id-only Subscription notifications may be read "
                                "from (e.g. https://ehr.example/fhir); empty: id-only notifications are rejected "
                                "(422) and dead-lettered")
    fetch_token: SecretStr | None = Field(default=None,
                                          description="bearer token for reading id-only resources from the EHR")
    fetch_token_file: Path | None = Field(default=None,
                                          description="secrets file holding the id-only fetch bearer token")
    fetch_timeout_s: float = Field(default=5.0, gt=0, le=60,
                                   description="seconds allowed per id-only resource read (503 to the sender after)")
    fetch_concurrency: int = Field(default=4, ge=1, le=64,
                                   description="id-only resource reads in flight at once per notification")
    fetch_ca_file: Path | None = Field(default=None,
                                       description="PEM CA bundle to verify the EHR's TLS certificate (default: "
                                                   "the system store)")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        if self.dev_no_auth and not is_loopback_host(self.host):
            raise ValueError(f"dev_no_auth (--dev) accepts requests without a token: it is refused on host "
                             f"{self.host!r}, which is not a loopback address; set SEPSIS_FHIR_TOKENS or "
                             f"SEPSIS_FHIR_TOKENS_FILE instead")
        if not self.dev_no_auth and self.tokens is None and self.tokens_file is None:
            raise ValueError("no bearer tokens configured: set SEPSIS_FHIR_TOKENS or SEPSIS_FHIR_TOKENS_FILE "
                             "(or --dev for local development without authentication)")
        for base in self.fetch_bases():
            if not base.startswith("https://") and not self.dev_no_auth and "://127.0.0.1" not in base:
                raise ValueError(f"fetch_base_urls: {base!r} is not https (plain http only for 127.0.0.1 or --dev)")
        if self.fetch_token is not None and self.fetch_token_file is not None:
            raise ValueError("set fetch_token or fetch_token_file, not both")
        return self

    def fetch_bases(self) -> tuple[str, ...]:
        """The id-only fetch base URLs, normalised (scheme://host/path/)."""
        from ingest.core.fhir.id_only import normalise_base_url

        return tuple(normalise_base_url(b) for b in self.fetch_base_urls.split(",") if b.strip())

    def fetch_token_value(self) -> str | None:
        """The id-only fetch token from the environment or its secrets file (first non-comment line)."""
        if self.fetch_token is not None:
            return self.fetch_token.get_secret_value().strip() or None
        if self.fetch_token_file is not None:
            for line in self.fetch_token_file.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    return line
        return None


class TokenTable:
    """Known bearer tokens and whether each may write (constant-time comparison)."""

    def __init__(self, write: set[str], read_only: set[str]) -> None:
        self._write = frozenset(write)
        self._read = frozenset(read_only)

    def __len__(self) -> int:
        return len(self._write) + len(self._read)

    def check(self, token: str) -> str | None:
        """'write', 'read' or None for an unknown token."""
        import hmac

        found: str | None = None
        for known in self._write:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = "write"
        for known in self._read:
            if found is None and hmac.compare_digest(known.encode(), token.encode()):
                found = "read"
        return found


def load_tokens(settings: FhirWorkerSettings) -> TokenTable:
    """Tokens from the environment and the secrets file (the file is read once, at start-up)."""
    write: set[str] = set()
    read_only: set[str] = set()
    if settings.tokens is not None:
        write |= {t.strip() for t in settings.tokens.get_secret_value().split(",") if t.strip()}
    if settings.tokens_file is not None:
        for line in settings.tokens_file.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            token, _, role = line.partition(" ")
            (read_only if role.strip() == "read" else write).add(token)
    if not settings.dev_no_auth and not write:
        raise ValueError("the configured token sources hold no write token")
    return TokenTable(write, read_only)


def run_worker(settings: FhirWorkerSettings, ingest: IngestSettings | None = None,
               kafka: KafkaSettings | None = None, *, ops: OpsSettings | None = None,
               redactor: Redactor | None = None) -> None:
    """Start the FHIR HTTP endpoint and its ops server; serve until SIGINT/SIGTERM (uvicorn)."""
    import uvicorn

    from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
    from ingest.adapters.kafka_sink import ingest_producer_settings
    from ingest.metrics_fhir import FhirMetrics
    from sepsis_alert.kafka.producer import EventProducer
    from sepsis_alert.ops.http import start_ops_server_from_settings
    from sepsis_alert.ops.kafka_probe import KafkaProbe

    ingest = ingest or IngestSettings()
    kafka = kafka or KafkaSettings()
    tokens = load_tokens(settings)
    if redactor is not None:
        for secret in _secrets_of(settings, kafka):
            redactor.add_secret(secret)
    if settings.dev_no_auth:
        log.warning("FHIR endpoint running WITHOUT authentication (--dev); never expose it")
    readiness = ReadinessRegistry()
    readiness.register("listener_bound")
    # delivery bounded by the send timeout: a write answered 503 must not land behind the client's back
    producer = EventProducer(ingest_producer_settings(kafka, ingest.send_timeout_s))
    # Reachable cluster AND a producer that is not wedged (issue #20), checked every 2 s.
    probe = KafkaProbe(kafka, readiness, interval_s=2.0, writer=producer.problem).start()
    metrics = FhirMetrics()
    ops_server = None
    if ops is not None and ops.enabled:
        ops_server = start_ops_server_from_settings(ops, readiness=readiness, registry=metrics.registry,
                                                    worker="ingest-fhir")
    seen_keys: list[str] = []
    if settings.load_dedup_on_start and settings.dedup_capacity > 0:
        from ingest.adapters.dedup import load_fhir_keys

        seen_keys = load_fhir_keys(kafka)[-settings.dedup_capacity:]
        log.info("loaded %d duplicate keys of accepted resources from Kafka", len(seen_keys))
    try:
        app = create_app(settings, ingest, KafkaFhirSink(producer, ingest.send_timeout_s), tokens, metrics,
                         make_fetcher(settings), seen_keys)
        server = uvicorn.Server(uvicorn_config(app, settings))
        log.info("FHIR endpoint on %s:%d%s (tls=%s, tokens=%d)", settings.host, settings.port,
                 settings.base_path, settings.tls_certfile is not None, len(tokens))
        threading.Thread(target=_mark_bound, args=(server, readiness), daemon=True).start()
        server.run()  # uvicorn handles SIGINT/SIGTERM with a graceful shutdown
    finally:
        readiness.set("listener_bound", False)
        probe.stop()
        producer.close(2.0)
        if ops_server is not None:
            ops_server.stop()


def make_fetcher(settings: FhirWorkerSettings) -> Any:
    """The id-only notification reader (ingest.adapters.fhir_fetch.ResourceFetcher), or None when not configured."""
    if not settings.fetch_bases():
        return None
    from ingest.adapters.fhir_fetch import ResourceFetcher

    return ResourceFetcher(settings.fetch_token_value(), timeout_s=settings.fetch_timeout_s,
                           max_bytes=settings.max_body_bytes, concurrency=settings.fetch_concurrency,
                           verify=str(settings.fetch_ca_file) if settings.fetch_ca_file else True)


def _mark_bound(server: Any, readiness: ReadinessRegistry) -> None:
    """Flip `listener_bound` once uvicorn has bound its socket (it sets `started` then)."""
    while not server.should_exit:
        if server.started:
            readiness.set("listener_bound", True)
            return
        time.sleep(0.05)


def _secrets_of(settings: FhirWorkerSettings, kafka: KafkaSettings) -> list[str]:
    """Every secret value this worker holds, so the log redactor can mask it anywhere."""
    found: list[str] = []
    if settings.tokens is not None:
        found += [t.strip() for t in settings.tokens.get_secret_value().split(",") if t.strip()]
    if kafka.sasl_password is not None:
        found.append(kafka.sasl_password.get_secret_value())
    fetch_token = settings.fetch_token_value()
    if fetch_token:
        found.append(fetch_token)
    return found
