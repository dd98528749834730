"""A user error is one clear line on stderr and a documented exit code, never a traceback (issue #21)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sepsis_alert.cli import EXIT_UNREACHABLE, EXIT_USAGE, describe_error
from sepsis_alert.cli_types import tcp_port
from tests.sepsis_alert.cli_subprocess import REPO, one_line, run_cli

CORPUS = REPO.parent / "shared" / "corpora" / "hl7v2"


def test_a_bad_setting_names_the_environment_variable() -> None:
    result = run_cli("ingest-hl7", env={"SEPSIS_HL7_MLLP__PORT": "abc"})
    assert result.returncode == EXIT_USAGE
    line = one_line(result.stderr)
    assert "SEPSIS_HL7_MLLP__PORT = 'abc'" in line and "valid integer" in line


def test_a_bad_port_flag_is_refused_before_anything_starts() -> None:
    result = run_cli("ingest-hl7", "--port", "99999")
    assert result.returncode == EXIT_USAGE
    assert "99999 is not a TCP port" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_broker_says_which_setting() -> None:
    result = run_cli("topics", "list", env={"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                                         "SEPSIS_KAFKA_BOOTSTRAP_TIMEOUT_MS": "1500"}, timeout=120)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "SEPSIS_KAFKA_BOOTSTRAP_SERVERS" in result.stderr and "Traceback" not in result.stderr


def test_a_closed_pipe_is_not_an_error() -> None:
    files = sorted(str(p) for p in CORPUS.glob("*"))[:20]
    proc = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", "parse", *files], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert "BrokenPipeError" not in stderr and "Traceback" not in stderr


def test_debug_shows_the_traceback() -> None:
    result = run_cli("--debug", "ingest-hl7", env={"SEPSIS_HL7_MLLP__PORT": "abc"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_secret_values_are_never_echoed() -> None:
    from pydantic import BaseModel, ValidationError

    class Settings(BaseModel):
        api_token: int

    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"api_token": "s3cr3t-value"})
    code, line = describe_error(caught.value)
    assert code == EXIT_USAGE and "api_token" in line and "s3cr3t" not in line


@pytest.mark.parametrize("text, ok", [("0", True), ("2575", True), ("65535", True), ("65536", False), ("-1", False),
                                      ("abc", False)])
def test_tcp_port(text: str, ok: bool) -> None:
    import argparse

    if ok:
        assert tcp_port(text) == int(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            tcp_port(text)


@pytest.mark.parametrize("args, env", [
    ((), {"SEPSIS_FHIR_DEV_NO_AUTH": "true", "SEPSIS_FHIR_HOST": "0.0.0.0"}),
    (("--dev", "--host", "0.0.0.0"), {}),
])
def test_the_fhir_endpoint_refuses_to_run_without_authentication_off_loopback(args: tuple[str, ...],
                                                                              env: dict[str, str]) -> None:
    result = run_cli("ingest-fhir", *args, env={"SEPSIS_FHIR_TOKENS": "", **env})
    assert result.returncode == EXIT_USAGE, result.stderr
    line = one_line(result.stderr)
    assert "refused on host '0.0.0.0'" in line and "SEPSIS_FHIR_TOKENS" in line
