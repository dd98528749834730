"""Helpers of the fault tests: real worker processes (started, SIGKILLed, restarted by pid), Kafka
look-ups (topic contents, consumer-group lag), a replay sink with its own topic names, and an
HTTP receiver that can be taken down and brought back on the same port.

Only processes started here are ever signalled, always by their own pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord

REPO = Path(__file__).resolve().parents[2]

__all__ = ["HttpReceiver", "TopicReplaySink", "WorkerProcess", "group_lag", "read_json", "wait_until"]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.5) -> None:
    """Poll `predicate` until true; AssertionError naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


class WorkerProcess:
    """`python -m sepsis_alert.cli <args>` as a child process with its own environment and log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        # SEPSIS_OPS_PORT=0: every worker's ops server on a free port, so several can run side by side
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "SEPSIS_OPS_PORT": "0", **env}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        self.starts += 1
        with self.log_path.open("ab") as out:
            out.write(f"\n=== start #{self.starts} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", *self.args], env=self.env, cwd=REPO,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no flush, no commit."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]


def read_json(settings: KafkaSettings, topic: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every non-tombstone record value of `topic`, decoded, in (partition, offset) order."""
    return [json.loads(r.value) for r in read_all(settings, topic, timeout_s=timeout_s) if r.value is not None]


def group_lag(settings: KafkaSettings, group: str, topics: list[str]) -> int:
    """Records of `topics` not yet committed by consumer group `group` (end offset - committed, summed)."""
    # a consumer that never subscribes does not join the group: it only reads the committed offsets
    consumer = KafkaConsumer(**settings.client_kwargs(), group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(partitions)
        lag = 0
        for tp, end in ends.items():
            done = consumer.committed(tp) or 0
            lag += max(0, end - done)
        return lag
    finally:
        consumer.close(autocommit=False)


class TopicReplaySink:
    """A ReplaySink (evaluation.replay) writing admissions and observations to the topics given."""

    name = "kafka-topics"

    def __init__(self, producer: EventProducer, observations: str, patient_events: str,
                 hold: Callable[[], None] | None = None) -> None:
        self.producer = producer
        self.observations = observations
        self.patient_events = patient_events
        self.hold = hold or (lambda: None)
        self.pending: list[OutboundRecord] = []
        self.stats: dict[str, int] = {"records": 0}

    def send_admit(self, event: Any) -> None:
        self.pending.append(OutboundRecord.from_event(self.patient_events, event))

    def send_hour(self, message: Any) -> None:
        for obs in message.observations:
            self.pending.append(OutboundRecord.from_event(self.observations, obs))
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.hold()
            self.producer.send_all(self.pending, timeout_s=60)
            self.stats["records"] += len(self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()


# ------------------------------------------------------------------------------------ receiver


@dataclass
class Delivery:
    """One request the receiver answered 2xx (the only ones the notifier may count as delivered)."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at_s: float


@dataclass
class ReceiverState:
    status: int = 200
    """HTTP status to answer (200 = accept)."""
    deliveries: list[Delivery] = field(default_factory=list)
    refused: int = 0
    bad_signatures: int = 0
    delay_s: float = 0.0
    in_flight: int = 0
    truncated: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _BackloggedHTTPServer(ThreadingHTTPServer):
    # the stock listen backlog is 5: a notifier opening 64 connections at once overflows it, and the overflowed
    # connections fail (ReadError / ConnectTimeout) the way no production receiver behind a load balancer does
    request_queue_size = 128
    daemon_threads = True


class HttpReceiver:
    """A webhook receiver on 127.0.0.1 that verifies `X-Sepsis-Signature` (the notifier's documented recipe),
    can answer an error status, and can be stopped and restarted on the same port (`down()` / `up()`)."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret.encode()
        self.state = ReceiverState()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                state = receiver.state
                if len(raw) < length:
                    # the sender died mid-request (a SIGKILL test): an incomplete request, not a bad signature
                    with state.lock:
                        state.truncated += 1
                    self.close_connection = True
                    return
                with state.lock:
                    state.in_flight += 1
                try:
                    self._answer(raw, state)
                finally:
                    with state.lock:
                        state.in_flight -= 1

            def _answer(self, raw: bytes, state: ReceiverState) -> None:
                if state.delay_s:
                    time.sleep(state.delay_s)
                signature = self.headers.get("X-Sepsis-Signature", "")
                if not receiver.signature_ok(signature, raw):
                    with state.lock:
                        state.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with state.lock:
                    status = state.status
                    if status < 300:
                        state.deliveries.append(Delivery(self.path, json.loads(raw), dict(self.headers.items()),
                                                         time.time()))
                    else:
                        state.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def signature_ok(self, header: str, raw: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts:
            return False
        expected = hmac.new(self.secret, parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300

    def up(self) -> HttpReceiver:
        server = _BackloggedHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Close the listening socket: new connections are refused (a receiver that is down)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def delivered_ids(self, path_prefix: str = "") -> list[str]:
        with self.state.lock:
            return [d.body.get("alert_id", "") for d in self.state.deliveries if d.path.startswith(path_prefix)]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.down()
