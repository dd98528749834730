"""Command-line subcommands of the Kafka plumbing (topics)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """Add this package's subcommands (none yet)."""
