"""Every `sepsis-alert` command, run as a real subprocess with bad input (a bad flag value, a missing file, a bad
environment setting), answers with one short line naming what is wrong and the documented exit code
(0 done, 1 input refused at run time, 2 usage or configuration error, 3 Kafka unreachable), never a traceback.

The broker address points nowhere: a command that went on to Kafka instead of refusing would exit 3.
"""

from __future__ import annotations

import argparse

import pytest

from sepsis_alert.cli import EXIT_RUNTIME, EXIT_USAGE, build_parser
from tests.sepsis_alert.cli_subprocess import UNREACHABLE_BROKER, one_line, run_cli

MISSING = "/nonexistent-sepsis-input"

# command -> (arguments, extra environment, stdin, expected exit code, fragments the one line must hold)
CASES: dict[str, tuple[tuple[str, ...], dict[str, str], str | None, int, tuple[str, ...]]] = {
    "version": (("version", "--bogus"), {}, None, EXIT_USAGE, ("unrecognized arguments: --bogus", "--help")),
    "topics": (("topics", "list"), {"SEPSIS_KAFKA_SECURITY_PROTOCOL": "TLS1"}, None, EXIT_USAGE,
               ("SEPSIS_KAFKA_SECURITY_PROTOCOL = 'TLS1'", "SASL_SSL")),
    "parse": (("parse", f"{MISSING}.hl7"), {}, None, EXIT_USAGE, (f"{MISSING}.hl7", "cannot read")),
    "ingest-file": (("ingest-file", f"{MISSING}.hl7"), {}, None, EXIT_USAGE,
                    ("No such file or directory", f"{MISSING}.hl7")),
    "ingest-hl7": (("ingest-hl7",), {"SEPSIS_HL7_MLLP__IDLE_TIMEOUT_S": "-5"}, None, EXIT_USAGE,
                   ("SEPSIS_HL7_MLLP__IDLE_TIMEOUT_S", "greater than 0")),
    "ingest-fhir": (("ingest-fhir", "--port", "99999"), {}, None, EXIT_USAGE,
                    ("--port", "99999 is not a TCP port")),
    "score": (("score",), {}, '{"hr": "fast"}\n', EXIT_RUNTIME, ("line 1", "hr", "'fast'")),
    "detect": (("detect", "--config", f"{MISSING}.yaml"), {}, None, EXIT_USAGE, (f"{MISSING}.yaml",)),
    "notify": (("notify", "--config", f"{MISSING}.yaml"), {}, None, EXIT_USAGE, (f"{MISSING}.yaml", "cannot be read")),
    "ack": (("ack", "ep-1", "--by", ""), {}, None, EXIT_USAGE, ("acked_by", "at least 1 character")),
    "silence": (("silence", "create", "--duration", "soon", "--by", "nurse", "--reason", "drill"), {}, None,
                EXIT_USAGE, ("--duration", "'soon'", "90s")),
    "replay": (("replay", "physionet", MISSING), {}, None, EXIT_USAGE, (MISSING, "no such folder")),
    "eval": (("eval", "physionet", MISSING, "--out", f"{MISSING}-out"), {}, None, EXIT_USAGE,
             (MISSING, "no such folder")),
    "train": (("train", "physionet", MISSING, "--out", f"{MISSING}.json"), {}, None, EXIT_USAGE,
              (MISSING, "no such folder")),
    "run": (("run", "--physionet", MISSING), {}, None, EXIT_USAGE, ("PhysioNet data not found", MISSING)),
    "console": (("console", "add-user", "dr.lee", "--role", "chief", "--users-file", f"{MISSING}.json"), {}, "pw\n",
                EXIT_USAGE, ("--role", "'chief'", "responder")),
    "local-receiver": (("local-receiver", "--port", "http"), {}, None, EXIT_USAGE, ("--port", "'http'")),
}


def test_every_command_has_a_bad_input_case() -> None:
    parser = build_parser()
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subcommands.choices) == set(CASES)


@pytest.mark.parametrize("command", CASES)
def test_bad_input_is_one_line_and_the_documented_exit_code(command: str) -> None:
    args, env, stdin, code, fragments = CASES[command]
    result = run_cli(*args, env={**UNREACHABLE_BROKER, **env}, stdin=stdin)
    assert result.returncode == code, result.stderr
    line = one_line(result.stderr)
    assert len(line) <= 500, line
    for fragment in fragments:
        assert fragment in line
