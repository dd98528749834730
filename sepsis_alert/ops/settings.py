"""Settings of a worker's ops HTTP server (environment prefix `SEPSIS_OPS_`).

Every worker reads the same model, so `SEPSIS_OPS_PORT=9403 sepsis-alert detect`
and `sepsis-alert detect --ops-port 9403` mean the same thing. Defaults are for a
developer machine: bind 127.0.0.1, no token. Binding any other address (a pod)
requires a metrics token unless anonymous scraping is explicitly allowed, so a
production deployment cannot expose metrics by accident.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sepsis_alert.secret_files import secret_from

__all__ = ["DEFAULT_OPS_PORTS", "OpsSettings", "add_ops_arguments", "is_loopback_host", "ops_settings_from_args"]

DEFAULT_OPS_PORTS: dict[str, int] = {
    "ingest-hl7": 9401,
    "ingest-fhir": 9402,
    "detect": 9403,
    "notify": 9404,
}
"""Default ops port of each worker, so that all of them can run on one host (deploy/ uses the same numbers)."""


class OpsSettings(BaseSettings):
    """Where the ops server (/metrics, /healthz, /readyz) listens and who may scrape it."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_OPS_", extra="ignore", frozen=True)

    enabled: bool = Field(default=True, description="start the ops HTTP server at all")
    host: str = Field(default="127.0.0.1",
                      description="address the ops server binds; 0.0.0.0 in a container so probes can reach it")
    port: int = Field(default=9400, ge=0, le=65535,
                      description="TCP port of /metrics, /healthz and /readyz (0 = any free port)")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token required on GET /metrics (the probes stay open); never logged",
    )
    metrics_token_file: Path | None = Field(
        default=None,
        description="file holding the metrics token (e.g. a mounted Kubernetes Secret); "
                    "read at start-up, surrounding whitespace stripped",
    )
    allow_anonymous_metrics: bool = Field(
        default=False,
        description="allow /metrics without a token on a non-loopback address "
                    "(only behind a network policy that limits who can reach the port)",
    )

    @model_validator(mode="after")
    def _token_off_loopback(self) -> Self:
        self.token()  # both set, or a file that cannot be read or is empty: a start-up error
        if not self.enabled or is_loopback_host(self.host) or self.allow_anonymous_metrics:
            return self
        if self.metrics_token is None and self.metrics_token_file is None:
            raise ValueError(f"ops host {self.host!r} is not a loopback address: set SEPSIS_OPS_METRICS_TOKEN or "
                             f"SEPSIS_OPS_METRICS_TOKEN_FILE so /metrics needs a token (/healthz and /readyz stay "
                             f"open), or SEPSIS_OPS_ALLOW_ANONYMOUS_METRICS=true behind a network policy")
        return self

    def token(self) -> SecretStr | None:
        """The metrics bearer token from `metrics_token` or `metrics_token_file`, or None (no auth)."""
        return secret_from(self.metrics_token, self.metrics_token_file, "metrics_token")


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1); a DNS name or 0.0.0.0 is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_ops_arguments(parser: argparse.ArgumentParser, worker: str) -> None:
    """Add `--ops-host` and `--ops-port` to a worker's subcommand (defaults from the environment / settings).

    `worker` picks the default port from DEFAULT_OPS_PORTS.
    """
    group = parser.add_argument_group("operations endpoints (/metrics, /healthz, /readyz)")
    group.add_argument("--ops-host", default=None, help="bind address (default $SEPSIS_OPS_HOST or 127.0.0.1)")
    group.add_argument("--ops-port", type=int, default=None,
                       help=f"port (default $SEPSIS_OPS_PORT or {DEFAULT_OPS_PORTS.get(worker, 9400)}; 0 = any)")
    parser.set_defaults(ops_worker=worker)


def ops_settings_from_args(args: argparse.Namespace) -> OpsSettings:
    """OpsSettings from command-line flags first, then SEPSIS_OPS_* variables, then the worker's default port."""
    import os

    overrides: dict[str, object] = {}
    if getattr(args, "ops_host", None) is not None:
        overrides["host"] = args.ops_host
    if getattr(args, "ops_port", None) is not None:
        overrides["port"] = args.ops_port
    elif "SEPSIS_OPS_PORT" not in os.environ:
        overrides["port"] = DEFAULT_OPS_PORTS.get(getattr(args, "ops_worker", ""), 9400)
    return OpsSettings(**overrides)  # type: ignore[arg-type]
