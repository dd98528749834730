"""Subcommands (filled in by the commands_detect work)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """Add subcommands (none yet)."""
