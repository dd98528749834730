"""Fast, pure ER7 (pipe-and-hat) parser for HL7 v2 messages.

Design: a message is split into segments and fields once; components,
repetitions and subcomponents are split lazily, only for the fields the
normaliser reads, and escape sequences are decoded on the extracted value
(after splitting, as the standard requires). This is what makes the hot path
about two orders of magnitude faster than building a full hl7apy tree.

Tolerated (real senders do all of these): CR, LF or CRLF segment separators,
trailing white space after a segment, a missing final separator, a UTF-8 BOM
or NUL/control bytes before `MSH`, any delimiters declared in MSH-1/MSH-2
(including the 2.7+ truncation character), Z-segments and unknown segments.

Rejected with a ParseError naming the place: no MSH, fewer than 4 or
duplicated encoding characters, a line that is not a segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.core.errors import ParseError

__all__ = [
    "DEFAULT_DELIMITERS",
    "Delimiters",
    "Message",
    "Segment",
    "decode_text",
    "parse_message",
    "unescape",
]

_SEGMENT_BREAK = re.compile(r"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_LEADING_JUNK = frozenset(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"
                          b"\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x7f")
_BOM = b"\xef\xbb\xbf"
_DELIMITERS_SEEN: dict[str, Delimiters] = {}


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The message's separators (MSH-1 and MSH-2); `truncation` is empty before v2.7."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it must be written back (e.g. in the ACK)."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


DEFAULT_DELIMITERS = Delimiters()


def unescape(value: str, delims: Delimiters) -> str:
    """Decode HL7 escape sequences in one already-split value.

    \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ become the delimiters, \\Xhh..\\ the bytes (UTF-8, else Latin-1),
    \\.br\\ a newline; highlighting (\\H\\ \\N\\), character-set switches (\\C..\\ \\M..\\),
    locally defined \\Z..\\ and the other formatting commands are dropped. An unknown
    sequence or a lone escape character is kept as received.
    """
    esc = delims.escape
    if not esc or esc not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        j = value.find(esc, i)
        if j < 0:
            out.append(value[i:])
            break
        k = value.find(esc, j + 1)
        if k < 0:
            out.append(value[i:])
            break
        out.append(value[i:j])
        seq = value[j + 1:k]
        replacement = _escape_replacement(seq, delims)
        if replacement is None:
            out.append(value[j:k + 1])
        else:
            out.append(replacement)
        i = k + 1
    return "".join(out)


def _escape_replacement(seq: str, d: Delimiters) -> str | None:
    if len(seq) == 1:
        if seq == "P" and d.truncation:
            return d.truncation
        return {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape,
                "H": "", "N": ""}.get(seq)
    if not seq:
        return None
    head = seq[0]
    if head == "X":
        hexdigits = seq[1:]
        try:
            data = bytes.fromhex(hexdigits)
        except ValueError:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if head == ".":
        command = seq[1:3].lower()
        if command == "br":
            return "\n"
        if command == "sp":
            count = seq[3:].strip() or "1"
            return "\n" * (int(count) if count.isdigit() and int(count) < 100 else 1)
        if command in ("fi", "nf", "in", "ti", "sk", "ce"):
            return ""
        return None
    if head in ("C", "M", "Z"):
        return ""
    return None


class Segment:
    """One segment: `fields[n]` is field n (for MSH too: fields[1] is MSH-1, the field separator)."""

    __slots__ = ("delims", "fields", "name", "ordinal")

    def __init__(self, name: str, fields: list[str], delims: Delimiters, ordinal: int) -> None:
        self.name = name
        self.fields = fields
        self.delims = delims
        self.ordinal = ordinal  # 1-based position among segments with the same name

    @property
    def label(self) -> str:
        """`OBX[3]`: the third OBX of the message (not the OBX-1 set id), used in every error location."""
        return f"{self.name}[{self.ordinal}]"

    def raw(self, field: int) -> str:
        """Field `field` exactly as received (still escaped, all repetitions)."""
        fields = self.fields
        return fields[field] if field < len(fields) else ""

    def repetitions_raw(self, field: int) -> list[str]:
        """The raw repetitions of a field ([''] when empty)."""
        value = self.raw(field)
        if self.name == "MSH" and field <= 2:
            return [value]
        return value.split(self.delims.repetition)

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        """Decoded value at field.component.subcomponent (1-based) of one repetition; '' if absent."""
        fields = self.fields
        if field >= len(fields):
            return ""
        value = fields[field]
        if not value:
            return ""
        d = self.delims
        if field <= 2 and self.name == "MSH":
            return value
        if d.repetition in value:
            reps = value.split(d.repetition)
            if repetition >= len(reps):
                return ""
            value = reps[repetition]
        elif repetition:
            return ""
        return _pick(value, component, subcomponent, d)

    def plain(self, field: int) -> str:
        """`get(field).strip()` with a fast path for the common value that holds no delimiter at all."""
        fields = self.fields
        if field >= len(fields):
            return ""
        value = fields[field]
        d = self.delims
        if d.component in value or d.repetition in value or d.escape in value or d.subcomponent in value:
            return self.get(field).strip()
        return value.strip()

    def first_components(self, field: int) -> list[str]:
        """Raw (still escaped) components of the first repetition; decode each with `unescape`."""
        fields = self.fields
        if field >= len(fields) or not fields[field]:
            return []
        value = fields[field]
        d = self.delims
        if d.repetition in value:
            value = value.split(d.repetition, 1)[0]
        return value.split(d.component)

    def components(self, field: int, repetition: int = 0) -> list[str]:
        """Decoded components of one repetition (subcomponents left joined, then decoded)."""
        reps = self.repetitions_raw(field)
        if repetition >= len(reps):
            return []
        d = self.delims
        return [unescape(c, d) for c in reps[repetition].split(d.component)]

    def __repr__(self) -> str:  # never shows field contents (PHI)
        return f"<Segment {self.label} with {len(self.fields) - 1} fields>"


def _pick(value: str, component: int, subcomponent: int, d: Delimiters) -> str:
    if d.component in value:
        comps = value.split(d.component)
        if component > len(comps):
            return ""
        value = comps[component - 1]
    elif component != 1:
        return ""
    if d.subcomponent in value:
        subs = value.split(d.subcomponent)
        if subcomponent > len(subs):
            return ""
        value = subs[subcomponent - 1]
    elif subcomponent != 1:
        return ""
    if d.escape in value:
        return unescape(value, d)
    return value


class Message:
    """A parsed message: its segments in order and its delimiters."""

    __slots__ = ("_by_name", "delims", "segments")

    def __init__(self, segments: list[Segment], delims: Delimiters) -> None:
        self.segments = segments
        self.delims = delims
        by_name: dict[str, list[Segment]] = {}
        for seg in segments:
            by_name.setdefault(seg.name, []).append(seg)
        self._by_name = by_name

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        found = self._by_name.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[Segment]:
        return self._by_name.get(name, [])

    @property
    def message_code(self) -> str:
        """MSH-9.1, e.g. ORU."""
        return self.msh.get(9, 1).strip().upper()

    @property
    def trigger_event(self) -> str:
        """MSH-9.2, e.g. R01."""
        return self.msh.get(9, 2).strip().upper()

    @property
    def control_id(self) -> str:
        """MSH-10, the sender's message control id."""
        return self.msh.get(10).strip()

    @property
    def version(self) -> str:
        """MSH-12.1, e.g. 2.5.1."""
        return self.msh.get(12).strip()

    @property
    def sender(self) -> str:
        """`<MSH-3.1>|<MSH-4.1>`: sending application and facility, the de-duplication scope."""
        return f"{self.msh.get(3).strip()}|{self.msh.get(4).strip()}"

    def __repr__(self) -> str:
        return f"<Message {self.message_code}^{self.trigger_event} {len(self.segments)} segments>"


