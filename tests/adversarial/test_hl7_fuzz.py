"""Fuzz the HL7 v2 parser/normaliser and the worker's frame handler (hypothesis).

Properties, for any input bytes:
* the normaliser returns a result or raises InputRejected (code + reason + location); nothing else;
* every Observation it returns is valid (canonical unit, plausible value, aware time);
* the same message written with other (legal) encoding characters gives the same events;
* the worker's handler always answers one ACK (AA / AE / AR) that cannot break MLLP framing,
  and every AE/AR caused by the input leaves exactly one dead letter with the raw bytes and the reason.

The handler runs with an in-memory sink (this is a unit test of the handler; the real broker
is used in test_mllp_listener_abuse.py). Hang protection: hypothesis' deadline (generous, a
guard against runaway inputs, not a speed requirement) and pytest-timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.adapters.mllp import MllpSettings, Peer
from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.hl7v2 import Hl7Normaliser
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from schemas.dead_letter import DeadLetter
from schemas.observation import Observation
from tests.adversarial.messages import obx, oru, vitals_oru

RECEIVED_AT = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
NORMALISER = Hl7Normaliser(IngestSettings())
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HL7_ALPHABET = st.sampled_from([*"|^~\\&\r\n#0123456789.+-ABCDEFGHIMNOPRSTUVXZ /%[]{}",
                                "\x00", "\x0b", "\x1c", "\xff", "é", "\\X00\\", "\\F\\", "\\E\\", "MSH|", "OBX|"])


def _normalise(raw: bytes) -> Any:
    try:
        return NORMALISER.normalise(raw, RECEIVED_AT)
    except InputRejected as exc:
        assert exc.code, f"rejection without a code: {exc!r}"
        assert exc.message, f"rejection without a reason: {exc!r}"
        return exc


def _check_events(result: Any) -> None:
    if isinstance(result, InputRejected):
        return
    for event in result.events:
        if isinstance(event, Observation):
            # re-validation proves the event satisfies the schema (unit, plausibility, finiteness)
            Observation.model_validate(event.model_dump())
            assert event.effective_at.tzinfo is not None


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash_the_normaliser(raw: bytes) -> None:
    _check_events(_normalise(raw))


@FUZZ
@given(st.lists(HL7_ALPHABET, max_size=400).map("".join))
def test_hl7_shaped_text_never_crashes_the_normaliser(tail: str) -> None:
    _check_events(_normalise(("MSH|^~\\&|A|B|C|D|20240301||ORU^R01|X1|P|2.5\r" + tail).encode("utf-8", "replace")))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(vitals_oru())
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["replace", "insert", "delete", "duplicate"]))
        position = draw(st.integers(0, len(data) - 1))
        if action == "replace":
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[position:position + draw(st.integers(1, 16))]
        else:
            end = min(len(data), position + draw(st.integers(1, 64)))
            data[position:position] = data[position:end]
        if not data:
            data = bytearray(b"M")
    return bytes(data)


@FUZZ
@given(_mutated())
def test_mutated_vitals_message_never_crashes_the_normaliser(raw: bytes) -> None:
    _check_events(_normalise(raw))


_VALUES = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NaN", "inf", "-0", "1e309", "9" * 400, "0x5A", "12,5", "1 2", ">^90", "<=^5", "^90^-^100",
                     "\\X41\\", "1.0.0", "٣٤", "１２０"]),
)
_UNITS = st.sampled_from(["/min", "bpm", "Cel", "[degF]", "degF", "F", "C", "%", "mm[Hg]", "mmHg", "", "?", "furlong",
                          "/min^beats^UCUM", "Cel&x", "\\S\\", "m[Hg]"])
_TIMES = st.sampled_from(["", "2024", "202403011005", "20240301100500.1234+0100", "20240230", "2024030125",
                          "20240301100500+2400", "20240301100500-1260", "99999999999999", "garbage", "0"])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["8867-4", "8310-5", "59408-5", "9279-1", "8480-6", "2524-7", "777-3",
                                           "9269-2", "XYZ", ""]),
                          _VALUES, _UNITS, _TIMES, st.sampled_from(["NM", "SN", "ST", "CE", "CWE", "TX", "", "ZZ"])),
                min_size=1, max_size=8))
def test_generated_obx_fields_never_crash_and_only_plausible_values_pass(
        rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    segments = [obx(i, code, value, unit, when, vtype) for i, (code, value, unit, when, vtype) in enumerate(rows, 1)]
    _check_events(_normalise(oru(*segments)))


_DELIMITER_SETS = st.permutations(list("|^~\\&#!$*")).map(lambda p: "".join(p[:5]))


@FUZZ
@given(_DELIMITER_SETS)
def test_non_default_encoding_characters_give_the_same_events(delimiters: str) -> None:
    reference = NORMALISER.normalise(vitals_oru(), RECEIVED_AT)
    segments = [obx(1, "8867-4", "118", "/min"), obx(2, "9279-1", "24", "{breaths}/min"),
                obx(3, "8310-5", "38.4", "Cel"), obx(4, "8480-6", "88", "mm[Hg]"),
                obx(5, "8462-4", "52", "mm[Hg]"), obx(6, "59408-5", "93", "%")]
    if any(d in "".join(segments).replace("|", "").replace("^", "") for d in delimiters if d not in "|^~\\&"):
        return  # a delimiter that also occurs in the data would legitimately change the meaning
    other = NORMALISER.normalise(oru(*segments, delimiters=delimiters), RECEIVED_AT)
    assert [(o.measure, o.value, o.unit, o.effective_at) for o in other.observations] == \
        [(o.measure, o.value, o.unit, o.effective_at) for o in reference.observations]


# ---------------------------------------------------------------- the worker's frame handler


class RecordingSink:
    """In-memory stand-in for KafkaEventSink (same two coroutines), for the handler unit test."""

    def __init__(self) -> None:
        self.accepted: list[bytes] = []
        self.dead_letters: list[DeadLetter] = []

    async def write_accepted(self, events: Sequence[Any], raw: bytes, *, message_id: str, sender: str,
                             received_at: datetime, dedup_key: str | None = None) -> int:
        self.accepted.append(raw)
        return len(events) + 1

    async def write_dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)


def _handler() -> tuple[Hl7Worker, RecordingSink]:
    sink = RecordingSink()
    worker = Hl7Worker(IngestSettings(), Hl7WorkerSettings(mllp=MllpSettings(port=0)), sink)  # type: ignore[arg-type]
    return worker, sink


def _msa(ack: bytes) -> list[str]:
    text = ack.decode("utf-8", "replace")
    segments = [s for s in text.replace("\n", "\r").split("\r") if s]
    assert segments and segments[0].startswith("MSH"), f"ACK does not start with MSH: {ack[:80]!r}"
    field = segments[0][3]
    msa = [s for s in segments if s.startswith("MSA")]
    assert len(msa) == 1, f"ACK needs exactly one MSA: {ack!r}"
    return msa[0].split(field)


@FUZZ
@given(st.one_of(st.binary(max_size=2048), _mutated(), st.lists(HL7_ALPHABET, max_size=300).map(
    lambda parts: ("MSH|^~\\&|A|B|C|D|20240301||ORU^R01|X1|P|2.5\r" + "".join(parts)).encode("utf-8", "replace"))))
def test_handler_answers_every_frame_and_dead_letters_every_rejection(raw: bytes) -> None:
    worker, sink = _handler()
    ack = asyncio.run(worker.handle(raw, Peer("127.0.0.1", 1)))
    assert b"\x1c\x0d" not in ack and b"\x0b" not in ack, "the ACK would break MLLP framing"
    code = _msa(ack)[1]
    assert code in ("AA", "AE", "AR")
    if code == "AA":
        assert not sink.dead_letters
    else:
        assert len(sink.dead_letters) == 1, f"{code} without exactly one dead letter"
        letter = sink.dead_letters[0]
        assert letter.raw_payload() == raw
        assert letter.error_code and letter.error_message
        # Stored AND AE only when single OBX were refused (docs/hl7v2-acks.md): one ERR per dead-letter detail.
        partial = code == "AE" and b"observation(s) refused" in ack
        assert not sink.accepted or partial
        if partial:
            assert sink.accepted == [raw] and ack.count(b"HL70357") == len(letter.details)  # one coded error each


def test_retransmitted_frame_is_acknowledged_without_a_second_write() -> None:
    worker, sink = _handler()
    message = vitals_oru(control_id="ADV-RETX-1")
    first = asyncio.run(worker.handle(message, Peer("127.0.0.1", 1)))
    second = asyncio.run(worker.handle(message, Peer("127.0.0.1", 2)))
    assert _msa(first)[1] == _msa(second)[1] == "AA"
    assert sink.accepted == [message]


def test_control_characters_declared_as_delimiters_do_not_leak_into_the_ack() -> None:
    """MSH-1/MSH-2 are echoed in the ACK: a sender declaring the MLLP start block (0x0B) or the end-block
    byte (0x1C) as a delimiter must not get an ACK that breaks the framing of its own connection."""
    for raw in (b"MSH\x00\x01\x02\x03\x0b", b"MSH|\x1c~\\&|A|B|C|D|20240301||ORU^R01|X1|P|2.5\rPID|1||4711\r",
                b"MSH\x0b^~\\&|A|B|C|D|20240301||ORU^R01|X2|P|2.5\r"):
        worker, sink = _handler()
        ack = asyncio.run(worker.handle(raw, Peer("127.0.0.1", 1)))
        assert not any(byte in ack for byte in b"\x0b\x1c"), f"ACK for {raw[:12]!r} carries an MLLP block byte"
        assert _msa(ack)[1] in ("AE", "AR")
        assert len(sink.dead_letters) == 1
