"""Shared test helpers: alert factory and a real loopback HTTP receiver with failure injection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from schemas.alert import Alert, AlertLevel, AlertTransition, ScoreSnapshot, alert_id_for, episode_id_for
from schemas.base import Location

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_alert(patient: str = "MRN12345678", sequence: int = 0, level: int = 3,
               transition: AlertTransition = AlertTransition.OPENED, unit: str = "MICU", bed: str = "12",
               facility: str = "General", previous_level: int = 0, reasons: list[str] | None = None,
               **extra: object) -> Alert:
    """A realistic alert; the episode id is deterministic for (patient, T0)."""
    episode = episode_id_for(patient, T0)
    return Alert(
        patient_key=patient, alert_id=alert_id_for(episode, sequence), episode_id=episode, sequence=sequence,
        level=AlertLevel(level), previous_level=AlertLevel(previous_level), transition=transition,
        scores=[ScoreSnapshot(name="news2", value=7, band="high"), ScoreSnapshot(name="qsofa", value=2)],
        reasons=reasons if reasons is not None else [
            "NEWS2 7 (RR 26, SpO2 91%)", "qSOFA 2 (RR >= 22, SBP <= 100)", "lactate 2.6 mmol/L", "fourth reason"],
        infection_suspected=True, event_time=T0 + timedelta(minutes=sequence),
        emitted_at=T0 + timedelta(minutes=sequence, seconds=5),
        location=Location(facility=facility, unit=unit, room="4", bed=bed), **extra)  # type: ignore[arg-type]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    """One scripted answer: status, extra headers, and a delay before answering (to force client timeouts)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: bytes = b"ok"


class Receiver:
    """A real HTTP server on 127.0.0.1 playing PagerDuty / Slack / Teams / a webhook.

    `script[path]` is a list of Replies consumed in order; when it runs out the
    default reply (`ok_status`) is used. Every request is recorded.
    """

    def __init__(self, ok_status: int = 200) -> None:
        self.ok_status = ok_status
        self.script: dict[str, list[Reply]] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, time.monotonic()))
                    queue = receiver.script.get(self.path.split("?")[0], [])
                    reply = queue.pop(0) if queue else Reply(receiver.ok_status)
                    receiver._cond.notify_all()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="test-receiver", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.script.setdefault(path, []).extend(replies)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 20.0) -> list[Received]:
        """Block until `count` requests reached `path` (bounded); returns them (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len([r for r in self.requests if r.path.split("?")[0] == path]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        return self.at(path)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_receiver(ok_status: int = 200) -> Iterator[Receiver]:
    receiver = Receiver(ok_status).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def closed_port() -> int:
    """A port with nothing listening on it."""
    from devstack.broker import free_port

    return free_port()
