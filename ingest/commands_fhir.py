"""`sepsis-alert ingest-fhir`: run the FHIR R4 HTTP endpoint."""

from __future__ import annotations

import argparse
import os
import sys

from sepsis_alert.cli_types import tcp_port
from sepsis_alert.ops.settings import add_ops_arguments

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ingest.fhir_worker import FhirWorkerSettings, run_worker
    from sepsis_alert.ops.logging import configure_logging
    from sepsis_alert.ops.settings import ops_settings_from_args

    # Flags override the SEPSIS_FHIR_* variables only when given (a default here would hide the variable).
    overrides: dict[str, object] = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.dev:
        overrides["dev_no_auth"] = True
    redactor = configure_logging("ingest-fhir", os.environ.get("SEPSIS_LOG_LEVEL", "INFO"))
    settings = FhirWorkerSettings(**overrides)  # type: ignore[arg-type]  # invalid: one line (sepsis_alert.cli)
    try:
        run_worker(settings, ops=ops_settings_from_args(args), redactor=redactor)
    except ValueError as exc:  # e.g. token file without a write token
        print(f"ingest-fhir: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ingest-fhir`."""
    p = subparsers.add_parser(
        "ingest-fhir",
        help="run the FHIR R4 HTTP endpoint (POST /fhir/Observation, /fhir batch|transaction, "
             "/fhir/$subscription-notification)",
        description="FHIR R4 ingest endpoint. Bearer tokens from SEPSIS_FHIR_TOKENS or SEPSIS_FHIR_TOKENS_FILE; "
                    "other settings from SEPSIS_FHIR_*, SEPSIS_INGEST_* and SEPSIS_KAFKA_* variables.",
    )
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or SEPSIS_FHIR_HOST)")
    p.add_argument("--port", type=tcp_port, default=None, help="TCP port (default 8080, or SEPSIS_FHIR_PORT)")
    p.add_argument("--dev", action="store_true", help="local development: no authentication")
    add_ops_arguments(p, "ingest-fhir")
    p.set_defaults(func=_run)
