"""Subcommands of the learning package."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """Add `train` (being written)."""
