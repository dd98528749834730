"""Run `sepsis-alert` as a real subprocess, the way a user does, and read its one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE_BROKER = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "SEPSIS_KAFKA_BOOTSTRAP_TIMEOUT_MS": "1500"}
"""A broker address nothing listens on: a command that refuses its input must do so before it tries Kafka."""


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path = REPO,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m sepsis_alert.cli ARGS` with the developer's own SEPSIS_* variables removed, then `env` added."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEPSIS_")}
    return subprocess.run([sys.executable, "-m", "sepsis_alert.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**clean, **(env or {})}, check=False, input=stdin)


def one_line(stderr: str) -> str:
    """The single line a user error prints (JSON worker log lines aside); fails on a traceback or more lines."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]
