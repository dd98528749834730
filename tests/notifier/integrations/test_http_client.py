"""The stock httpx client against real servers on 127.0.0.1: proxies from the environment (a forward proxy and a
CONNECT tunnel to a TLS receiver), and which failures may be sent again.

A failure before the request left (connection refused) is retried for every receiver; one after it left (read
timeout, connection closed before the answer) only for receivers that drop repeats by key (signed webhook,
PagerDuty). Slack and Teams then end as "delivery uncertain": one request, never a second, and the fallback told.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from notifier.core.model import DeliveryOutcome
from tests.notifier.harness import fast_retry, make_harness
from tests.notifier.helpers import Receiver, Reply, closed_port, make_alert, running_receiver

HOOK_SECRET = "whsec_client_0123456789"
HOOK_PATH = "/hooks/ProxyToken0123"
SLACK_PATH = "/services/T1/B1/SlackClientToken77"
FALLBACK_PATH = "/hooks/fallback-Client99"


def _doc(primary: dict[str, Any], fallback_url: str, retry: dict[str, float] | None = None) -> dict[str, Any]:
    return {"receivers": [primary, {"name": "fallback", "type": "webhook", "url": {"value": fallback_url},
                                    "secret": {"value": HOOK_SECRET}}],
            "route": {"receiver": primary["name"]}, "fallback_receiver": "fallback",
            "retry": retry or fast_retry(3)}


def _hook(url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    return {"name": "hook", "type": "webhook", "url": {"value": url}, "secret": {"value": HOOK_SECRET},
            "timeout_s": timeout_s}


def _slack(url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    return {"name": "slack", "type": "slack", "url": {"value": url}, "timeout_s": timeout_s, "rate_per_s": 50}


# ------------------------------------------------------------------------------------------------ proxies


class ForwardProxy:
    """A tiny HTTP proxy on 127.0.0.1: absolute-URI requests are forwarded, CONNECT opens a byte tunnel. Records
    each request line it handled."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return None

            def do_POST(self) -> None:
                proxy.seen.append(f"POST {self.path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.path.split("://", 1)[1]
                hostport, _, path = target.partition("/")
                host, _, port = hostport.partition(":")
                with socket.create_connection((host, int(port)), timeout=5) as upstream:
                    head = [f"POST /{path} HTTP/1.1", f"Host: {hostport}", f"Content-Length: {len(body)}",
                            "Connection: close"]
                    head += [f"{k}: {v}" for k, v in self.headers.items()
                             if k.lower() not in ("host", "content-length", "connection", "proxy-connection")]
                    upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                    answer = b""
                    while chunk := upstream.recv(65536):
                        answer += chunk
                status_line, _, rest = answer.partition(b"\r\n")
                _, rest_body = rest.split(b"\r\n\r\n", 1)
                self.send_response(int(status_line.split()[1]))
                self.send_header("Content-Length", str(len(rest_body)))
                self.end_headers()
                self.wfile.write(rest_body)

            def do_CONNECT(self) -> None:
                proxy.seen.append(f"CONNECT {self.path}")
                host, _, port = self.path.partition(":")
                upstream = socket.create_connection((host, int(port)), timeout=5)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                client = self.connection
                try:
                    while True:
                        ready, _, _ = select.select([client, upstream], [], [], 5)
                        if not ready:
                            return
                        for sock in ready:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is client else client).sendall(data)
                finally:
                    upstream.close()
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    forward = ForwardProxy()
    try:
        yield forward
    finally:
        forward.close()


