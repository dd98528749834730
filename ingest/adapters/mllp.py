"""MLLP over TCP (optionally TLS): our own framer and an asyncio server. Framing only; no HL7 parsing here.

    block = 0x0B <message bytes> 0x1C 0x0D

* `MllpFramer` is a pure, incremental decoder: `feed(chunk) -> [frame, ...]`. It
  handles partial reads and several frames per read, skips bytes between frames
  (white space some senders emit), and raises `FrameTooLarge` past the limit.
* `MllpServer` accepts many connections; on each one it processes frames in
  order (one message, one ACK, as interface engines expect), closes a
  connection idle for `idle_timeout_s` or whose frame is not complete within
  `frame_timeout_s` of its first byte (a slow-loris sender dribbling bytes never
  trips the idle timeout), and with TLS can require a client certificate whose
  subject CN / DNS SAN is in an allow-list.
* An oversize frame closes the connection without an ACK (the rest of the frame
  is unread, so the stream cannot be resynchronised); the `on_oversize` hook is
  given its first bytes (e.g. to dead-letter them).

The handler (`FrameHandler`) turns one frame into the ACK bytes; it must not
raise (the worker catches everything), but if it does the connection is
closed, the server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sepsis_alert.ops.settings import is_loopback_host

__all__ = [
    "END_BLOCK",
    "HEAD_BYTES",
    "START_BLOCK",
    "FrameHandler",
    "FrameTooLarge",
    "MllpError",
    "MllpFramer",
    "MllpServer",
    "MllpSettings",
    "OversizeHandler",
    "Peer",
    "frame",
    "server_ssl_context",
]

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
HEAD_BYTES = 4096
"""How much of an oversize frame is kept (and dead-lettered): its header and first segments."""


class MllpError(Exception):
    """Root of MLLP framing errors."""


class FrameTooLarge(MllpError):
    """A frame grew past the configured maximum before its end block arrived.

    `head` holds the frame's first HEAD_BYTES bytes (enough for its MSH), for the dead letter.
    """

    def __init__(self, message: str, head: bytes = b"") -> None:
        super().__init__(message)
        self.head = head


def frame(payload: bytes) -> bytes:
    """Wrap one message in MLLP start/end blocks."""
    return START_BLOCK + payload + END_BLOCK


class MllpFramer:
    """Incremental MLLP decoder (pure; no I/O). Feed it whatever the socket returned."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self.skipped_bytes = 0
        """Bytes seen outside any frame (junk between frames), for metrics."""

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete frames (payloads without the blocks), in order."""
        frames: list[bytes] = []
        buf = self._buffer
        buf += data
        while buf:
            if not self._in_frame:
                start = buf.find(START_BLOCK)
                if start < 0:
                    self.skipped_bytes += len(buf)
                    buf.clear()
                    break
                self.skipped_bytes += start
                del buf[:start + 1]
                self._in_frame = True
            end = buf.find(END_BLOCK)
            if end < 0:
                # keep a trailing 0x1C: its 0x0D may come with the next read
                if len(buf) > self.max_frame_bytes + 1:
                    size, head = len(buf), bytes(buf[:HEAD_BYTES])
                    buf.clear()
                    self._in_frame = False
                    raise FrameTooLarge(f"frame larger than {self.max_frame_bytes} bytes (got {size} so far)", head)
                break
            if end > self.max_frame_bytes:
                head = bytes(buf[:HEAD_BYTES])
                buf.clear()
                self._in_frame = False
                raise FrameTooLarge(f"frame of {end} bytes is larger than {self.max_frame_bytes}", head)
            frames.append(bytes(buf[:end]))
            del buf[:end + len(END_BLOCK)]
            self._in_frame = False
        return frames

    @property
    def in_frame(self) -> bool:
        """True between a start block and its end block (a frame has begun and is not complete)."""
        return self._in_frame

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame waiting for more data."""
        return len(self._buffer)


@dataclass(frozen=True, slots=True)
class Peer:
    """Who sent a frame: address and, with mutual TLS, the client certificate's name."""

    host: str
    port: int
    client_name: str | None = None


FrameHandler = Callable[[bytes, Peer], Awaitable[bytes]]
"""Turns one received message (frame payload) into the ACK message to send back (unframed)."""

OversizeHandler = Callable[[bytes, Peer, str], Awaitable[None]]
"""Given the first bytes of an oversized frame, the peer and the reason (e.g. dead-letters them); must not raise."""


