"""The command-line tools end to end, as subprocesses, against real brokers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.broker import LocalBroker, free_port
from schemas.topics import ALL_TOPICS, Topics

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[3]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False,
                          env={**os.environ, **(env or {})})


def test_topics_create_twice_then_describe(own_broker: LocalBroker) -> None:
    cli = str(BIN / "sepsis-alert")
    first = _run(cli, "topics", "create", "--bootstrap", own_broker.bootstrap)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"{spec.name}: created" for spec in ALL_TOPICS]

    # Second run takes the broker from the environment instead of --bootstrap.
    second = _run(cli, "topics", "create", env={"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap})
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [f"{spec.name}: exists" for spec in ALL_TOPICS]

    listed = _run(cli, "topics", "list", "--bootstrap", own_broker.bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert f"{Topics.SILENCES}\tpartitions=1" in listed.stdout.splitlines()

    described = _run(cli, "topics", "describe", Topics.DETECTOR_STATE, "--bootstrap", own_broker.bootstrap)
    assert described.returncode == 0, described.stderr
    assert "  cleanup.policy=compact" in described.stdout.splitlines()


def test_topics_create_reports_unreachable_broker() -> None:
    result = _run(str(BIN / "sepsis-alert"), "topics", "create", "--bootstrap", f"127.0.0.1:{free_port()}",
                  env={"SEPSIS_KAFKA_BOOTSTRAP_TIMEOUT_MS": "1500"}, timeout=60)
    assert result.returncode == 3  # documented: a service it needs cannot be reached
    assert "cannot reach Kafka" in result.stderr and "SEPSIS_KAFKA_BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr


def test_broker_up_status_down_detached(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    data = tmp_path / "dev"
    port = free_port()
    while not _free(port + 1):  # `up --port P` puts the controller on P+1
        port = free_port()
    base = [str(BIN / "python"), "-m", "devstack.broker_cli"]
    up = _run(*base, "up", "--data-dir", str(data), "--port", str(port))
    try:
        assert up.returncode == 0, up.stderr
        assert f"bootstrap 127.0.0.1:{port}" in up.stdout
        # The broker outlived the `up` process and is found again from its data directory.
        status = _run(*base, "status", "--data-dir", str(data))
        assert status.returncode == 0 and "ready" in status.stdout, status.stdout + status.stderr
        again = _run(*base, "up", "--data-dir", str(data))
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr
    finally:
        down = _run(*base, "down", "--data-dir", str(data))
        LocalBroker(data).kill()  # belt and braces: never leave a detached JVM behind
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert _run(*base, "status", "--data-dir", str(data)).returncode == 3
