"""Test helpers: a real MLLP client over a socket and the HL7 worker running on its own event-loop thread."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import uuid
from collections.abc import Callable

from ingest.adapters.mllp import END_BLOCK, frame
from ingest.hl7_worker import Hl7Worker

ACK_TIMEOUT_S = 60.0
"""Generous: the machine is shared; this bounds a hang, it is not a speed requirement."""


class MllpClient:
    """A blocking MLLP sender, as an interface engine behaves: send one message, wait for its ACK."""

    def __init__(self, host: str, port: int, timeout_s: float = ACK_TIMEOUT_S,
                 tls: ssl.SSLContext | None = None) -> None:
        raw = socket.create_connection((host, port), timeout=timeout_s)
        self.sock: socket.socket = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        self._buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_ack(self) -> bytes:
        """The next ACK payload (without framing); ConnectionError if the server closed the connection."""
        while END_BLOCK not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        end = self._buffer.index(END_BLOCK)
        block, self._buffer = self._buffer[:end], self._buffer[end + len(END_BLOCK):]
        return block[block.index(b"\x0b") + 1:]

    def send(self, message: bytes) -> bytes:
        self.send_raw(frame(message))
        return self.read_ack()

    def closed_by_server(self, timeout_s: float) -> bool:
        """True if the server closes the connection within `timeout_s` seconds (data is discarded)."""
        self.sock.settimeout(timeout_s)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def ack_fields(ack: bytes) -> dict[str, list[str]]:
    """{segment id: fields} of an ACK (MSH fields shifted so that index n is MSH-n)."""
    out: dict[str, list[str]] = {}
    for line in ack.decode().split("\r"):
        if line:
            fields = line.split("|")
            if fields[0] == "MSH":
                fields.insert(1, "|")
            out[fields[0]] = fields
    return out


def unique_id(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class WorkerThread:
    """Runs `make_worker()` on a private asyncio loop in a daemon thread (the test talks to it over TCP)."""

    def __init__(self, make_worker: Callable[[], Hl7Worker]) -> None:
        self._make_worker = make_worker
        self.loop = asyncio.new_event_loop()
        self.worker: Hl7Worker | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hl7-worker", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.worker = self._make_worker()
            self.loop.run_until_complete(self.worker.start())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> int:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("HL7 worker did not start within 30 s")
        if self._error is not None:
            raise self._error
        assert self.worker is not None
        return self.worker.port

    def stop(self) -> None:
        if self.worker is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.worker.stop(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()