class MllpSettings(BaseModel):
    """Listener settings (part of the HL7 worker's settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address to bind")
    port: int = Field(default=2575, ge=0, le=65535, description="TCP port (0 = any free port, for tests)")
    max_frame_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576,
                                 description="largest accepted message in bytes; a longer frame closes the "
                                             "connection")
    idle_timeout_s: float = Field(default=300.0, gt=0, description="close a connection silent this many seconds")
    frame_timeout_s: float = Field(default=10.0, gt=0, le=600,
                                   description="close a connection whose frame is not complete this many seconds "
                                               "after its first byte (start block), however steadily bytes "
                                               "trickle in: stops slow-loris senders that never trip "
                                               "idle_timeout_s. 10 s carries a 1 MiB frame over a 1 Mbit/s link")
    read_chunk_bytes: int = Field(default=65_536, ge=512, description="socket read size")
    tls_certfile: Path | None = Field(default=None, description="PEM server certificate: enables TLS")
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of tls_certfile")
    tls_client_cafile: Path | None = Field(default=None,
                                           description="PEM CA bundle: require client certificates signed by it")
    tls_allowed_clients: list[str] = Field(default_factory=list,
                                           description="client certificate CN or DNS names allowed to connect "
                                                       "(empty: any certificate signed by tls_client_cafile)")
    allow_unauthenticated_off_loopback: bool = Field(
        default=False,
        description="accept connections on a non-loopback host without client certificates (plaintext MLLP, or "
                    "TLS without tls_client_cafile): only where the network already limits who can connect "
                    "(a VPN or stunnel tunnel, a firewall open to the interface engine alone)")

    @model_validator(mode="after")
    def _authenticated_off_loopback(self) -> Self:
        # Anyone who can open the port can inject observations (and so page a rapid-response team): off the
        # local machine a client must prove who it is, or the operator must say the network already does.
        if is_loopback_host(self.host) or self.tls_client_cafile is not None or self.allow_unauthenticated_off_loopback:
            return self
        transport = "plaintext MLLP" if self.tls_certfile is None else "TLS without client certificates"
        raise ValueError(f"host {self.host!r} is not a loopback address and {transport} lets anyone who reaches "
                         f"the port send messages: give it mutual TLS (SEPSIS_HL7_MLLP__TLS_CERTFILE, "
                         f"__TLS_KEYFILE, __TLS_CLIENT_CAFILE) or, where a VPN, stunnel or firewall limits who "
                         f"can connect, SEPSIS_HL7_MLLP__ALLOW_UNAUTHENTICATED_OFF_LOOPBACK=true "
                         f"(docs/integrations/mirth-mllp.md)")


def server_ssl_context(settings: MllpSettings) -> ssl.SSLContext | None:
    """The TLS context for the listener, or None without a certificate."""
    if settings.tls_certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.tls_certfile), str(settings.tls_keyfile) if settings.tls_keyfile else None)
    if settings.tls_client_cafile is not None:
        context.load_verify_locations(cafile=str(settings.tls_client_cafile))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _cert_names(cert: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.add(value)
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            names.add(value)
    return names


class MllpServer:
    """Asyncio MLLP listener. `await start()`, then `await stop()`; `port` is the bound port."""

    def __init__(self, handler: FrameHandler, settings: MllpSettings, *,
                 on_connection: Callable[[int], None] | None = None,
                 on_frame_error: Callable[[str], None] | None = None,
                 on_oversize: OversizeHandler | None = None) -> None:
        self._handler = handler
        self.settings = settings
        self._ssl = server_ssl_context(settings)
        self._allowed = frozenset(settings.tls_allowed_clients)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._on_connection = on_connection or (lambda _delta: None)
        self._on_frame_error = on_frame_error or (lambda _reason: None)
        self._on_oversize = on_oversize
        self.port: int = settings.port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.settings.host, self.settings.port,
                                                  ssl=self._ssl, limit=self.settings.read_chunk_bytes)
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("MLLP listening on %s:%d (tls=%s)", self.settings.host, self.port, self._ssl is not None)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, close open connections, wait for their handlers to finish."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._on_connection(1)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass
        except Exception:  # the connection dies, the server lives
            log.exception("MLLP connection handler failed")
        finally:
            self._on_connection(-1)
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    def _peer(self, writer: asyncio.StreamWriter) -> Peer | None:
        address = writer.get_extra_info("peername") or ("?", 0)
        name: str | None = None
        if self._ssl is not None and self._ssl.verify_mode == ssl.CERT_REQUIRED:
            cert = writer.get_extra_info("peercert") or {}
            names = _cert_names(cert)
            if self._allowed and not (names & self._allowed):
                log.warning("MLLP client certificate not in the allow-list; closing %s", address[0])
                self._on_frame_error("client_not_allowed")
                return None
            name = sorted(names)[0] if names else None
        return Peer(str(address[0]), int(address[1]), name)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = self._peer(writer)
        if peer is None:
            return
        framer = MllpFramer(self.settings.max_frame_bytes)
        loop = asyncio.get_running_loop()
        frame_deadline: float | None = None  # loop time by which the frame in progress must be complete
        while True:
            timeout = self.settings.idle_timeout_s
            if frame_deadline is not None:
                timeout = min(timeout, frame_deadline - loop.time())
            try:
                if timeout <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(reader.read(self.settings.read_chunk_bytes), timeout)
            except TimeoutError:
                expired = frame_deadline is not None and loop.time() >= frame_deadline
                reason = "frame_timeout" if expired else "idle_timeout"
                if expired:
                    log.warning("MLLP frame from %s not complete within %.1f s; closing", peer.host,
                                self.settings.frame_timeout_s)
                self._on_frame_error(reason)
                return
            except (ConnectionError, ssl.SSLError):
                return
            if not chunk:
                if framer.pending_bytes:
                    self._on_frame_error("incomplete_frame")
                return
            try:
                frames = framer.feed(chunk)
            except FrameTooLarge as exc:
                log.warning("MLLP frame from %s rejected: %s", peer.host, exc)
                self._on_frame_error("frame_too_large")
                if self._on_oversize is not None:
                    await self._on_oversize(exc.head, peer, str(exc))
                return  # no ACK: the rest of the frame is unread, the stream cannot be resynchronised
            for payload in frames:
                ack = await self._handler(payload, peer)
                writer.write(frame(ack))
                await writer.drain()
            if not framer.in_frame:
                frame_deadline = None
            elif frame_deadline is None or frames:  # a new frame began in this chunk (clock starts once we
                # are free to read it: time spent handling earlier frames is ours, not the sender's)
                frame_deadline = loop.time() + self.settings.frame_timeout_s
