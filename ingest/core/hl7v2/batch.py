"""Split a file or stream of HL7 v2 text into single messages (pure).

Handles what files really hold: one message; several messages back to back
(with or without blank lines between them); FHS/BHS ... BTS/FTS batches; and
MLLP-framed captures (0x0B ... 0x1C 0x0D). Each returned message is the original
bytes of that message (batch envelope segments removed), so a rejected one can
be dead-lettered verbatim.
"""

from __future__ import annotations

import re

__all__ = ["split_messages"]

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
_FRAME_BYTES = re.compile(rb"[\x0b\x1c]")
_FRAME = re.compile(rb"\x0b(.*?)\x1c\r?", re.DOTALL)
_LEADING = b"\xef\xbb\xbf\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x1a\x1c\x1f \t"


def split_messages(data: bytes) -> list[bytes]:
    """The messages in `data`, in order. Text before the first MSH (other than blank lines) is returned as
    an item of its own, so the parser rejects it with a reason while the real messages still go through.

    Returns [data] unchanged when no line starts with MSH, so the parser can
    reject it with a precise reason.
    """
    if data.lstrip(b" \t\r\n").startswith(b"\x0b"):  # an MLLP capture: take each frame's payload
        return [m for payload in _FRAME.findall(data) for m in split_messages(payload)]
    if _FRAME_BYTES.search(data):
        data = _FRAME_BYTES.sub(b"\r", data)
    messages: list[bytes] = []
    current: list[bytes] = []
    prefix: list[bytes] = []
    for match in _LINE.finditer(data):
        line = match.group(0)
        if not line:
            continue
        body = line.lstrip(_LEADING)
        tag = body[:3]
        if tag in _ENVELOPE:
            if current:
                messages.append(b"".join(current))
                current = []
            continue
        if tag == b"MSH":
            if current:
                messages.append(b"".join(current))
            if prefix:
                messages.append(b"".join(prefix))  # text before the first MSH: rejected on its own
                prefix = []
            current = [line]
            continue
        if current:
            current.append(line)
        elif line.strip(b"\r\n \t\x00"):
            prefix.append(line)
    if current:
        messages.append(b"".join(current))
    if not messages:
        return [data] if data.strip() else []
    return messages
