"""One-off commands find the running `make run` stack's broker (its stack file), or say which setting to give."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sepsis_alert.kafka.local_stack import cli_kafka_settings, stack_bootstrap


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def _stack(tmp_path: Path, bootstrap: str) -> Path:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"kafka": bootstrap}))
    return path


def test_a_running_stack_is_used_and_said(tmp_path: Path, listening: socket.socket, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    address = f"127.0.0.1:{listening.getsockname()[1]}"
    path = _stack(tmp_path, address)
    assert stack_bootstrap(path) == address
    assert cli_kafka_settings(path=path).bootstrap_servers == address
    err = capsys.readouterr().err
    assert "make run" in err and address in err and "SEPSIS_KAFKA_BOOTSTRAP_SERVERS" in err


def test_the_setting_and_the_flag_win_and_a_dead_stack_is_ignored(tmp_path: Path, listening: socket.socket,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = _stack(tmp_path, f"127.0.0.1:{listening.getsockname()[1]}")
    assert cli_kafka_settings("127.0.0.1:1111", path=path).bootstrap_servers == "127.0.0.1:1111"
    monkeypatch.setenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:2222")
    assert cli_kafka_settings(path=path).bootstrap_servers == "127.0.0.1:2222"
    monkeypatch.delenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS")
    listening.close()  # the stack stopped: its file is stale
    assert stack_bootstrap(path) is None
    assert stack_bootstrap(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("not json")
    assert stack_bootstrap(tmp_path / "bad.json") is None
