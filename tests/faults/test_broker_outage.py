"""Kafka stopped for ~30 s while HL7 v2 (MLLP) and FHIR senders keep sending to the real worker processes.

An interface engine resends a message until it gets AA; a FHIR client retries on 503 (after Retry-After).
Proved here: during the outage nobody gets AA / 2xx for something not stored (the outage is seen as AE /
no ACK and as 503 with Retry-After); after it, every accepted message is in Kafka exactly once (raw topic
and canonical observations), retransmissions included; and both workers recovered on their own (same
process, never restarted). Uses a private broker so that the session broker is not disturbed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ingest.adapters.mllp import frame
from schemas.topics import Topics
from sepsis_alert.kafka.broker import LocalBroker, free_port
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.topics import ensure_topics
from tests.adversarial.messages import observation, unique, vitals_oru
from tests.adversarial.servers import ack_code
from tests.faults.procs import WorkerProcess, wait_until
from tests.ingest.adapters.harness import MllpClient

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
MESSAGES = 40
"""Per sender; paced so that sending spans the outage."""
PACE_S = 1.0
TOKEN = "outage-" + uuid.uuid4().hex


@dataclass
class SenderLog:
    accepted: list[str] = field(default_factory=list)
    """ids answered AA / 2xx, in order."""
    refusals: Counter[str] = field(default_factory=Counter)
    """how the outage showed: AE, AR, no-ack, 503, ..."""
    bad_successes: list[str] = field(default_factory=list)
    retry_after_missing: int = 0
    errors: list[str] = field(default_factory=list)


def _hl7_sender(port: int, messages: list[tuple[str, bytes]], log: SenderLog, stop: threading.Event) -> None:
    """Sequential interface engine: send, wait for the ACK, resend on AE / silence / broken connection."""
    client: MllpClient | None = None
    for control_id, message in messages:
        while not stop.is_set():
            try:
                if client is None:
                    client = MllpClient("127.0.0.1", port, timeout_s=20)
                client.send_raw(frame(message))
                code = ack_code(client.read_ack())
            except (OSError, ConnectionError):
                log.refusals["no-ack"] += 1
                if client is not None:
                    client.close()
                client = None
                time.sleep(1.0)
                continue
            if code == "AA":
                log.accepted.append(control_id)
                break
            log.refusals[code] += 1
            time.sleep(1.0)
        time.sleep(PACE_S)
    if client is not None:
        client.close()


def _fhir_sender(base: str, bodies: list[tuple[str, bytes]], log: SenderLog, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, timeout=30) as client:
        for rid, body in bodies:
            while not stop.is_set():
                try:
                    response = client.post("/fhir/Observation", content=body, headers=headers)
                except httpx.TransportError:
                    log.refusals["no-response"] += 1
                    time.sleep(1.0)
                    continue
                if response.status_code in (200, 201):
                    log.accepted.append(rid)
                    break
                log.refusals[str(response.status_code)] += 1
                if response.status_code == 503:
                    if "retry-after" not in response.headers:
                        log.retry_after_missing += 1
                    time.sleep(1.0)
                    continue
                log.errors.append(f"{rid}: {response.status_code} {response.text[:200]}")
                break
            time.sleep(PACE_S)


def _wait_port(port: int, process: WorkerProcess) -> None:
    import socket

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(lambda: listening() or not process.alive, 90, f"{process.name} to listen\n{process.log_tail()}")
    assert process.alive, f"{process.name} exited\n{process.log_tail()}"


def test_broker_outage_during_hl7_and_fhir_ingest(own_broker: LocalBroker, tmp_path: Path) -> None:
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    ensure_topics(kafka)
    env = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap, "SEPSIS_FHIR_TOKENS": TOKEN}
    mllp_port, fhir_port = free_port(), free_port()
    hl7 = WorkerProcess("ingest-hl7", ["ingest-hl7", "--port", str(mllp_port)], env, tmp_path)
    fhir = WorkerProcess("ingest-fhir", ["ingest-fhir", "--port", str(fhir_port)], env, tmp_path)
    tag = uuid.uuid4().hex[:6]
    hl7_messages = [(cid, vitals_oru(control_id=cid, mrn=f"OUT{tag}{i}"))
                    for i, cid in enumerate(unique("OUT") for _ in range(MESSAGES))]
    fhir_bodies = [(f"out-{tag}-{i}", json.dumps(observation(rid=f"out-{tag}-{i}", patient=f"out-{tag}-p{i}")).encode())
                   for i in range(MESSAGES)]
    hl7_log, fhir_log = SenderLog(), SenderLog()
    stop = threading.Event()
    senders = [threading.Thread(target=_hl7_sender, args=(mllp_port, hl7_messages, hl7_log, stop), daemon=True),
               threading.Thread(target=_fhir_sender, args=(f"http://127.0.0.1:{fhir_port}", fhir_bodies, fhir_log,
                                                            stop), daemon=True)]
    try:
        hl7.start()
        fhir.start()
        _wait_port(mllp_port, hl7)
        _wait_port(fhir_port, fhir)
        for thread in senders:
            thread.start()
        wait_until(lambda: len(hl7_log.accepted) >= 3 and len(fhir_log.accepted) >= 3, 120,
                   f"traffic before the outage\n{hl7.log_tail()}\n{fhir.log_tail()}")
        own_broker.stop()
        accepted_before = (len(hl7_log.accepted), len(fhir_log.accepted))
        time.sleep(OUTAGE_S)
        accepted_during = (len(hl7_log.accepted) - accepted_before[0], len(fhir_log.accepted) - accepted_before[1])
        own_broker.start(180)
        for thread in senders:
            thread.join(MESSAGES * (PACE_S + 1) + 240)
        assert not any(t.is_alive() for t in senders), "senders did not finish after the broker came back"
        assert hl7.alive and fhir.alive, "a worker died during the outage"
        assert hl7.starts == 1 and fhir.starts == 1
    finally:
        stop.set()
        hl7.stop()
        fhir.stop()

    # the outage was seen by both senders, and nothing was accepted while the broker was down
    problems: list[str] = []
    if not hl7_log.refusals:
        problems.append("the HL7 sender never noticed the outage")
    if fhir_log.refusals.get("503", 0) == 0:
        problems.append(f"no 503 during the outage: {dict(fhir_log.refusals)}")
    if fhir_log.retry_after_missing:
        problems.append("a 503 without Retry-After")
    if accepted_during != (0, 0):
        problems.append(f"accepted while Kafka was down (HL7, FHIR): {accepted_during}")
    problems += fhir_log.errors
    if [c for c, _ in hl7_messages] != hl7_log.accepted or [r for r, _ in fhir_bodies] != fhir_log.accepted:
        problems.append("not every message was eventually accepted")

    # everything accepted is stored exactly once, retransmissions included
    raw_hl7: Counter[str] = Counter()
    for record in read_all(kafka, Topics.RAW_HL7, timeout_s=60):
        raw_hl7[dict(record.headers or []).get("source_message_id", b"").decode()] += 1
    stored = {c: raw_hl7.get(c, 0) for c, _ in hl7_messages}
    if any(n != 1 for n in stored.values()):
        problems.append(f"HL7 raw records per accepted message != 1: {({c: n for c, n in stored.items() if n != 1})}")
    raw_fhir = Counter(json.loads(r.value).get("id") for r in read_all(kafka, Topics.RAW_FHIR, timeout_s=60))
    stored_fhir = {r: raw_fhir.get(r, 0) for r, _ in fhir_bodies}
    if any(n != 1 for n in stored_fhir.values()):
        problems.append(f"FHIR raw records per accepted body != 1: "
                        f"{({r: n for r, n in stored_fhir.items() if n != 1})}")
    observations: Counter[tuple[str, str]] = Counter()
    for record in read_all(kafka, Topics.OBSERVATIONS, timeout_s=60):
        event = json.loads(record.value)
        observations[(str(event["source"]), event["source_id"])] += 1
    twice = {k: n for k, n in observations.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} observations stored more than once, e.g. {list(twice.items())[:3]}")
    distinct = Counter(source for source, _sid in observations)
    if distinct.get("hl7v2", 0) != 6 * MESSAGES or distinct.get("fhir", 0) != MESSAGES:
        problems.append(f"distinct observations per source {dict(distinct)}, expected hl7v2={6 * MESSAGES}, "
                        f"fhir={MESSAGES}")
    assert problems == [], "\n".join(problems)
