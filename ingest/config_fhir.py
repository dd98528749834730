"""Settings and bearer tokens of the FHIR ingest worker (`sepsis-alert ingest-fhir`).

Settings come from the environment (prefix SEPSIS_FHIR_) and command-line flags.
Bearer tokens are secrets: they come from `SEPSIS_FHIR_TOKENS` (comma-separated) or
from a secrets file (`SEPSIS_FHIR_TOKENS_FILE`, one token per line, `#` comments;
a line `<token> read` grants metadata only), never from a config file, and are
never logged.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.fhir.id_only import normalise_base_url
from sepsis_alert.ops.settings import is_loopback_host
from sepsis_alert.secret_files import secret_file_lines, secret_from

__all__ = ["FhirWorkerSettings", "TokenTable", "load_tokens"]


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
        return tuple(normalise_base_url(b) for b in self.fetch_base_urls.split(",") if b.strip())

    def fetch_token_value(self) -> str | None:
        """The id-only fetch token from the environment or its secrets file."""
        token = secret_from(self.fetch_token, self.fetch_token_file, "fetch_token")
        return (token.get_secret_value().strip() or None) if token is not None else None


class TokenTable:
    """Known bearer tokens and whether each may write (constant-time comparison)."""

    def __init__(self, write: set[str], read_only: set[str]) -> None:
        self._write = frozenset(write)
        self._read = frozenset(read_only)

    def __len__(self) -> int:
        return len(self._write) + len(self._read)

    def check(self, token: str) -> str | None:
        """'write', 'read' or None for an unknown token."""
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
        for line in secret_file_lines(settings.tokens_file, "tokens_file"):
            token, _, role = line.partition(" ")
            (read_only if role.strip() == "read" else write).add(token)
    if not settings.dev_no_auth and not write:
        raise ValueError("the configured token sources hold no write token")
    return TokenTable(write, read_only)
