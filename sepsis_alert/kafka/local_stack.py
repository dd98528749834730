"""Which broker a one-off command (`ack`, `silence`, `topics`) talks to: the one it is told, else the running
`make run` stack's, else the default.

`make run` starts its broker on a free port and writes the address to `.local/run/stack.json`; without this, a
user who runs `sepsis-alert ack EPISODE` next to it reaches for 127.0.0.1:9092 and gets a connection error.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from sepsis_alert.kafka.config import KafkaSettings

__all__ = ["STACK_FILE", "cli_kafka_settings", "stack_bootstrap"]

STACK_FILE = Path(__file__).resolve().parents[2] / ".local" / "run" / "stack.json"
"""Written by `sepsis-alert run` (`make run`) once its workers are up."""


def stack_bootstrap(path: Path = STACK_FILE, timeout_s: float = 0.5) -> str | None:
    """The running stack's broker address, or None when there is no stack file or its broker does not answer."""
    try:
        bootstrap = json.loads(path.read_text(encoding="utf-8")).get("kafka")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(bootstrap, str) or ":" not in bootstrap:
        return None
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return bootstrap
    except (OSError, ValueError):
        return None


def cli_kafka_settings(explicit: str | None = None, path: Path = STACK_FILE) -> KafkaSettings:
    """KafkaSettings for a one-off command: `explicit` (a --bootstrap flag), else SEPSIS_KAFKA_BOOTSTRAP_SERVERS,
    else the running `make run` stack's broker (said on stderr), else the default."""
    settings = KafkaSettings()
    if explicit:
        return settings.with_bootstrap(explicit)
    if os.environ.get("SEPSIS_KAFKA_BOOTSTRAP_SERVERS"):
        return settings
    found = stack_bootstrap(path)
    if found is None:
        return settings
    print(f"using the running `make run` stack's broker at {found} ({path}); set SEPSIS_KAFKA_BOOTSTRAP_SERVERS "
          f"to talk to another", file=sys.stderr)
    return settings.with_bootstrap(found)
