"""No unauthenticated listener off loopback (issue #21 item 8): every listener, started as a user would start it
on 0.0.0.0 without authentication, refuses before it binds or connects, with one line naming the setting.

The broker address points nowhere, so a command that got as far as Kafka would exit 3, not 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.adapters.mllp import MllpSettings
from sepsis_alert.cli import EXIT_USAGE
from tests.sepsis_alert.cli_subprocess import UNREACHABLE_BROKER, one_line, run_cli

CERT = str(Path(__file__))  # any existing file: the refusal comes before a certificate is read

LISTENERS = {
    "mllp plaintext": (("ingest-hl7", "--host", "0.0.0.0", "--port", "0"), {},
                       ["plaintext MLLP", "SEPSIS_HL7_MLLP__ALLOW_UNAUTHENTICATED_OFF_LOOPBACK=true",
                        "SEPSIS_HL7_MLLP__TLS_CERTFILE"]),
    "mllp tls without client certificates": (
        ("ingest-hl7",), {"SEPSIS_HL7_MLLP__HOST": "0.0.0.0", "SEPSIS_HL7_MLLP__TLS_CERTFILE": CERT,
                          "SEPSIS_HL7_MLLP__TLS_KEYFILE": CERT},
        ["TLS without client certificates", "__TLS_CLIENT_CAFILE"]),
    "fhir without tokens": (("ingest-fhir", "--dev", "--host", "0.0.0.0"), {}, ["SEPSIS_FHIR_TOKENS"]),
    "ops server of a worker": (("detect",), {"SEPSIS_OPS_HOST": "0.0.0.0"},
                               ["ops host '0.0.0.0'", "SEPSIS_OPS_METRICS_TOKEN", "/healthz and /readyz stay open"]),
    "ops server of the hl7 listener": (("ingest-hl7", "--ops-host", "0.0.0.0"), {}, ["SEPSIS_OPS_METRICS_TOKEN"]),
    "notifier api (acks, silences, console)": (("notify",), {"SEPSIS_NOTIFIER_API_HOST": "0.0.0.0"},
                                               ["SEPSIS_NOTIFIER_API_TOKEN"]),
    "local receiver": (("local-receiver", "--host", "0.0.0.0"), {}, ["no authentication", "bind 127.0.0.1"]),
}


@pytest.mark.parametrize("name", LISTENERS)
def test_each_listener_refuses_an_unauthenticated_public_bind_in_one_line(name: str) -> None:
    args, env, expected = LISTENERS[name]
    result = run_cli(*args, env={**UNREACHABLE_BROKER, **env})
    assert result.returncode == EXIT_USAGE, result.stderr
    line = one_line(result.stderr)
    assert "0.0.0.0" in line
    for fragment in expected:
        assert fragment in line


def test_mllp_off_loopback_is_accepted_with_mutual_tls_or_an_explicit_acknowledgement(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    assert MllpSettings(host="0.0.0.0", tls_certfile=ca, tls_keyfile=ca, tls_client_cafile=ca).host == "0.0.0.0"
    assert MllpSettings(host="10.1.2.3", allow_unauthenticated_off_loopback=True).host == "10.1.2.3"
    assert MllpSettings(host="127.0.0.1").host == "127.0.0.1"  # the default: loopback needs neither
    with pytest.raises(ValidationError, match=r"mllp\.example\.org"):
        MllpSettings(host="mllp.example.org")  # a DNS name is not known to be loopback
