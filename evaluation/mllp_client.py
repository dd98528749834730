"""A small blocking MLLP client for the replay load generator: send one message, wait for its ACK.

Framing (HL7 v2 MLLP, Release 1): <VT 0x0b> message <FS 0x1c><CR 0x0d>. Each message
waits for its ACK before the next goes out, so the listener's back-pressure paces
the replay. A lost connection or a timed-out ACK is retried on a fresh connection a
bounded number of times (the message is resent with the same control id, which the
listener de-duplicates), then `MllpDeliveryError` is raised.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from types import TracebackType

__all__ = ["Ack", "MllpClient", "MllpDeliveryError", "parse_ack"]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_ACK_BYTES = 1 << 20


class MllpDeliveryError(Exception):
    """The listener could not be reached or did not ACK in time, after every retry."""


@dataclass(frozen=True, slots=True)
class Ack:
    """MSA-1 acknowledgement code (AA/AE/AR or CA/CE/CR), MSA-2 control id, MSA-3 text."""

    code: str
    control_id: str
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def parse_ack(frame: bytes) -> Ack:
    """The MSA of an ACK message (bytes between the MLLP block characters).

    Raises ValueError when there is no MSA segment.
    """
    text = frame.decode("utf-8", errors="replace")
    for segment in text.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            fields = [*segment.split(segment[3] if len(segment) > 3 else "|"), "", "", ""]
            return Ack(code=fields[1].strip().upper(), control_id=fields[2], text=fields[3])
    raise ValueError("no MSA segment in the acknowledgement")


class MllpClient:
    """One TCP connection to an MLLP listener; `send(message)` returns the listener's Ack.

    `timeout_s` bounds the connect and each ACK wait (seconds); `retries` is how many
    times a failed delivery is retried on a new connection (with `retry_backoff_s`
    seconds between attempts) before MllpDeliveryError.
    """

    def __init__(self, host: str, port: int, *, timeout_s: float = 30.0, retries: int = 3,
                 retry_backoff_s: float = 1.0) -> None:
        self.host, self.port = host, port
        self.timeout_s, self.retries, self.retry_backoff_s = timeout_s, retries, retry_backoff_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._sock.settimeout(self.timeout_s)
            self._buffer = b""
        return self._sock

    def _read_frame(self, sock: socket.socket) -> bytes:
        while END_BLOCK not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("listener closed the connection before acknowledging")
            self._buffer += chunk
            if len(self._buffer) > MAX_ACK_BYTES:
                raise ConnectionError("acknowledgement larger than 1 MiB")
        frame, _, self._buffer = self._buffer.partition(END_BLOCK)
        start = frame.find(START_BLOCK)
        return frame[start + 1:] if start >= 0 else frame

    def send(self, message: str | bytes) -> Ack:
        """Send one message (segments separated by CR) and return its Ack (blocking)."""
        payload = message.encode("utf-8") if isinstance(message, str) else message
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_backoff_s)
            try:
                sock = self._connect()
                sock.sendall(START_BLOCK + payload + END_BLOCK)
                return parse_ack(self._read_frame(sock))
            except (OSError, ValueError) as exc:  # timeouts and resets are OSErrors
                last_error = exc
                self.close()
        raise MllpDeliveryError(f"no ACK from {self.host}:{self.port} after {self.retries + 1} attempts: "
                                f"{last_error!r}") from last_error
