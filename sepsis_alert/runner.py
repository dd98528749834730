"""Command-line subcommands of `sepsis-alert run` (the whole local stack)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """Add this package's subcommands (none yet)."""
