"""Original-mode acknowledgements (pure): MSH with sender and receiver swapped, MSA, and ERR on AE/AR.

Acknowledgement codes we send (HL7 v2 chapter 2, original mode):

* AA: accepted, and every record it produced is durably in Kafka.
* AE: application error; the sender should fix or retransmit. Used for content
  errors (dead-lettered), for a Kafka outage (the reason says "retransmit"), and
  for a message whose valid observations were stored while some OBX were refused
  (one ERR per refused OBX, docs/hl7v2-acks.md).
* AR: application reject: the header itself is unusable (no MSH-10, unknown
  delimiters) or the message type/version is refused by configuration.

The ACK uses the incoming message's delimiters and version (MSH-1, MSH-2,
MSH-12) and its processing id (MSH-11). MSA-2 echoes MSH-10. ERR is written in
the layout of the incoming version: ERR-1 (ELD) before 2.5, ERR-2..ERR-8 from 2.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ingest.core.errors import (
    ImplausibleValueError,
    InputRejected,
    MissingField,
    ParseError,
    UnknownUnitError,
    UnsupportedInput,
)
from ingest.core.hl7v2.parser import DEFAULT_DELIMITERS, Delimiters, decode_text, read_delimiters, strip_leading_junk

__all__ = ["AckCode", "AckHeader", "build_ack", "build_partial_ack", "error_code_for", "read_ack_header"]

_LINE_END = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters (MLLP block bytes 0x0B / 0x1C, CR, LF, NUL...): never echoed into an ACK."""


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


# HL7 table 0357 (message error condition codes).
ERR_REQUIRED_FIELD_MISSING = "101"
ERR_DATA_TYPE = "102"
ERR_TABLE_VALUE_NOT_FOUND = "103"
ERR_UNSUPPORTED_MESSAGE_TYPE = "200"
ERR_UNSUPPORTED_VERSION = "203"
ERR_INTERNAL = "207"
_ERR_TEXT = {"101": "Required field missing", "102": "Data type error", "103": "Table value not found",
             "200": "Unsupported message type", "203": "Unsupported version id",
             "207": "Application internal error"}


def error_code_for(exc: InputRejected | None) -> str:
    """The table-0357 code for a rejection (207 for infrastructure failures: exc None)."""
    if exc is None:
        return ERR_INTERNAL
    if isinstance(exc, MissingField):
        return ERR_REQUIRED_FIELD_MISSING
    if isinstance(exc, UnknownUnitError):
        return ERR_TABLE_VALUE_NOT_FOUND
    if isinstance(exc, UnsupportedInput):
        return ERR_UNSUPPORTED_VERSION if exc.code == "unsupported_version" else ERR_UNSUPPORTED_MESSAGE_TYPE
    if isinstance(exc, ParseError | ImplausibleValueError):
        return ERR_DATA_TYPE
    return ERR_DATA_TYPE


@dataclass(frozen=True, slots=True)
class AckHeader:
    """The incoming header fields an ACK needs (raw, still escaped with `delims`)."""

    delims: Delimiters
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    trigger: str = ""
    message_type: str = ""
    """`ORU^R01` (MSH-9.1^MSH-9.2), for metrics; empty when unreadable."""


def read_ack_header(raw: bytes) -> AckHeader:
    """Best-effort header for the ACK of any input, even one the parser rejects.

    Falls back to default delimiters, version 2.5 and an empty MSA-2 when the
    header cannot be read (the ACK then still tells the sender why).
    """
    text = decode_text(strip_leading_junk(raw))
    try:
        delims = read_delimiters(text)
    except InputRejected:
        return AckHeader(DEFAULT_DELIMITERS)
    line = _LINE_END.split(text, 1)[0]
    fields = line.split(delims.field)
    fields.insert(1, delims.field)

    def raw_field(n: int) -> str:
        return _CONTROL.sub("", fields[n]) if n < len(fields) else ""

    def first_component(n: int) -> str:
        value = raw_field(n).split(delims.repetition)[0]
        return value.split(delims.component)[0]

    type_parts = raw_field(9).split(delims.repetition)[0].split(delims.component)
    code = type_parts[0].strip()[:3]
    trigger = type_parts[1].strip()[:3] if len(type_parts) > 1 else ""
    version = first_component(12).strip() or "2.5"
    if not re.fullmatch(r"2\.\d(\.\d)?", version):
        version = "2.5"
    return AckHeader(delims, raw_field(3), raw_field(4), raw_field(5), raw_field(6),
                     first_component(10).strip()[:199], first_component(11).strip()[:3] or "P", version,
                     trigger, f"{code}^{trigger}" if trigger else code)


