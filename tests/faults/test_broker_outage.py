"""Kafka stopped for ~30 s (or SIGKILLed) while HL7 v2 (MLLP) and FHIR senders keep sending to the real workers.

An interface engine resends a message until it gets AA; a FHIR client retries on 503 (after Retry-After).
Proved here: during the outage nobody gets AA / 2xx for something not stored (the outage is seen as AE /
no ACK and as 503 with Retry-After); after it, every accepted message is in Kafka exactly once (raw topic
and canonical observations), retransmissions included; and every worker healed on its own (issue #20:
same process, never restarted): each HL7 sender gets AA again within seconds of the broker's return,
/readyz of ingest-hl7, ingest-fhir, detect and notify went not-ready during the outage and ready again,
and the detector (and notifier) survived and consumed every observation. Uses a private broker so that
the session broker is not disturbed.
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

from devstack.broker import LocalBroker, free_port
from devstack.runner import notifier_config
from ingest.adapters.mllp import frame
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.topics import ensure_topics
from tests.adversarial.messages import observation, unique, vitals_oru
from tests.adversarial.servers import ack_code
from tests.faults.procs import HttpReceiver, WorkerProcess, group_lag, wait_until
from tests.ingest.adapters.harness import MllpClient

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
MESSAGES = 40
"""Per sender; paced so that sending spans the outage."""
HL7_SENDERS = 4
RECOVERY_S = 20.0
"""Each HL7 sender must get AA again within this many seconds of the broker answering (2-core machine)."""
READY_WORKERS = ("ingest-hl7", "ingest-fhir", "detect", "notify")
PACE_S = 1.0
TOKEN = "outage-" + uuid.uuid4().hex


@dataclass
class SenderLog:
    accepted: list[str] = field(default_factory=list)
    """ids answered AA / 2xx, in order."""
    accepted_at: list[float] = field(default_factory=list)
    """monotonic time of each acceptance."""
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
                log.accepted_at.append(time.monotonic())
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


@dataclass
class ReadinessLog:
    """/readyz answers of each worker over time: (monotonic s, HTTP status or 0 when nothing answered)."""

    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def watch(self, urls: dict[str, str], stop: threading.Event) -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.is_set():
                for name, url in urls.items():
                    try:
                        status = client.get(url).status_code
                    except httpx.HTTPError:
                        status = 0
                    self.samples.setdefault(name, []).append((time.monotonic(), status))
                stop.wait(0.5)

    def seen(self, name: str, start: float, end: float, ready: bool) -> bool:
        return any(start <= t <= end and (status == 200) == ready for t, status in self.samples.get(name, []))


def _ops_port(process: WorkerProcess) -> int:
    return int(process.env["SEPSIS_OPS_PORT"])


def _workers(bootstrap: str, tmp_path: Path) -> tuple[list[WorkerProcess], int, int, HttpReceiver]:
    """ingest-hl7, ingest-fhir, detect and notify on `bootstrap`, each with its own ops port."""
    mllp_port, fhir_port, api_port, receiver_port = free_port(), free_port(), free_port(), free_port()
    receiver = HttpReceiver(receiver_port, "outage-secret").up()
    config = tmp_path / "notifier.yaml"
    config.write_text(notifier_config(f"http://127.0.0.1:{receiver_port}", "outage-secret"))
    base = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SEPSIS_FHIR_TOKENS": TOKEN}
    args = {"ingest-hl7": ["ingest-hl7", "--port", str(mllp_port)],
            "ingest-fhir": ["ingest-fhir", "--port", str(fhir_port)],
            "detect": ["detect"],
            "notify": ["notify", "--config", str(config), "--api-port", str(api_port)]}
    extra = {"notify": {"SEPSIS_NOTIFIER_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}"}}
    workers = [WorkerProcess(name, argv, {**base, "SEPSIS_OPS_PORT": str(free_port()), **extra.get(name, {})},
                             tmp_path) for name, argv in args.items()]
    return workers, mllp_port, fhir_port, receiver


def _outage(own_broker: LocalBroker, tmp_path: Path, *, crash: bool, outage_s: float, messages: int,
            hl7_senders: int, check_ready: tuple[str, ...] = READY_WORKERS) -> None:
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    ensure_topics(kafka)
    workers, mllp_port, fhir_port, receiver = _workers(own_broker.bootstrap, tmp_path)
    hl7, fhir, detect, notify = workers
    tag = uuid.uuid4().hex[:6]
    hl7_messages = [[(cid, vitals_oru(control_id=cid, mrn=f"OUT{tag}{n}x{i}"))
                     for i, cid in enumerate(unique("OUT") for _ in range(messages))] for n in range(hl7_senders)]
    fhir_bodies = [(f"out-{tag}-{i}", json.dumps(observation(rid=f"out-{tag}-{i}", patient=f"out-{tag}-p{i}")).encode())
                   for i in range(messages)]
    hl7_logs, fhir_log = [SenderLog() for _ in range(hl7_senders)], SenderLog()
    readiness = ReadinessLog()
    stop = threading.Event()
    senders = [threading.Thread(target=_hl7_sender, args=(mllp_port, msgs, log, stop), daemon=True)
               for msgs, log in zip(hl7_messages, hl7_logs, strict=True)]
    senders.append(threading.Thread(target=_fhir_sender, args=(f"http://127.0.0.1:{fhir_port}", fhir_bodies,
                                                                fhir_log, stop), daemon=True))
    watcher = threading.Thread(target=readiness.watch, args=(
        {w.name: f"http://127.0.0.1:{_ops_port(w)}/readyz" for w in workers}, stop), daemon=True)
    try:
        for worker in workers:
            worker.start()
        _wait_port(mllp_port, hl7)
        _wait_port(fhir_port, fhir)
        watcher.start()
        for worker in workers:
            # 240 s: a fresh checkout's first detector compiles its numba kernels (no cache yet) beside three
            # other workers and the broker on two cores
            wait_until(lambda w=worker: readiness.seen(w.name, 0, time.monotonic(), ready=True) or not w.alive,  # type: ignore[misc]
                       240, f"{worker.name} ready\n{worker.log_tail()}")
        for thread in senders:
            thread.start()
        wait_until(lambda: min(len(log.accepted) for log in [*hl7_logs, fhir_log]) >= 3, 120,
                   f"traffic before the outage\n{hl7.log_tail()}\n{fhir.log_tail()}")
        if crash:
            own_broker.kill()
        else:
            own_broker.stop()
        down = time.monotonic()
        accepted_before = [len(log.accepted) for log in [*hl7_logs, fhir_log]]
        time.sleep(outage_s)
        accepted_during = [len(log.accepted) - n for log, n in zip([*hl7_logs, fhir_log], accepted_before,
                                                                     strict=True)]
        own_broker.start(180)
        up = time.monotonic()
        for thread in senders:
            thread.join(messages * (PACE_S + 1) + 240)
        assert not any(t.is_alive() for t in senders), "senders did not finish after the broker came back"
        dead = [w.name for w in workers if not w.alive or w.starts != 1]
        assert dead == [], f"died or restarted during the outage: {dead}\n" + "\n".join(
            w.log_tail(1500) for w in workers if w.name in dead)
        # the detector consumed every observation, in the same process
        inputs = [Topics.OBSERVATIONS, Topics.PATIENT_EVENTS, Topics.CARE_EVENTS]
        wait_until(lambda: group_lag(kafka, "sepsis-detector", inputs) == 0 or not detect.alive, 120,
                   f"the detector to consume everything\n{detect.log_tail()}")
        assert detect.alive and notify.alive, f"{detect.log_tail()}\n{notify.log_tail()}"
        end = time.monotonic()
    finally:
        stop.set()
        for worker in workers:
            worker.stop()
        receiver.close()

    problems: list[str] = []
    # every HL7 sender got AA again within seconds of the broker's return (the worker healed by itself)
    for n, log in enumerate(hl7_logs):
        after = [t for t in log.accepted_at if t >= up]
        if not after or after[0] - up > RECOVERY_S:
            problems.append(f"HL7 sender {n}: first AA {after[0] - up if after else None} s after the broker "
                            f"returned (bound {RECOVERY_S} s)")
    # readiness went not-ready during the outage and ready again after it
    for name in check_ready:
        if not readiness.seen(name, down, up, ready=False):
            problems.append(f"{name}: /readyz never said not-ready while the broker was down")
        if not readiness.seen(name, up, end, ready=True):
            problems.append(f"{name}: /readyz never said ready again after the broker returned")
    # the outage was seen by the senders, and nothing was accepted while the broker was down
    if not all(log.refusals for log in hl7_logs):
        problems.append("an HL7 sender never noticed the outage")
    if fhir_log.refusals.get("503", 0) == 0:
        problems.append(f"no 503 during the outage: {dict(fhir_log.refusals)}")
    if fhir_log.retry_after_missing:
        problems.append("a 503 without Retry-After")
    if any(accepted_during):
        problems.append(f"accepted while Kafka was down (HL7 senders..., FHIR): {accepted_during}")
    problems += fhir_log.errors
    if (any([c for c, _ in msgs] != log.accepted for msgs, log in zip(hl7_messages, hl7_logs, strict=True))
            or [r for r, _ in fhir_bodies] != fhir_log.accepted):
        problems.append("not every message was eventually accepted")

    # everything accepted is stored exactly once, retransmissions included
    raw_hl7: Counter[str] = Counter()
    for record in read_all(kafka, Topics.RAW_HL7, timeout_s=60):
        raw_hl7[dict(record.headers or []).get("source_message_id", b"").decode()] += 1
    stored = {c: raw_hl7.get(c, 0) for msgs in hl7_messages for c, _ in msgs}
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
    if distinct.get("hl7v2", 0) != 6 * messages * hl7_senders or distinct.get("fhir", 0) != messages:
        problems.append(f"distinct observations per source {dict(distinct)}, expected "
                        f"hl7v2={6 * messages * hl7_senders}, fhir={messages}")
    assert problems == [], "\n".join(problems)


def test_broker_outage_during_hl7_and_fhir_ingest(own_broker: LocalBroker, tmp_path: Path) -> None:
    _outage(own_broker, tmp_path, crash=False, outage_s=OUTAGE_S, messages=MESSAGES, hl7_senders=HL7_SENDERS)


def test_broker_crash_and_restart_during_ingest(own_broker: LocalBroker, tmp_path: Path) -> None:
    """SIGKILL: no clean shutdown, in-flight requests unanswered; shorter, and fewer messages."""
    # the notifier's probe runs every 5 s (notifier/app.py): too coarse to be sure to see a 12 s outage
    _outage(own_broker, tmp_path, crash=True, outage_s=12.0, messages=15, hl7_senders=2,
            check_ready=("ingest-hl7", "ingest-fhir", "detect"))
