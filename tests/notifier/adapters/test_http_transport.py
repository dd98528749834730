"""StreamTransport against real loopback servers: chunked and close-delimited bodies, stale keep-alive, errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from notifier.adapters.http_transport import StreamTransport
from tests.notifier.helpers import Reply, closed_port, running_receiver

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
CLOSE_DELIMITED = b"HTTP/1.0 202 Accepted\r\nContent-Type: text/plain\r\n\r\nqueued"


async def _raw_server(reply: bytes, close_after: bool) -> tuple[asyncio.AbstractServer, int, list[bytes]]:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            seen.append(head + await reader.readexactly(length))
            writer.write(reply)
            await writer.drain()
            if close_after:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


@pytest.mark.parametrize(("reply", "close_after", "status", "text"), [
    (CHUNKED, False, 200, "hello world"),
    (CLOSE_DELIMITED, True, 202, "queued"),
])
def test_response_framings(reply: bytes, close_after: bool, status: int, text: str) -> None:
    async def scenario() -> list[bytes]:
        server, port, seen = await _raw_server(reply, close_after)
        async with server, httpx.AsyncClient(transport=StreamTransport()) as client:
            for _ in range(2):  # the second request must work whether or not the connection was kept
                response = await client.post(f"http://127.0.0.1:{port}/x?q=1", content=b'{"a":1}',
                                             headers={"X-Test": "yes"})
                assert (response.status_code, response.text) == (status, text)
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) == 2
    assert seen[0].startswith(b"POST /x?q=1 HTTP/1.1\r\n") and b"X-Test: yes" in seen[0]
    assert seen[0].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')


def test_keep_alive_reuse_and_reconnect_after_the_server_closed_it() -> None:
    async def scenario(url: str) -> list[int]:
        transport = StreamTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            first = await client.post(url, content=b"1")
            # Break the idle connection behind the transport's back: the next request must reconnect once.
            for connections in transport._idle.values():
                for connection in connections:
                    connection.writer.transport.abort()
            second = await client.post(url, content=b"2")
            return [first.status_code, second.status_code]

    with running_receiver() as rx:
        assert asyncio.run(scenario(rx.url("/hook"))) == [200, 200]
        assert len(rx.at("/hook")) == 2


def test_errors_map_to_httpx_exceptions() -> None:
    async def scenario(url: str) -> None:
        async with httpx.AsyncClient(transport=StreamTransport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://127.0.0.1:{closed_port()}/x", content=b"x")
            with pytest.raises(httpx.ReadTimeout):
                await client.post(url, content=b"x", timeout=0.2)

    with running_receiver() as rx:
        rx.on("/slow", Reply(200, delay_s=1.0))
        asyncio.run(scenario(rx.url("/slow")))


def test_fast_post_sends_the_same_request_and_classifies_like_httpx() -> None:
    from notifier.core.retry_policy import FailureKind
    from notifier.integrations.base import OutgoingRequest, post_request

    async def scenario(rx_url: str) -> list:
        transport = StreamTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            results = []
            for path in ("/ok?x=1", "/busy", "/gone"):
                request = OutgoingRequest(rx_url + path, b'{"a":1}', {"Content-Type": "application/json",
                                                                      "X-Test": "yes"})
                results.append(await post_request(client, request, 2.0, 0.0, fast=transport))
            refused = OutgoingRequest(f"http://127.0.0.1:{closed_port()}/x", b"x")
            results.append(await post_request(client, refused, 2.0, 0.0, fast=transport))
        return results

    with running_receiver() as rx:
        rx.on("/busy", Reply(429, headers={"Retry-After": "7"}))
        rx.on("/gone", Reply(404))
        ok, busy, gone, refused = asyncio.run(scenario(rx.url("")))
        first = rx.requests[0]
    assert ok.ok and first.path == "/ok?x=1" and first.body == b'{"a":1}' and first.headers["x-test"] == "yes"
    assert first.headers["host"].startswith("127.0.0.1:") and first.headers["content-length"] == "7"
    assert (busy.ok, busy.retryable, busy.retry_after_s) == (False, True, 7.0)
    assert (gone.ok, gone.retryable) == (False, False)
    assert (refused.retryable, refused.kind) == (True, FailureKind.CONNECTION)
