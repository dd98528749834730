"""A small HTTP/1.1 keep-alive transport for httpx, on asyncio streams.

Why: on our loaded 2-core hosts httpx's default async stack (httpcore + anyio)
measured ~200 POSTs/s per process on loopback, while the same requests over
plain asyncio streams ran at several thousand per second; the notifier must
sustain >= 1,000 notifications/s. The integrations keep using the httpx API
(`AsyncClient.post`); only the transport underneath changes (httpx's
documented transport seam). Scope on purpose: HTTP/1.1 only, http and https,
Content-Length / chunked / close-delimited response bodies, no proxies, no
HTTP/2, no redirects (webhook endpoints must not redirect).

Errors are raised as httpx exceptions (ConnectError, ReadTimeout, ...), so the
retry classification of notifier.integrations.base works unchanged.

`StreamTransport.post()` is the notifier's hot path: the same exchange without
building httpx Request / Response objects (URL parsing, header models, cookie
extraction cost more CPU per notification than the HTTP exchange itself). The
parsed form of each endpoint URL is cached (receivers have a handful of URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

__all__ = ["PostResult", "StreamTransport"]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass(frozen=True, slots=True)
class PostResult:
    """Status and headers (lower-case names) of a response to `StreamTransport.post`; the body is not kept."""

    status_code: int
    headers: dict[bytes, bytes]

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode("latin-1"))
        return None if value is None else value.decode("latin-1")


@dataclass(frozen=True, slots=True)
class _Timeouts:
    connect_s: float
    write_s: float
    read_s: float


@dataclass(frozen=True, slots=True)
class _Target:
    key: tuple[str, str, int]
    path: str
    host_header: str


@lru_cache(maxsize=256)
def _parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise httpx.UnsupportedProtocol(f"scheme {scheme!r} not supported")
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target((scheme, parts.hostname, port), path, parts.netloc.rpartition("@")[2])


def _timeout(request: httpx.Request, name: str, default: float) -> float:
    value = (request.extensions.get("timeout") or {}).get(name)
    return default if value is None else float(value)


_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class StreamTransport(httpx.AsyncBaseTransport):
    """Keep-alive connection pool per (scheme, host, port): at most `max_per_host` requests in flight per
    host (the others wait for a connection), idle connections kept for reuse."""

    def __init__(self, max_per_host: int = 64, verify: bool | ssl.SSLContext = True) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._max_idle = max_per_host
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}
        if isinstance(verify, ssl.SSLContext):
            self._ssl = verify
        else:
            self._ssl = ssl.create_default_context()
            if not verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    # ------------------------------------------------------------ fast path
    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> PostResult:
        """POST `body` to `url` with `headers`; `timeout_s` bounds connect, write and read separately (seconds).

        Raises the httpx exceptions `handle_async_request` raises (ConnectError, ReadTimeout, ...).
        """
        target = _parse_target(url)
        lines = [f"POST {target.path} HTTP/1.1"]
        has_host = False
        for name, value in headers.items():
            lower = name.lower()
            if lower in _DROPPED_HEADERS:
                continue
            has_host = has_host or lower == "host"
            lines.append(f"{name}: {value}")
        if not has_host:
            lines.append(f"Host: {target.host_header}")
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        status, response_headers, _, _ = await self._send(target.key, head + body, _Timeouts(timeout_s, timeout_s,
                                                                                             timeout_s), None, "POST")
        return PostResult(status, response_headers)

    # ------------------------------------------------------- httpx seam
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"scheme {scheme!r} not supported", request=request)
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        body = request.read()
        timeouts = _Timeouts(_timeout(request, "connect", 5.0), _timeout(request, "write", 5.0),
                             _timeout(request, "read", 5.0))
        status, _, content, raw_headers = await self._send(key, self._head(request, body) + body, timeouts, request,
                                                           request.method)
        return httpx.Response(status, headers=raw_headers, content=content, request=request)

    # ------------------------------------------------------------ shared
    async def _send(self, key: tuple[str, str, int], payload: bytes, timeouts: _Timeouts,
                    request: httpx.Request | None, method: str,
                    ) -> tuple[int, dict[bytes, bytes], bytes, list[tuple[bytes, bytes]]]:
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self._max_idle)
        async with slots:
            idle = self._idle[key]
            reused = bool(idle)
            connection = idle.pop() if reused else await self._connect(key, timeouts, request)
            try:
                result, keep = await self._exchange(connection, payload, timeouts, request, method)
            except httpx.RemoteProtocolError:
                connection.close()
                if not reused:
                    raise
                # A kept-alive connection the server had already closed: one fresh try (nothing was processed).
                connection = await self._connect(key, timeouts, request)
                try:
                    result, keep = await self._exchange(connection, payload, timeouts, request, method)
                except BaseException:
                    connection.close()
                    raise
            except BaseException:
                connection.close()
                raise
            if keep and len(idle) < self._max_idle:
                idle.append(connection)
            else:
                connection.close()
            return result

    async def _connect(self, key: tuple[str, str, int], timeouts: _Timeouts,
                       request: httpx.Request | None) -> _Connection:
        scheme, host, port = key
        try:
            async with asyncio.timeout(timeouts.connect_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None, limit=MAX_HEADER_BYTES)
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connect failed: {type(exc).__name__}", request=request) from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    @staticmethod
    def _head(request: httpx.Request, body: bytes) -> bytes:
        target = request.url.raw_path.decode("ascii")
        lines = [f"{request.method} {target} HTTP/1.1"]
        seen = set()
        for name, value in request.headers.raw:
            lower = name.lower()
            if lower in (b"content-length", b"transfer-encoding", b"connection"):
                continue
            seen.add(lower)
            lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        if b"host" not in seen:
            lines.append(f"Host: {request.url.netloc.decode('ascii')}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _exchange(self, connection: _Connection, payload: bytes, timeouts: _Timeouts,
                        request: httpx.Request | None, method: str,
                        ) -> tuple[tuple[int, dict[bytes, bytes], bytes, list[tuple[bytes, bytes]]], bool]:
        # asyncio.timeout (not wait_for): no extra task per request.
        try:
            connection.writer.write(payload)
            if connection.writer.transport.get_write_buffer_size():  # small requests leave nothing buffered
                async with asyncio.timeout(timeouts.write_s):
                    await connection.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("write timed out", request=request) from None
        except OSError as exc:
            raise httpx.RemoteProtocolError(f"write failed: {type(exc).__name__}", request=request) from None
        try:
            async with asyncio.timeout(timeouts.read_s):
                return await _read_response(connection.reader, request, method)
        except TimeoutError:
            raise httpx.ReadTimeout("read timed out", request=request) from None

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader, request: httpx.Request | None, method: str,
                         ) -> tuple[tuple[int, dict[bytes, bytes], bytes, list[tuple[bytes, bytes]]], bool]:
    """((status, {lower-case name: value}, body, raw headers without transfer-encoding), keep-alive?)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise httpx.RemoteProtocolError("connection closed before a response", request=request) from None
    except (asyncio.LimitOverrunError, OSError) as exc:
        raise httpx.RemoteProtocolError(f"bad response head: {type(exc).__name__}", request=request) from None
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("not an HTTP/1.x response", request=request)
    status = int(parts[1])
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    lookup = {n.lower(): v for n, v in headers}
    keep = parts[0] == b"HTTP/1.1" and lookup.get(b"connection", b"").lower() != b"close"
    try:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif lookup.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await _read_chunked(reader)
        elif b"content-length" in lookup:
            length = int(lookup[b"content-length"])
            if length > MAX_BODY_BYTES:
                raise httpx.RemoteProtocolError("response body too large", request=request)
            body = await reader.readexactly(length)
        else:
            body = await reader.read(MAX_BODY_BYTES)
            keep = False
    except (asyncio.IncompleteReadError, ValueError, OSError) as exc:
        raise httpx.RemoteProtocolError(f"bad response body: {type(exc).__name__}", request=request) from None
    raw = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
    return (status, lookup, body, raw), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise ValueError("chunked body too large")
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
