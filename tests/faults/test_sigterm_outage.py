"""Issue #20: SIGTERM ends every worker within a bound (10 s) even while the broker is down.

The real processes (ingest-hl7 with a message in flight, ingest-fhir, detect, notify) run on a private
broker until each says ready; the broker is stopped; after a few seconds of outage (clients retrying,
writes pending) every worker gets SIGTERM at once and must be gone within STOP_BOUND_S.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from devstack.broker import LocalBroker
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.topics import ensure_topics
from tests.adversarial.messages import unique, vitals_oru
from tests.faults.procs import wait_until
from tests.faults.test_broker_outage import ReadinessLog, _ops_port, _wait_port, _workers
from tests.ingest.adapters.harness import MllpClient

pytestmark = pytest.mark.integration

STOP_BOUND_S = 10.0
OUTAGE_BEFORE_SIGTERM_S = 8.0


def _send_one(port: int) -> None:
    """An HL7 message that cannot be stored (the broker is down): the worker is busy with it at SIGTERM."""
    from ingest.adapters.mllp import frame

    try:
        client = MllpClient("127.0.0.1", port, timeout_s=30)
        client.send_raw(frame(vitals_oru(control_id=unique("TERM"), mrn="TERM1")))
        client.read_ack()
    except (OSError, ConnectionError):
        pass  # the worker may close the connection on its way out


def test_sigterm_ends_every_worker_within_bound_during_outage(own_broker: LocalBroker, tmp_path: Path) -> None:
    ensure_topics(KafkaSettings(bootstrap_servers=own_broker.bootstrap))
    workers, mllp_port, fhir_port, receiver = _workers(own_broker.bootstrap, tmp_path)
    readiness = ReadinessLog()
    stop = threading.Event()
    watcher = threading.Thread(target=readiness.watch, args=(
        {w.name: f"http://127.0.0.1:{_ops_port(w)}/readyz" for w in workers}, stop), daemon=True)
    took: dict[str, float] = {}
    try:
        for worker in workers:
            worker.start()
        _wait_port(mllp_port, workers[0])
        _wait_port(fhir_port, workers[1])
        watcher.start()
        for worker in workers:
            wait_until(lambda w=worker: readiness.seen(w.name, 0, time.monotonic(), ready=True) or not w.alive,  # type: ignore[misc]
                       120, f"{worker.name} ready\n{worker.log_tail()}")
        own_broker.stop()
        threading.Thread(target=_send_one, args=(mllp_port,), daemon=True).start()
        time.sleep(OUTAGE_BEFORE_SIGTERM_S)
        alive = [w for w in workers if w.alive]
        assert len(alive) == len(workers), "a worker died during the outage"
        started = time.monotonic()
        for worker in workers:
            assert worker.proc is not None
            os.kill(worker.proc.pid, signal.SIGTERM)
        for worker in workers:
            assert worker.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(max(0.1, started + 60 - time.monotonic()))
            took[worker.name] = time.monotonic() - started if worker.proc.poll() is not None else float("inf")
    finally:
        stop.set()
        for worker in workers:
            worker.stop(5)
        receiver.close()
    # each worker's exit is awaited in turn, so a figure is an upper bound of that worker's own time
    slow = {name: round(s, 1) for name, s in took.items() if s > STOP_BOUND_S}
    assert slow == {}, f"seconds from SIGTERM to exit: {({n: round(s, 1) for n, s in took.items()})}\n" + "\n".join(
        w.log_tail(1500) for w in workers if w.name in slow)
