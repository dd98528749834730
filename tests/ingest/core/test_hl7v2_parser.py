"""The fast ER7 parser and the message splitter: separators, junk, delimiters, escapes, batches."""

from __future__ import annotations

import pytest

from ingest.core.errors import ParseError
from ingest.core.hl7v2 import Delimiters, parse_message, split_messages, unescape

BASE = "MSH|^~\\&|APP|FAC|||20240301||ORU^R01|C1|P|2.5.1{sep}PID|1||42^^^H^MR{sep}ZXY|a^b&c~d{end}"


@pytest.mark.parametrize(("sep", "end"), [("\r", "\r"), ("\n", "\n"), ("\r\n", "\r\n"), ("\r", ""),
                                          ("\r", "\r\n"), ("\r", "   \r\n\r\n")])
def test_segment_separators_and_trailing_junk(sep: str, end: str) -> None:
    message = parse_message(BASE.format(sep=sep, end=end).encode())
    assert [s.name for s in message.segments] == ["MSH", "PID", "ZXY"]
    assert message.control_id == "C1" and message.message_code == "ORU" and message.trigger_event == "R01"
    zxy = message.first("ZXY")
    assert zxy is not None
    assert (zxy.get(1, 1), zxy.get(1, 2, 1), zxy.get(1, 2, 2), zxy.get(1, 1, 1, 1)) == ("a", "b", "c", "d")


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\x00\x00\x02", b"\x0b", b"\r\n  "])
def test_leading_bom_and_control_bytes_are_ignored(prefix: bytes) -> None:
    assert parse_message(prefix + BASE.format(sep="\r", end="").encode()).version == "2.5.1"


def test_non_default_delimiters_and_truncation_character() -> None:
    raw = b"MSH#*@!$%#APP#FAC###20240301##ORU*R01#C9#P#2.7\rOBX#1#NM#8867-4*HR*LN##7!S!8*9$10@11"
    message = parse_message(raw)
    assert message.delims == Delimiters("#", "*", "@", "!", "$", "%")
    obx = message.first("OBX")
    assert obx is not None
    assert obx.get(3, 1) == "8867-4" and obx.get(5, 1) == "7*8"
    assert obx.get(5, 2, 2) == "10" and obx.get(5, 1, 1, 1) == "11"
    assert message.msh.get(2) == "*@!$%"


@pytest.mark.parametrize(("escaped", "plain"), [
    ("a\\F\\b", "a|b"), ("a\\S\\b", "a^b"), ("a\\T\\b", "a&b"), ("a\\R\\b", "a~b"), ("a\\E\\b", "a\\b"),
    ("\\X41C3A9\\", "Aé"), ("\\XE9\\", "é"), ("line\\.br\\two", "line\ntwo"), ("\\H\\bold\\N\\", "bold"),
    ("a\\Zlocal\\b", "ab"), ("50\\", "50\\"), ("\\Q\\", "\\Q\\"), ("\\.sp2\\", "\n\n"),
])
def test_escape_sequences(escaped: str, plain: str) -> None:
    assert unescape(escaped, Delimiters()) == plain


def test_escapes_are_decoded_after_splitting() -> None:
    message = parse_message(b"MSH|^~\\&|A|B|||20240301||ORU^R01|C1|P|2.5\rOBX|1|ST|X^a\\S\\b^L||v\\T\\w&z")
    obx = message.first("OBX")
    assert obx is not None
    assert obx.get(3, 2) == "a^b" and obx.get(3, 3) == "L"
    assert obx.get(5, 1, 1) == "v&w" and obx.get(5, 1, 2) == "z"


@pytest.mark.parametrize(("raw", "location", "words"), [
    (b"", "MSH", "does not start with an MSH"),
    (b"PID|1||42\rMSH|^~\\&|A", "MSH", "does not start with an MSH"),
    (b"MSH|^~\\\\&|A|B|||2024||ADT^A01|1|P|2.6", "MSH-2", "used twice"),
    (b"MSH|^|||||||ADT^A40|||2.8", "MSH-2", "need 4"),
    (b"MSH|^~\\&x|A|B", "MSH-2", "letters, digits"),
    (b"MSHA^~\\&|A|B", "MSH-1", "not usable"),
    (b"MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5\rthis is free text\r", "segment 2", "not a segment id"),
])
def test_malformed_input_is_rejected_with_the_place(raw: bytes, location: str, words: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_message(raw)
    assert err.value.location == location and words in err.value.message


def test_split_messages_handles_batches_frames_and_blank_lines() -> None:
    one = b"MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5\rPID|1||7\r"
    two = b"MSH|^~\\&|A|B|||2024||ADT^A01|2|P|2.5\nPID|1||8\n"
    batch = b"FHS|^~\\&|X\rBHS|^~\\&|X\r" + one + two + b"BTS|2\rFTS|1\r"
    assert split_messages(batch) == [one, two]
    assert split_messages(one + b"\r\n\r\n" + two) == [one + b"\r\n\r\n", two]
    assert split_messages(b"\x0b" + one + b"\x1c\r\x0b" + two + b"\x1c\r") == [one, two]
    assert split_messages(b"garbage\r" + one) == [b"garbage\r", one]
    assert split_messages(b"") == []


def test_segment_labels_count_same_named_segments() -> None:
    message = parse_message(b"MSH|^~\\&|A|B|||2024||ORU^R01|1|P|2.5\rOBX|1\rNTE|1\rOBX|2")
    assert [s.label for s in message.segments] == ["MSH[1]", "OBX[1]", "NTE[1]", "OBX[2]"]
    assert repr(message.segments[1]) == "<Segment OBX[1] with 1 fields>"  # never the contents
