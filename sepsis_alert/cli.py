"""The `sepsis-alert` console script.

Each package contributes its own subcommands through a `register(subparsers)`
function, so this module only wires them together, and turns what a user can get
wrong into one clear line instead of a traceback (`--debug` shows the traceback).

Exit codes: 0 done; 1 failed at run time; 2 usage or configuration error (a bad
flag, setting or file); 3 a service it needs (Kafka) cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sepsis_alert import __version__

# Modules that contribute subcommands. Each exposes register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "sepsis_alert.kafka.commands",
    "ingest.cli",
    "detector.cli",
    "notifier.cli",
    "notifier.console.cli",
)
OPTIONAL_COMMAND_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("evaluation.cli", ("replay", "eval")),
    ("learning.cli", ("train",)),
    ("devstack.runner", ("run", "local-receiver")),
)
"""Modules a worker image leaves out (with the commands each adds): their commands exist where they are
installed (`make install`); where a training dependency is missing, they say which extra to install."""
TRAINING_MODULES = frozenset({"lightgbm", "sklearn", "matplotlib", "tqdm"})
"""Third-party modules of the `train` extra (training and evaluation only; no worker imports them)."""
TRAIN_EXTRA = "pip install 'sepsis-alert[train]'"


EXIT_RUNTIME, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
_UNREACHABLE = ("NoBrokersAvailable", "KafkaConnectionError", "KafkaTimeoutError", "KafkaUnavailableError")
"""Errors that mean the broker cannot be reached (by class name: the Kafka client is imported lazily)."""
_SECRET_WORDS = ("secret", "token", "password", "key", "url")
"""A setting whose name holds one of these may hold a secret: its value is never echoed."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error on one line; subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="sepsis-alert",
        description="Streaming sepsis alert service: ingest, detect, notify, evaluate.",
        epilog="Exit codes: 0 done, 1 failed at run time, 2 usage or configuration error, 3 Kafka unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"sepsis-alert {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version_parser = sub.add_parser("version", help="print the version")
    version_parser.set_defaults(func=lambda _args: print(f"sepsis-alert {__version__}") or 0)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    for module_name, commands in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing == module_name.partition(".")[0]:
                continue  # the package is not in this installation (a worker image): no such command
            if missing not in TRAINING_MODULES:
                raise
            for command in commands:
                _register_missing_extra(sub, command, missing)
            continue
        module.register(sub)
    return parser


def _register_missing_extra(sub: argparse._SubParsersAction[OneLineErrorParser], command: str,
                            missing: str) -> None:
    """A placeholder for a command whose module needs the training extra: it says so in one line."""
    parser = sub.add_parser(command, help=f"(needs {TRAIN_EXTRA})", add_help=False)
    parser.add_argument("ignored", nargs=argparse.REMAINDER)

    def explain(_args: argparse.Namespace) -> int:
        raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

    parser.set_defaults(func=explain)


def main(argv: Sequence[str] | None = None) -> int:
    _dump_stacks_on_sigusr1()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        result = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a reader gone away is handled below
    except BrokenPipeError:
        # The reader went away (`sepsis-alert parse FILE | head -1`): what it wanted was written.
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code, line = describe_error(exc)
        print(f"sepsis-alert {args.command}: {line}", file=sys.stderr)
        return code
    return int(result or 0)


def _dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 PID` writes every thread's stack (code locations only, no data) to stderr: how a stuck worker
    is looked at. Not where stderr is no file (a test capturing it, an embedding host)."""
    if hasattr(signal, "SIGUSR1"):
        # io.UnsupportedOperation (stderr without a fileno) is both an OSError and a ValueError
        with contextlib.suppress(AttributeError, OSError, ValueError):
            faulthandler.register(signal.SIGUSR1, all_threads=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail on the closed pipe."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def describe_error(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for an error that reached the top: what is wrong and which setting to change."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return EXIT_USAGE, _settings_error(exc)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").partition(".")[0] in TRAINING_MODULES:
        return EXIT_USAGE, (f"this command needs the training and evaluation extra ({exc.name} is not installed): "
                            f"{TRAIN_EXTRA}")
    name = type(exc).__name__
    if name in _UNREACHABLE:
        return EXIT_UNREACHABLE, (f"cannot reach Kafka ({name}: {exc}); is the broker running, and is "
                                  f"SEPSIS_KAFKA_BOOTSTRAP_SERVERS right? (`make kafka-up` starts a local one)")
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        if exc.strerror is None:  # raised with a message of our own (`FileNotFoundError(f"{path}: ...")`)
            return EXIT_USAGE, " ".join(str(exc).split())[:500]
        return EXIT_USAGE, f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, ValueError):
        return EXIT_USAGE, " ".join(str(exc).split())[:500]
    return EXIT_RUNTIME, f"{name}: {' '.join(str(exc).split())[:300]} (run with --debug for the traceback)"


def _settings_error(exc: Any) -> str:
    """A settings validation error as one line naming each bad environment variable (or field) and its value."""
    from sepsis_alert.config_reference import SETTINGS_MODELS

    prefix, delimiter = "", None
    for module_name, class_name, how in SETTINGS_MODELS:
        if class_name == exc.title and how == "env":
            config = getattr(importlib.import_module(module_name), class_name).model_config
            prefix, delimiter = config.get("env_prefix", ""), config.get("env_nested_delimiter")
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # a rule across settings: its message names them
            parts.append(message)
            continue
        where = (prefix + (delimiter or "_").join(loc).upper()) if prefix else ".".join(loc)
        value = error.get("input")
        secret = any(word in where.lower() for word in _SECRET_WORDS)
        shown = (f" = {value!r}" if isinstance(value, str | int | float) and not isinstance(value, bool)
                 and not secret and len(str(value)) <= 40 else "")
        parts.append(f"{where}{shown}: {message}")
    return f"invalid {exc.title}: " + "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
