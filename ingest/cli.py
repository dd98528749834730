"""Command-line subcommands of the ingest package."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands (none yet)."""
