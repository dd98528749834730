"""Original-mode ACK builder: swapped MSH, same version and encoding characters, MSA, ERR on AE/AR."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.core.errors import ImplausibleValueError, ParseError, UnknownUnitError
from ingest.core.hl7v2 import AckCode, build_ack, build_partial_ack, error_code_for, read_ack_header
from ingest.core.hl7v2.parser import read_delimiters

NOW = datetime(2024, 3, 1, 10, 0, 5, tzinfo=UTC)
INCOMING = b"MSH|^~\\&|MON|ICU^1.2^ISO|SEP|HOSP|20240301100000||ORU^R01^ORU_R01|CTL-9|T|2.5.1\rPID|1||7\r"


def _segments(ack: bytes) -> dict[str, list[str]]:
    out = {}
    for line in ack.decode().split("\r"):
        if line:
            fields = line.split(line[3]) if line.startswith("MSH") else line.split("|")
            if fields[0] == "MSH":
                fields.insert(1, line[3])
            out[fields[0]] = fields
    return out


def test_aa() -> None:
    ack = build_ack(read_ack_header(INCOMING), AckCode.ACCEPT, ack_control_id="A1", now=NOW)
    assert ack.endswith(b"\r") and ack.count(b"\r") == 2
    s = _segments(ack)
    assert s["MSH"][2:13] == ["^~\\&", "SEP", "HOSP", "MON", "ICU^1.2^ISO", "20240301100005+0000", "",
                              "ACK^R01^ACK", "A1", "T", "2.5.1"]
    assert s["MSA"] == ["MSA", "AA", "CTL-9"] and "ERR" not in s


def test_ae_with_err_in_v25_layout_and_escaped_reason() -> None:
    error = UnknownUnitError("unit 'a|b^c' is not accepted", location="OBX[3]-6")
    ack = build_ack(read_ack_header(INCOMING), AckCode.ERROR, ack_control_id="A2", now=NOW, reason=str(error),
                    error_code=error_code_for(error), error_location=error.location)
    s = _segments(ack)
    assert s["MSA"][1:3] == ["AE", "CTL-9"] and s["MSA"][3] == "OBX[3]-6: unit 'a\\F\\b\\S\\c' is not accepted"
    assert s["ERR"][2:5] == ["OBX^3^6", "103^Table value not found^HL70357", "E"]
    assert s["ERR"][8] == s["MSA"][3]


def test_err_in_v23_layout_and_custom_delimiters() -> None:
    incoming = b"MSH#*@!$#LAB#F#SEP#H#20240301##ORU*R01#77#P#2.3\r"
    ack = build_ack(read_ack_header(incoming), AckCode.REJECT, ack_control_id="A3", now=NOW, reason="no",
                    error_code="200", error_location="MSH-9")
    text = ack.decode()
    assert text.startswith("MSH#*@!$#SEP#H#LAB#F#20240301100005+0000##ACK*R01#A3#P#2.3\r")
    assert "\rMSA#AR#77#no\r" in text and "\rERR#MSH*1*9*200$no$HL70357\r" in text


def test_ack_for_an_unreadable_header_uses_defaults() -> None:
    header = read_ack_header(b"\x00garbage")
    ack = build_ack(header, AckCode.REJECT, ack_control_id="A4", now=NOW, reason="MSH: no MSH",
                    error_code="102", error_location="MSH")
    s = _segments(ack)
    assert s["MSH"][12] == "2.5" and s["MSA"][1:3] == ["AR", ""]


def test_control_characters_are_never_delimiters_nor_echoed() -> None:
    """0x0B / 0x1C in MSH-1/MSH-2 would break the MLLP framing of the ACK that echoes them."""
    for header in ("MSH\x0b^~\\&|", "MSH|\x1c~\\&|", "MSH|^~\\\x00|", "MSH|^~\\\x7f|"):
        with pytest.raises(ParseError):
            read_delimiters(header + "A|B|C")
    raw = b"MSH|\x1c~\\&|A\x0b|B|C|D|20240301||ORU^R01|X1|P|2.5\r"
    header = read_ack_header(raw)
    assert header.delims.field == "|" and header.delims.component == "^"  # defaults
    ack = build_ack(read_ack_header(b"MSH|^~\\&|A\x0bB|F\x1c|C|D|2024||ORU^R01|X\x0b1|P|2.5\r"), AckCode.REJECT,
                    ack_control_id="A1", now=datetime(2024, 3, 1, tzinfo=UTC), reason="bad \x0b\x1c reason")
    assert b"\x0b" not in ack and b"\x1c" not in ack


def _refused() -> list[ImplausibleValueError | UnknownUnitError]:
    return [ImplausibleValueError("implausible heart_rate 900 /min (plausible 1..350)", location="OBX[1]-5"),
            UnknownUnitError("unit 'a|b' is not accepted", location="OBX[4]-6")]


def test_partial_ack_has_one_err_segment_per_refused_obx_from_2_5() -> None:
    ack = build_partial_ack(read_ack_header(INCOMING), _refused(), stored=3, ack_control_id="A1", now=NOW)
    lines = ack.decode().split("\r")
    assert lines[1].startswith("MSA|AE|CTL-9|2 observation(s) refused (OBX[1]-5, OBX[4]-6); the other 3 stored")
    errs = [line.split("|") for line in lines if line.startswith("ERR")]
    assert [(e[2], e[3], e[4]) for e in errs] == [("OBX^1^5", "102^Data type error^HL70357", "E"),
                                                  ("OBX^4^6", "103^Table value not found^HL70357", "E")]
    assert errs[1][8] == "OBX[4]-6: unit 'a\\F\\b' is not accepted"  # the field separator escaped, once


def test_partial_ack_before_2_5_repeats_err_1_in_one_segment() -> None:
    header = read_ack_header(INCOMING.replace(b"|2.5.1\r", b"|2.3\r"))
    ack = build_partial_ack(header, _refused(), stored=1, ack_control_id="A1", now=NOW).decode()
    errs = [line for line in ack.split("\r") if line.startswith("ERR")]
    assert len(errs) == 1
    first, second = errs[0].split("|", 1)[1].split("~")
    assert first.startswith("OBX^1^5^102&") and second.startswith("OBX^4^6^103&")
