"""The `sepsis-alert` console script.

Each package contributes its own subcommands through a `register(subparsers)`
function, so this module only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sepsis_alert import __version__

# Modules that contribute subcommands. Each exposes register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "sepsis_alert.kafka.commands",
    "ingest.cli",
    "detector.cli",
    "notifier.cli",
    "evaluation.cli",
    "learning.cli",
    "sepsis_alert.runner",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sepsis-alert",
        description="Streaming sepsis alert service: ingest, detect, notify, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"sepsis-alert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version_parser = sub.add_parser("version", help="print the version")
    version_parser.set_defaults(func=lambda _args: print(f"sepsis-alert {__version__}") or 0)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
