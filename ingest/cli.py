"""Command-line subcommands of the ingest package (HL7 v2 and FHIR)."""

from __future__ import annotations

import argparse

from ingest import commands_fhir, commands_hl7

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `parse`, `ingest-file`, `ingest-hl7` and `ingest-fhir`."""
    commands_hl7.register(subparsers)
    commands_fhir.register(subparsers)
