"""`sepsis-alert parse` and `ingest-file` (the latter against the real session broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.adapters.mllp import frame
from schemas.topics import Topics
from sepsis_alert.cli import main
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.ingest.adapters.harness import unique_id
from tests.ingest.core.samples import ADT_A01, BAD_UNIT_ORU, VITALS_ORU, with_ids

CORPUS = Path("/work/shared/corpora")


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_parse_prints_one_json_line_per_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vitals.hl7"
    path.write_bytes(VITALS_ORU.replace("\r", "\n").encode())
    assert main(["parse", str(path)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 6
    first = lines[0]
    assert {k: first[k] for k in ("kind", "patient_id", "measure", "code", "value", "unit", "effective_at",
                                  "status")} == {
        "kind": "observation", "patient_id": "123456", "measure": "heart_rate", "code": "8867-4", "value": 118.0,
        "unit": "/min", "effective_at": "2024-03-01T10:05:00+01:00", "status": "final"}
    assert list(first)[:2] == ["kind", "patient_id"]


def test_parse_reports_rejections_and_still_prints_the_rest(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mixed.hl7"
    path.write_bytes(with_ids(BAD_UNIT_ORU, "B1") + with_ids(ADT_A01, "A1"))
    assert main(["parse", str(path)]) == 1
    captured = capsys.readouterr()
    assert [line["kind"] for line in _lines(captured.out)] == ["patient_event"]
    assert captured.err.strip() == (f"sepsis-alert parse: {path}#1: OBX[1]-6: unit 'furlongs/fortnight' is not "
                                    f"accepted for heart_rate (canonical /min)")


def test_parse_mllp_framed_batches_and_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    framed = tmp_path / "capture.mllp"
    framed.write_bytes(frame(with_ids(ADT_A01, "F1")) + frame(with_ids(VITALS_ORU, "F2")))
    batch = CORPUS / "hl7v2" / "prime-reportstream_ORU_R01_batch_FHS_BHS_CR.hl7"
    malformed = CORPUS / "hl7v2" / "nhapi_fuzz_leading_NUL.hl7"
    assert main(["parse", str(framed), str(batch), str(malformed)]) == 1
    captured = capsys.readouterr()
    assert len(_lines(captured.out)) == 7
    assert captured.err.splitlines() == [f"sepsis-alert parse: {malformed}: MSH-2: encoding characters '0000': "
                                         f"a delimiter is used twice"]


def test_parse_fhir_json_goes_to_the_fhir_normaliser(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = CORPUS / "fhir" / "us-core_Observation_respiratory-rate.json"
    monkeypatch.setenv("SEPSIS_INGEST_MAX_EVENT_AGE_DAYS", "3650")  # the example is from 1999
    assert main(["parse", str(path)]) == 1, "a 1999 observation is outside a 10-year window"
    assert "effectiveDateTime: event time 1999-07-02" in capsys.readouterr().err
    monkeypatch.delenv("SEPSIS_INGEST_MAX_EVENT_AGE_DAYS")  # default: 50 years
    assert main(["parse", str(path)]) == 0
    [line] = _lines(capsys.readouterr().out)
    assert (line["kind"], line["measure"], line["value"], line["unit"]) == (
        "observation", "respiratory_rate", 26.0, "/min")


@pytest.mark.integration
def test_ingest_file_writes_events_and_dead_letters(tmp_path: Path, kafka_settings: KafkaSettings,
                                                    kafka_topics: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    good_id, bad_id = unique_id("IF"), unique_id("IFBAD")
    path = tmp_path / "backfill.hl7"
    path.write_bytes(with_ids(VITALS_ORU, good_id, unique_id("MRN")) + with_ids(BAD_UNIT_ORU, bad_id))
    assert main(["ingest-file", str(path)]) == 1
    assert "1 messages rejected" in capsys.readouterr().err

    def count(topic: str, message_id: str) -> int:
        return sum(1 for r in read_all(kafka_settings, topic, timeout_s=30)
                   if dict(r.headers).get("source_message_id") == message_id.encode())

    assert count(Topics.OBSERVATIONS, good_id) == 6 and count(Topics.RAW_HL7, good_id) == 1
    assert count(Topics.DEAD_LETTER, bad_id) == 1


@pytest.mark.integration
def test_ingest_hl7_command_serves_mllp_and_stops_on_sigterm(kafka_settings: KafkaSettings,
                                                             kafka_topics: dict[str, str]) -> None:
    import os
    import signal
    import subprocess
    import sys

    from devstack.broker import free_port
    from tests.ingest.adapters.harness import MllpClient, ack_fields

    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers}
    proc = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", "ingest-hl7", "--port", str(port),
                             "--metrics-port", str(metrics_port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        for _ in range(200):
            line = proc.stderr.readline()
            seen.append(line)
            if "ingest-hl7 listening on" in line or not line:
                break
        assert f"listening on 127.0.0.1:{port}" in "".join(seen), "".join(seen)[-2000:]
        client = MllpClient("127.0.0.1", port)
        try:
            msg_id = unique_id("CLI")
            assert ack_fields(client.send(with_ids(ADT_A01, msg_id, unique_id("MRN"))))["MSA"][1:3] == ["AA", msg_id]
        finally:
            client.close()
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            assert b'sepsis_hl7_messages_total{message_type="ADT^A01",outcome="accepted"} 1.0' in response.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
