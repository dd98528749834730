"""Command-line subcommands of the detector package."""

from __future__ import annotations

import argparse

from detector import commands_detect, commands_score

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `score` and `detect`."""
    commands_score.register(subparsers)
    commands_detect.register(subparsers)