def test_http_proxy_from_the_environment_carries_the_post(proxy: ForwardProxy,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with running_receiver() as rx:
        harness = make_harness(_doc(_hook(rx.url(HOOK_PATH)), rx.url(FALLBACK_PATH)))
        [item] = asyncio.run(harness.send(make_alert()))
        assert len(rx.at(HOOK_PATH)) == 1
    assert item.outcome == DeliveryOutcome.DELIVERED
    assert proxy.seen == [f"POST {rx.url(HOOK_PATH)}"], "the request did not go through HTTP_PROXY"


def test_no_proxy_lists_hosts_reached_directly(proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with running_receiver() as rx:
        harness = make_harness(_doc(_hook(rx.url(HOOK_PATH)), rx.url(FALLBACK_PATH)))
        [item] = asyncio.run(harness.send(make_alert()))
        assert len(rx.at(HOOK_PATH)) == 1
    assert item.outcome == DeliveryOutcome.DELIVERED and proxy.seen == []


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    """The loopback receiver behind TLS, with a self-signed certificate for 127.0.0.1 (returned, to trust)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    rx = Receiver()
    rx.server.socket = context.wrap_socket(rx.server.socket, server_side=True)
    rx.start()
    try:
        yield rx, cert
    finally:
        rx.stop()


def test_https_proxy_tunnels_with_connect(proxy: ForwardProxy, tls_receiver: tuple[Receiver, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rx, cert = tls_receiver
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust_env: the site's CA bundle, as a hospital would set it
    url = f"https://127.0.0.1:{rx.port}{HOOK_PATH}"
    harness = make_harness(_doc(_hook(url), url.replace(HOOK_PATH, FALLBACK_PATH)))
    [item] = asyncio.run(harness.send(make_alert()))
    assert item.outcome == DeliveryOutcome.DELIVERED
    assert len(rx.at(HOOK_PATH)) == 1
    assert proxy.seen == [f"CONNECT 127.0.0.1:{rx.port}"], "the request did not go through HTTPS_PROXY"


# ------------------------------------------------------------------------------- what may be sent again


def test_read_timeout_to_slack_is_not_sent_again_and_the_fallback_is_told() -> None:
    with running_receiver() as rx:
        rx.on(SLACK_PATH, Reply(200, delay_s=1.0))  # slower than the timeout: Slack may well post it
        harness = make_harness(_doc(_slack(rx.url(SLACK_PATH), timeout_s=0.3), rx.url(FALLBACK_PATH)))
        alert = make_alert()
        [item] = asyncio.run(harness.send(alert))
        fallback = rx.wait_for(FALLBACK_PATH, 1)
        asyncio.run(harness.send(alert))  # the alert read again (a restart): still not re-sent
        assert len(rx.at(SLACK_PATH)) == 1, "a POST that may have been posted was sent to Slack again"
    assert item.outcome == DeliveryOutcome.UNCERTAIN
    assert [e.outcome for e in harness.log.entries] == [DeliveryOutcome.UNCERTAIN]
    assert "delivery to slack uncertain" in json.loads(fallback[0].body)["reasons"][0]
    assert harness.metric("sepsis_notifier_deliveries_total", receiver="slack", outcome="uncertain") == 1
    assert harness.metric("sepsis_notifier_deduplicated_total", reason="uncertain") == 1


def test_read_timeout_to_a_signed_webhook_is_sent_again_with_the_same_webhook_id() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(200, delay_s=1.0))
        harness = make_harness(_doc(_hook(rx.url(HOOK_PATH), timeout_s=0.3), rx.url(FALLBACK_PATH)))
        [item] = asyncio.run(harness.send(make_alert()))
        requests = rx.wait_for(HOOK_PATH, 2)
    assert item.outcome == DeliveryOutcome.DELIVERED and item.attempts == 2
    assert len({r.headers["webhook-id"] for r in requests}) == 1, "a repeat the receiver cannot recognise"
    assert rx.at(FALLBACK_PATH) == []


class ClosingServer:
    """Reads a whole request, then closes the connection without answering (a receiver that crashed after it
    got the message, or a load balancer dropping the connection)."""

    def __init__(self) -> None:
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1

    def close(self) -> None:
        self.sock.close()


class TricklingServer:
    """Reads a whole request, then answers one byte of a status line and headers that never end every 0.1 s:
    each read of the client gets a byte well within its timeout, so only a limit on the whole attempt ends it."""

    def __init__(self) -> None:
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.requests += 1
            answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000
            for byte in answer:
                if self._stop.wait(0.1):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.mark.parametrize(("receiver", "sent"), [("slack", 1), ("hook", 2)])
def test_an_answer_trickling_in_ends_the_attempt_after_three_timeouts(receiver: str, sent: int) -> None:
    server = TricklingServer()
    try:
        url = f"http://127.0.0.1:{server.port}/x"
        with running_receiver() as rx:
            primary = _slack(url, timeout_s=0.3) if receiver == "slack" else _hook(url, timeout_s=0.3)
            harness = make_harness(_doc(primary, rx.url(FALLBACK_PATH), retry=fast_retry(2)))
            started = time.monotonic()
            [item] = asyncio.run(harness.send(make_alert()))
            elapsed = time.monotonic() - started
            assert len(rx.at(FALLBACK_PATH)) == 1
    finally:
        server.close()
    assert server.requests == sent  # the request had left: repeated only to a receiver that drops repeats by key
    expected = DeliveryOutcome.UNCERTAIN if receiver == "slack" else DeliveryOutcome.FAILED
    assert item.outcome == expected
    assert elapsed < 30, f"{sent} attempts took {elapsed:.0f} s (the answer would trickle for 1,000 s)"
    assert harness.metric("sepsis_notifier_delivery_attempts_total", receiver=receiver, kind="timeout") == sent


@pytest.mark.parametrize(("receiver", "sent"), [("slack", 1), ("hook", 3)])
def test_connection_closed_before_the_answer_is_sent_again_only_to_a_deduplicating_receiver(
        receiver: str, sent: int) -> None:
    server = ClosingServer()
    try:
        url = f"http://127.0.0.1:{server.port}/x"
        with running_receiver() as rx:
            primary = _slack(url) if receiver == "slack" else _hook(url)
            harness = make_harness(_doc(primary, rx.url(FALLBACK_PATH), retry=fast_retry(3)))
            [item] = asyncio.run(harness.send(make_alert()))
            assert len(rx.at(FALLBACK_PATH)) == 1
    finally:
        server.close()
    assert server.requests == sent
    expected = DeliveryOutcome.UNCERTAIN if receiver == "slack" else DeliveryOutcome.FAILED
    assert item.outcome == expected


def test_connection_refused_is_retried_even_for_chat() -> None:
    with running_receiver() as rx:
        harness = make_harness(_doc(_slack(f"http://127.0.0.1:{closed_port()}/x"), rx.url(FALLBACK_PATH),
                                    retry=fast_retry(3)))
        [item] = asyncio.run(harness.send(make_alert()))
    assert item.outcome == DeliveryOutcome.FAILED and item.attempts == 3  # nothing left the host: safe to repeat
    assert harness.metric("sepsis_notifier_delivery_attempts_total", receiver="slack", kind="connection") == 3
