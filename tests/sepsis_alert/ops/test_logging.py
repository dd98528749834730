"""JSON log lines: fixed fields, explicit correlation ids, and nothing secret or PHI in the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sepsis_alert.ops.logging import configure_logging, fhir_correlation_id, hl7_correlation_id, with_context
from sepsis_alert.ops.redaction import Redactor

WEBHOOK_URL = "https://hooks.example.org/services/T0001/B0002/abcdefSECRETghijkl"
HMAC_SECRET = "hmac-k3y-that-must-never-leak"
HL7_BODY = ("MSH|^~\\&|LAB|HOSP|SEPSIS|HOSP|202401021030||ORU^R01|CTRL123|P|2.5.1\r"
            "PID|1||MRN12345^^^HOSP^MR||DOE^JANE^Q||19700101|F\r"
            "OBX|1|NM|8867-4^Heart rate^LN||118|/min|||||F")
FHIR_BODY = ('{"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe", "given": ["Jane"]}], '
             '"birthDate": "1970-01-01"}')
PHI_WORDS = ("DOE", "Doe", "JANE", "Jane", "19700101", "1970-01-01")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("ingest-hl7", "DEBUG", stream=stream, secrets=[WEBHOOK_URL, HMAC_SECRET])
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "sepsis-json"]:
        root.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_one_json_object_per_line_with_the_fixed_fields(output: io.StringIO) -> None:
    log = logging.getLogger("ingest.adapters.mllp")
    log.info("accepted %d observations", 4, extra={"correlation_id": "hl7:HOSP:CTRL123", "topic": "t",
                                                    "partition": 2, "offset": 17})
    log.warning("no correlation here")
    first, second = _lines(output)
    assert list(first)[:6] == ["ts", "level", "logger", "msg", "worker", "correlation_id"]
    assert first["level"] == "INFO"
    assert first["logger"] == "ingest.adapters.mllp"
    assert first["msg"] == "accepted 4 observations"
    assert first["worker"] == "ingest-hl7"
    assert first["correlation_id"] == "hl7:HOSP:CTRL123"
    assert (first["topic"], first["partition"], first["offset"]) == ("t", 2, 17)
    assert str(first["ts"]).endswith("Z")
    assert second["correlation_id"] is None


def test_adapter_carries_the_correlation_id_and_call_extras_win(output: io.StringIO) -> None:
    mlog = with_context(logging.getLogger("detector"), correlation_id=hl7_correlation_id("HOSP", "C9"))
    mlog.info("scored", extra={"score": "news2"})
    mlog.bind(alert_id="ep-1-0001").info("alert emitted", extra={"correlation_id": "override"})
    first, second = _lines(output)
    assert first["correlation_id"] == "hl7:HOSP:C9" and first["score"] == "news2"
    assert second["alert_id"] == "ep-1-0001" and second["correlation_id"] == "override"
    assert fhir_correlation_id("Observation", "obs-7") == "fhir:Observation/obs-7"


def test_message_bodies_and_patient_identity_never_appear(output: io.StringIO) -> None:
    log = logging.getLogger("ingest")
    log.error("rejected message: %s", HL7_BODY, extra={"correlation_id": "hl7:HOSP:CTRL123"})
    log.error("bad resource %s", FHIR_BODY)
    log.info("dropped fields", extra={"body": HL7_BODY, "patient_name": "DOE^JANE", "birth_date": "19700101",
                                      "details": {"given": "Jane", "reason": "unit"}})
    try:
        raise ValueError(f"cannot parse {HL7_BODY}")
    except ValueError:
        log.exception("parse failure")
    text = output.getvalue()
    for word in (*PHI_WORDS, "MSH|", "PID|", "OBX|", '"resourceType"'):
        assert word not in text, word
    lines = _lines(output)
    assert lines[0]["msg"] == "rejected message: [message body redacted]"
    assert "body" not in lines[2] and "patient_name" not in lines[2]
    assert lines[2]["details"] == {"reason": "unit"}
    assert "ValueError" in str(lines[3]["exc"])


def test_secrets_are_masked_everywhere(output: io.StringIO) -> None:
    log = logging.getLogger("notifier")
    log.warning("POST %s failed", WEBHOOK_URL)
    log.warning("signing with %s", HMAC_SECRET)
    log.warning("retrying https://user:pa55word@pager.example.org/v1?token=abc123&x=1")
    log.warning("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
    log.warning("config", extra={"hmac_secret": "other-secret-value", "api_token": "tok-999",
                                 "receiver": "pager"})
    log.warning("settings password=hunter22 client_secret: 's3'")
    text = output.getvalue()
    for secret in (WEBHOOK_URL, "abcdefSECRETghijkl", HMAC_SECRET, "pa55word", "abc123", "eyJhbGciOiJIUzI1NiJ9",
                   "other-secret-value", "tok-999", "hunter22"):
        assert secret not in text, secret
    lines = _lines(output)
    assert lines[4]["receiver"] == "pager" and lines[4]["hmac_secret"] == "***"
    assert "pager.example.org/v1" in str(lines[2]["msg"])


def test_patient_key_modes() -> None:
    assert Redactor(patient_key_mode="plain").field("patient_key", "MRN1") == (True, "MRN1")
    keep, shown = Redactor(patient_key_mode="hashed").field("patient_key", "MRN1")
    assert keep and shown == Redactor.pseudonym("MRN1") and "MRN1" not in str(shown)
    assert Redactor(patient_key_mode="drop").field("patient_key", "MRN1") == (False, None)


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("x", "LOUD", stream=io.StringIO())


def test_configure_twice_keeps_one_handler(output: io.StringIO) -> None:
    configure_logging("ingest-hl7", "INFO", stream=output)
    logging.getLogger("x").info("once")
    assert len(_lines(output)) == 1