def _escape(text: str, d: Delimiters) -> str:
    text = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.subcomponent, "T"), (d.repetition, "R")):
        text = text.replace(char, f"{d.escape}{code}{d.escape}")
    if d.truncation:
        text = text.replace(d.truncation, f"{d.escape}P{d.escape}")
    return _CONTROL.sub(" ", _LINE_END.sub(" ", text))


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S") + moment.strftime("%z")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def build_ack(header: AckHeader, code: AckCode, *, ack_control_id: str, now: datetime,
              reason: str = "", error_code: str = "", error_location: str = "") -> bytes:
    """An original-mode ACK (segments separated by CR, no MLLP framing).

    `now` (aware) is the ACK's MSH-7; `reason` goes to MSA-3 and ERR on AE/AR;
    `error_location` like `OBX[3]-6` fills the ERR location when it can be read.
    """
    d = header.delims
    f = d.field
    version = header.version
    trigger = header.trigger
    if _version_tuple(version) >= (2, 4):
        msg_type = f"ACK{d.component}{trigger}{d.component}ACK" if trigger else "ACK"
    else:
        msg_type = f"ACK{d.component}{trigger}" if trigger else "ACK"
    msh = f.join(["MSH", d.encoding_characters, header.receiving_application, header.receiving_facility,
                  header.sending_application, header.sending_facility, _ts(now), "", msg_type,
                  _escape(ack_control_id, d)[:199], _escape(header.processing_id, d), _escape(version, d)])
    text = _escape(reason, d)[:800]
    msa = f.join(["MSA", code.value, _escape(header.control_id, d), text if code is not AckCode.ACCEPT else ""])
    segments = [msh, msa.rstrip(f)]
    if code is not AckCode.ACCEPT:
        segments += _err_segments(header, [(error_code or ERR_INTERNAL, error_location, reason)])
    return ("\r".join(segments) + "\r").encode("utf-8")


def _err_segments(header: AckHeader, errors: list[tuple[str, str, str]]) -> list[str]:
    """ERR for (table-0357 code, location, text) errors in the layout of the incoming version: one ERR segment
    per error from 2.5 on (ERR is repeatable there, ERR-4 severity E), a single ERR whose ERR-1 repeats before."""
    d = header.delims
    f, c, s = d.field, d.component, d.subcomponent
    if _version_tuple(header.version) >= (2, 5):
        out = []
        for err_code, location, text in errors:
            seg_id, seq, fld = _parse_location(location)
            erl = c.join([seg_id, seq, fld]) if seg_id else ""
            cwe = c.join([err_code, _ERR_TEXT.get(err_code, ""), "HL70357"])
            out.append(f.join(["ERR", "", erl, cwe, "E", "", "", "", _escape(text, d)[:800]]))
        return out
    elds = []
    for err_code, location, text in errors:
        seg_id, seq, fld = _parse_location(location)
        elds.append(c.join([seg_id, seq, fld, s.join([err_code, _escape(text, d)[:200], "HL70357"])]))
    return [f.join(["ERR", d.repetition.join(elds)])]


def build_partial_ack(header: AckHeader, refused: list[InputRejected], *, stored: int, ack_control_id: str,
                      now: datetime) -> bytes:
    """AE for a message whose valid observations were stored while the OBX in `refused` were not: MSA-3 says
    how many of each, one ERR names each refused OBX, its table-0357 code and reason (docs/hl7v2-acks.md)."""
    where = ", ".join(e.location or "?" for e in refused[:10]) + (", ..." if len(refused) > 10 else "")
    reason = (f"{len(refused)} observation(s) refused ({where}); the other {stored} stored: fix and send the "
              f"refused ones in a new message")
    ack = build_ack(header, AckCode.ERROR, ack_control_id=ack_control_id, now=now, reason=reason)
    head = ack.decode("utf-8").split("\r")[:2]  # MSH and MSA of the plain AE; its single ERR is replaced
    errors = [(error_code_for(e), e.location, str(e)) for e in refused]
    return ("\r".join(head + _err_segments(header, errors)) + "\r").encode("utf-8")


def _parse_location(location: str) -> tuple[str, str, str]:
    """`OBX[3]-6` -> ('OBX', '3', '6'); `MSH-10` -> ('MSH', '1', '10'); anything else -> ('', '', '')."""
    m = re.match(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+))?", location or "")
    if not m:
        return "", "", ""
    return m.group(1), m.group(2) or "1", m.group(3) or ""
