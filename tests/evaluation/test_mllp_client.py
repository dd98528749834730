"""The replay's MLLP client against a real listener on 127.0.0.1 (a tiny threaded test server)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.mllp_client import Ack, MllpClient, MllpDeliveryError, parse_ack
from evaluation.replay import ReplayOptions, run_replay
from evaluation.sinks import MllpSink

REAL = Path(__file__).parent / "data" / "physionet_sample"


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[str] = []
        self.drop_next = 0  # close the connection without an ACK this many times
        self.lock = threading.Lock()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Listener = self.server  # type: ignore[assignment]
        buffer = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\x1c\x0d" in buffer:
                frame, _, buffer = buffer.partition(b"\x1c\x0d")
                text = frame.lstrip(b"\x0b").decode()
                with server.lock:
                    if server.drop_next:
                        server.drop_next -= 1
                        self.request.close()
                        return
                    server.received.append(text)
                control = text.split("\r")[0].split("|")[9]
                code = "AE" if "REJECT-ME" in text else "AA"
                ack = f"MSH|^~\\&|SEPSIS-ALERT||X||20240101000000||ACK|A{control}|P|2.5\rMSA|{code}|{control}|ok\r"
                self.request.sendall(b"\x0b" + ack.encode() + b"\x1c\x0d")


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _message(control: str, body: str = "") -> str:
    return f"MSH|^~\\&|A|B|C|D|20190101000000+0000||ORU^R01^ORU_R01|{control}|P|2.5\rPID|1||k^^^X^MR{body}\r"


def test_parse_ack() -> None:
    assert parse_ack(b"MSH|^~\\&|X\rMSA|AA|c1|fine\r") == Ack("AA", "c1", "fine")
    assert not parse_ack(b"MSH|^~\\&|X\rMSA|AE|c2\r").accepted
    with pytest.raises(ValueError, match="no MSA"):
        parse_ack(b"MSH|^~\\&|X\r")


def test_send_waits_for_each_ack(listener: _Listener) -> None:
    host, port = listener.server_address
    with MllpClient(host, port, timeout_s=10) as client:
        assert client.send(_message("c1")) == Ack("AA", "c1", "ok")
        assert client.send(_message("c2", "REJECT-ME")).code == "AE"
    assert [m.split("\r")[0].split("|")[9] for m in listener.received] == ["c1", "c2"]


def test_lost_connection_is_retried_on_a_new_one(listener: _Listener) -> None:
    listener.drop_next = 1
    host, port = listener.server_address
    with MllpClient(host, port, timeout_s=10, retries=2, retry_backoff_s=0.01) as client:
        assert client.send(_message("c3")).accepted
    assert len(listener.received) == 1


def test_unreachable_listener_fails_after_bounded_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    client = MllpClient("127.0.0.1", port, timeout_s=2, retries=1, retry_backoff_s=0.01)
    with pytest.raises(MllpDeliveryError, match="after 2 attempts"):
        client.send(_message("c4"))


def test_replay_to_mllp_sends_one_message_per_patient_hour(listener: _Listener) -> None:
    host, port = listener.server_address
    sink = MllpSink(f"{host}:{port}", timeout_s=10)
    stats = run_replay([REAL / "p000011.psv", REAL / "p000015.psv"], sink, ReplayOptions(), progress=False)
    assert stats.extra["acks_accepted"] == stats.messages + stats.patients == len(listener.received)
    types = [m.split("\r")[0].split("|")[8] for m in listener.received]
    assert types.count("ADT^A01^ADT_A01") == 2
    assert types.count("ORU^R01^ORU_R01") == stats.messages
