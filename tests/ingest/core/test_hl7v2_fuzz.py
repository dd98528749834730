"""Robustness: any bytes either normalise or raise InputRejected (never another exception)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.hl7v2 import AckCode, Hl7Normaliser, build_ack, read_ack_header, split_messages
from tests.ingest.core.samples import ADT_A01, VITALS_ORU

NORMALISER = Hl7Normaliser(IngestSettings())
NOW = datetime(2024, 3, 1, tzinfo=UTC)
SEEDS = [VITALS_ORU.encode(), ADT_A01.encode()]


def _judge(raw: bytes) -> None:
    try:
        NORMALISER.normalise(raw, NOW)
    except InputRejected as exc:
        assert str(exc)
    ack = build_ack(read_ack_header(raw), AckCode.ERROR, ack_control_id="X", now=NOW, reason="r")
    assert ack.startswith(b"MSH")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    _judge(raw)
    for message in split_messages(raw):
        _judge(message)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(list(b"|^~\\&\r\n0123456789.-+ ABCX\x00\xff")))
        if op == "replace":
            data[pos] = byte
        elif op == "insert":
            data.insert(pos, byte)
        elif len(data) > 1:
            del data[pos]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_mutated_real_messages(raw: bytes) -> None:
    _judge(raw)
