"""The reference side of the differential test: the same field look-ups answered by hl7apy.

hl7apy splits segments, fields, repetitions, components and subcomponents but
does not decode escape sequences, so decoded values go through `reference_unescape`
below (a regex over the HL7 escape table, written independently of the fast parser).
hl7apy needs CR-separated text without a BOM: `hl7apy_text` adapts the input the
way the standard expects it; that adaptation is not what is being compared.
"""

from __future__ import annotations

import re
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

__all__ = ["UNKNOWN", "ApyMessage", "hl7apy_text", "reference_unescape"]

UNKNOWN = object()
"""hl7apy cannot say: components past a datatype's definition lose their position (name None)."""


HL7APY_UNKNOWN_SEGMENTS = frozenset({"PRT", "SCT"})
"""Segments hl7apy 1.3 rejects in the versions that carry them (v2.7+ segments inside v2.5.1 messages)."""


def hl7apy_text(raw: bytes) -> str:
    """The message as hl7apy needs it: CR separators, no BOM, 4 encoding characters, no PRT/SCT segments.

    The 2.7 truncation character (5th MSH-2 character) is dropped: hl7apy refuses it, and it only
    matters for the \\P\\ escape, which the comparison does not use.
    """
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff\x00\x01\x02\x0b\r\n\t ")
    lines = [line.rstrip(" \t") for line in re.split(r"\r\n|\r|\n", text)]
    lines = [line for line in lines if line and line[:3] not in HL7APY_UNKNOWN_SEGMENTS]
    head = lines[0]
    sep = head[3]
    end = head.find(sep, 4)
    if end - 4 == 5:
        lines[0] = head[:8] + head[9:]
    return "\r".join(lines) + "\r"


def reference_unescape(value: str, field: str, comp: str, rep: str, esc: str, sub: str) -> str:
    table = {"F": field, "S": comp, "T": sub, "R": rep, "E": esc, "H": "", "N": "", ".br": "\n"}

    def replace(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in table:
            return table[code]
        if code.startswith("X") and len(code) % 2 == 1:
            try:
                return bytes.fromhex(code[1:]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return m.group(0)
        return m.group(0)

    e = re.escape(esc)
    return re.sub(f"{e}(F|S|T|R|E|H|N|\\.br|X[0-9A-Fa-f]*){e}", replace, value)


def _position(name: str | None, index: int) -> int:
    suffix = (name or "").rsplit("_", 1)
    return int(suffix[1]) if len(suffix) == 2 and suffix[1].isdigit() else index + 1


def _leaf(element: Any) -> str:
    """The leaf's text as received: string datatypes keep it in `.value.value`; dates/numbers re-encode it."""
    value = getattr(element, "value", None)
    inner = getattr(value, "value", value)
    if inner is None:
        return ""
    if isinstance(inner, str):
        return inner
    return str(element.to_er7())


class ApyMessage:
    """hl7apy's view of a message, queried like ingest.core.hl7v2.Segment.get."""

    def __init__(self, text: str) -> None:
        self.message = parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
        chars = self.message.encoding_chars
        self._chars = (chars["FIELD"], chars["COMPONENT"], chars["REPETITION"], chars["ESCAPE"],
                       chars["SUBCOMPONENT"])

    def segment_names(self) -> list[str]:
        return [s.name for s in self.message.children]

    def get(self, seg_index: int, field: int, component: int = 1, subcomponent: int = 1,
            repetition: int = 0) -> str | object:
        """The decoded value, '' when absent, or UNKNOWN where hl7apy lost the component's position."""
        segment = self.message.children[seg_index]
        reps = [f for f in segment.children if _position(f.name, -1) == field]
        if repetition >= len(reps):
            return ""
        components = list(reps[repetition].children)
        named = [_position(c.name, -1) for c in components if c.name and c.name.rsplit("_", 1)[-1].isdigit()]
        if any(c.name is None for c in components) and component > max(named, default=0):
            return UNKNOWN
        for i, comp in enumerate(components):
            if _position(comp.name, i) != component:
                continue
            for j, sub in enumerate(comp.children):
                if _position(sub.name, j) == subcomponent:
                    return reference_unescape(_leaf(sub), *self._chars)
            return ""
        return ""

    def repetitions(self, seg_index: int, field: int) -> int:
        segment = self.message.children[seg_index]
        return len([f for f in segment.children if _position(f.name, -1) == field])