def decode_text(raw: bytes) -> str:
    """Bytes to text: UTF-8 (what MSH-18 'UNICODE UTF-8' and plain ASCII both are), else Latin-1.

    Latin-1 never fails, so a message in 8859/1 or Windows-1252 is still parsed
    (with its accented letters intact for 8859/1) instead of being rejected.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def strip_leading_junk(raw: bytes) -> bytes:
    """Drop a UTF-8 BOM and control/space bytes before `MSH` (seen with fuzzers and some engines)."""
    i = 0
    n = len(raw)
    while i < n:
        if raw.startswith(_BOM, i):
            i += len(_BOM)
        elif raw[i] in _LEADING_JUNK:
            i += 1
        else:
            break
    return raw[i:] if i else raw


def _is_control(char: str) -> bool:
    """C0/C1 control characters (incl. the MLLP block bytes 0x0B and 0x1C, CR, LF, NUL) and DEL.

    MSH-1/MSH-2 are echoed in the ACK: a control character there would break the MLLP framing of
    the answer (0x0B / 0x1C) or the segment structure (CR / LF), so it is never a delimiter.
    """
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def read_delimiters(text: str) -> Delimiters:
    """Delimiters from the start of an MSH segment; ParseError naming MSH-1/MSH-2 when they are unusable."""
    if len(text) < 8 or not text.startswith("MSH"):
        raise ParseError("message does not start with an MSH segment", location="MSH")
    field_sep = text[3]
    if field_sep.isalnum() or field_sep.isspace() or _is_control(field_sep):
        raise ParseError(f"field separator {field_sep!r} is not usable", location="MSH-1")
    end = text.find(field_sep, 4)
    line_end = _SEGMENT_BREAK.search(text, 4)
    if end < 0 or (line_end is not None and line_end.start() < end):
        end = line_end.start() if line_end is not None else len(text)
    chars = text[4:end]
    if len(chars) < 4:
        raise ParseError(f"encoding characters {chars!r}: need 4 (component, repetition, escape, subcomponent)",
                         location="MSH-2")
    if len(chars) > 5:
        raise ParseError(f"encoding characters {chars!r}: more than 5 characters", location="MSH-2")
    all_chars = field_sep + chars
    known = _DELIMITERS_SEEN.get(all_chars)
    if known is not None:
        return known
    if len(set(all_chars)) != len(all_chars):
        raise ParseError(f"encoding characters {chars!r}: a delimiter is used twice", location="MSH-2")
    if any(c.isalnum() or c.isspace() or _is_control(c) for c in chars):
        raise ParseError(f"encoding characters {chars!r}: letters, digits, white space and control characters "
                         f"are not delimiters", location="MSH-2")
    delims = Delimiters(field_sep, chars[0], chars[1], chars[2], chars[3], chars[4] if len(chars) == 5 else "")
    if len(_DELIMITERS_SEEN) < 64:
        _DELIMITERS_SEEN[all_chars] = delims  # one shared instance per delimiter set: cheap cache keys
    return delims


_VALID_IDS: set[str] = set()


def _valid_segment_id(name: str) -> bool:
    if not _SEGMENT_ID.match(name):
        return False
    if len(_VALID_IDS) < 512:
        _VALID_IDS.add(name)
    return True


def parse_message(raw: bytes | str) -> Message:
    """Parse one message (bytes or text) into segments; ParseError naming the place when it is not HL7 v2."""
    text = decode_text(strip_leading_junk(raw)) if isinstance(raw, bytes) else raw.lstrip("\ufeff\x00\x0b\r\n\t ")
    delims = read_delimiters(text)
    field_sep = delims.field
    segments: list[Segment] = []
    counts: dict[str, int] = {}
    # str.split is several times faster than the regex; most senders use CR only.
    lines = text.split("\r") if "\n" not in text else _SEGMENT_BREAK.split(text)
    for line in lines:
        line = line.rstrip(" \t\x1c\x0b\x00")
        if not line:
            continue
        fields = line.split(field_sep)
        name = fields[0]
        if name not in _VALID_IDS and not _valid_segment_id(name):
            shown = name[:8]
            raise ParseError(f"line {len(segments) + 1} starts with {shown!r}, not a segment id",
                             location=f"segment {len(segments) + 1}")
        if name == "MSH":
            if segments:
                raise ParseError("a second MSH segment: several messages must be split first",
                                 location=f"segment {len(segments) + 1}")
            fields.insert(1, field_sep)  # MSH-1 is the separator itself, so fields[n] is MSH-n
        ordinal = counts.get(name, 0) + 1
        counts[name] = ordinal
        segments.append(Segment(name, fields, delims, ordinal))
    if not segments or segments[0].name != "MSH":
        raise ParseError("message does not start with an MSH segment", location="MSH")
    return Message(segments, delims)
