"""The running MLLP listener under hostile senders, against the real broker.

* Every bad message gets AE/AR (never AA) on the same connection, and a dead letter with
  the raw bytes and a reason; the connection keeps working for the next good message.
* An oversize frame closes that connection without an ACK, and leaves a dead letter
  saying why (payload may be truncated); the listener keeps serving others.
* Slow-loris: many connections holding half a frame do not stop a good sender, and a
  sender dribbling a frame byte by byte is cut off instead of holding a slot forever.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from ingest.adapters.mllp import START_BLOCK, MllpSettings, frame
from sepsis_alert.kafka.config import KafkaSettings
from tests.adversarial.messages import HEART_RATE, TEMPERATURE, obx, oru, unique, vitals_oru
from tests.adversarial.servers import Hl7WorkerThread, ack_code, wait_for_dead_letters
from tests.ingest.adapters.harness import MllpClient

pytestmark = pytest.mark.integration

MAX_FRAME = 16 * 1024
IDLE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def listener(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[int]:
    worker = Hl7WorkerThread(kafka_settings, MllpSettings(port=0, max_frame_bytes=MAX_FRAME,
                                                          idle_timeout_s=IDLE_TIMEOUT_S))
    port = worker.start()
    try:
        yield port
    finally:
        worker.stop()


def _bad_messages() -> dict[str, bytes]:
    now = "20240301100500+0000"
    return {
        "garbage": b"this is not HL7 at all " + unique().encode(),
        "duplicate encoding characters": oru(obx(1, HEART_RATE, "90", "/min"),
                                             control_id=unique()).replace(b"MSH|^~\\&", b"MSH|^^\\&", 1),
        "no MSH": b"PID|1||4711^^^HOSP^MR\rOBX|1|NM|8867-4^HR^LN||90|/min\r" + unique().encode(),
        "heart rate 900": oru(obx(1, HEART_RATE, "900", "/min", now), control_id=unique()),
        "degF labelled Cel": oru(obx(1, TEMPERATURE, "101.3", "Cel", now), control_id=unique()),
        "unknown unit": oru(obx(1, HEART_RATE, "90", "furlongs", now), control_id=unique()),
        "missing patient": oru(obx(1, HEART_RATE, "90", "/min", now), control_id=unique(), mrn=None),
        "huge degF": oru(obx(1, TEMPERATURE, "1.8e26", "[degF]", now), control_id=unique()),
        "bad time zone": oru(obx(1, HEART_RATE, "90", "/min", "20240301100500+9999"), control_id=unique()),
        "unsupported version": oru(obx(1, HEART_RATE, "90", "/min", now),
                                   control_id=unique()).replace(b"|2.5.1\r", b"|3.0\r", 1),
    }


def test_bad_messages_get_ae_or_ar_and_a_dead_letter_each(listener: int, kafka_settings: KafkaSettings) -> None:
    bad = _bad_messages()
    client = MllpClient("127.0.0.1", listener)
    try:
        codes = {name: ack_code(client.send(raw)) for name, raw in bad.items()}
        good = client.send(vitals_oru(control_id=unique(), mrn=unique("P")))
    finally:
        client.close()
    assert {n: c for n, c in codes.items() if c not in ("AE", "AR")} == {}, "bad input acknowledged AA"
    assert ack_code(good) == "AA", "the connection did not survive the bad messages"
    found = wait_for_dead_letters(kafka_settings, bad.values(), lambda sent, raw: sent == raw)
    missing = [name for name, raw in bad.items() if found[raw] is None]
    assert missing == [], f"rejected without a dead letter: {missing}"
    for name, raw in bad.items():
        letter = found[raw]
        assert letter is not None
        assert letter["source"] == "hl7v2" and letter["error_code"] and letter["error_message"], name


def test_invalid_utf8_in_free_text_is_tolerated_and_the_connection_survives(listener: int) -> None:
    """HL7 v2 defaults to 8-bit character sets: a Latin-1 name must not cost the vitals (AA or AE, never a crash)."""
    message = oru(obx(1, HEART_RATE, "90", "/min"), control_id=unique()).replace(b"TEST", b"\xff\xfe\xc3(")
    client = MllpClient("127.0.0.1", listener)
    try:
        assert ack_code(client.send(message)) in ("AA", "AE")
        assert ack_code(client.send(vitals_oru(control_id=unique(), mrn=unique("P")))) == "AA"
    finally:
        client.close()


def test_oversize_frame_closes_the_connection_and_is_dead_lettered(listener: int,
                                                                    kafka_settings: KafkaSettings) -> None:
    marker = unique("BIG").encode()
    huge = oru(obx(1, HEART_RATE, "90", "/min"), control_id=marker.decode()) + b"NTE|1||" + b"x" * (MAX_FRAME * 2)
    client = MllpClient("127.0.0.1", listener)
    try:
        with contextlib.suppress(OSError):  # the server may close before we finish writing: that is the point
            client.send_raw(frame(huge))
        with pytest.raises((ConnectionError, OSError)):
            client.read_ack()
    finally:
        client.close()
    other = MllpClient("127.0.0.1", listener)
    try:
        assert ack_code(other.send(vitals_oru(control_id=unique(), mrn=unique("P")))) == "AA"
    finally:
        other.close()
    found = wait_for_dead_letters(kafka_settings, [marker], lambda m, raw: m in raw[:4096], timeout_s=20)
    letter = found[marker]
    assert letter is not None, "an oversize frame was refused without a dead letter saying so"
    assert "large" in (letter["error_code"] + letter["error_message"]).lower()


def test_half_open_frames_do_not_block_a_good_sender(listener: int) -> None:
    holders = []
    try:
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", listener), timeout=10)
            sock.sendall(START_BLOCK + b"MSH|^~\\&|SLOW|LORIS|")
            holders.append(sock)
        client = MllpClient("127.0.0.1", listener)
        try:
            assert ack_code(client.send(vitals_oru(control_id=unique(), mrn=unique("P")))) == "AA"
        finally:
            client.close()
    finally:
        for sock in holders:
            sock.close()


def test_silent_connection_is_closed_after_the_idle_timeout(listener: int) -> None:
    client = MllpClient("127.0.0.1", listener)
    try:
        client.send_raw(START_BLOCK + b"MSH|^~\\&|")
        assert client.closed_by_server(IDLE_TIMEOUT_S * 10), "an idle half frame held the connection open"
    finally:
        client.close()


def test_dribbling_sender_is_cut_off(listener: int) -> None:
    """One byte every IDLE_TIMEOUT_S/3 never trips the idle timeout; a frame deadline must stop it."""
    sock = socket.create_connection(("127.0.0.1", listener), timeout=5)
    payload = START_BLOCK + oru(obx(1, HEART_RATE, "90", "/min"), control_id=unique())
    deadline = time.monotonic() + IDLE_TIMEOUT_S * 10
    cut_off = False
    try:
        for byte in payload:
            if time.monotonic() > deadline:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut_off = True
                break
            sock.settimeout(IDLE_TIMEOUT_S / 3)
            try:
                if sock.recv(1) == b"":
                    cut_off = True
                    break
            except TimeoutError:
                pass
    finally:
        sock.close()
    assert cut_off, (f"a sender dribbling one byte every {IDLE_TIMEOUT_S / 3:.1f} s held a connection for "
                     f"{IDLE_TIMEOUT_S * 10:.0f} s without completing a frame")
