"""Schema versions on the wire, and the rule a consumer follows for an event of another version.

Rolling upgrades run old and new workers side by side, so a consumer meets events written by a producer
one release ahead (or behind). The contract (docs/upgrades.md):

- A version is major.minor. A **minor** release only adds optional fields. A consumer reads every minor of
  its own major; fields it does not know belong to a newer minor and are ignored.
- A **major** release may remove, rename or re-mean a field, or add a required one. A consumer refuses
  another major (the caller dead-letters the event, naming both versions) rather than guess at its meaning.

Wire form: `schema_version` is the integer major while the minor is 0, which is byte for byte what the
releases before minor versions existed write and read; otherwise the string "major.minor" (a JSON number
such as 1.10 cannot be told from 1.1, so numbers with a fraction are not versions).

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "CURRENT_SCHEMA",
    "CURRENT_SCHEMA_WIRE",
    "ReadRule",
    "SchemaVersion",
    "UnsupportedSchemaVersion",
    "VersionCheck",
    "check_schema_version",
    "parse_schema_version",
    "reads_as_is",
    "wire_schema_version",
]


class SchemaVersion(NamedTuple):
    """A schema version; tuple order is version order."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


CURRENT_SCHEMA = SchemaVersion(1, 0)
"""The version this release writes and reads in full."""

_DOTTED = re.compile(r"^(\d{1,4})(?:\.(\d{1,4}))?$")


def parse_schema_version(raw: object) -> SchemaVersion:
    """The version a `schema_version` wire value names; ValueError (naming the value) when it names none."""
    if type(raw) is int and 1 <= raw <= 9999:
        return SchemaVersion(raw, 0)
    if isinstance(raw, str):
        found = _DOTTED.match(raw)
        if found is not None and int(found[1]) >= 1:
            return SchemaVersion(int(found[1]), int(found[2] or 0))
    raise ValueError(f"schema_version: expected a major number (1) or a 'major.minor' string ('1.2'), got {raw!r}")


def wire_schema_version(version: SchemaVersion) -> int | str:
    """The wire value of `version`: the bare major while the minor is 0 (what older releases read)."""
    return version.major if version.minor == 0 else str(version)


CURRENT_SCHEMA_WIRE = wire_schema_version(CURRENT_SCHEMA)
"""What this release writes in `schema_version` (also what an event without the field is taken to be)."""


class ReadRule(StrEnum):
    """How a consumer reads an event of a given declared version."""

    AS_IS = "as_is"
    """Validate every field strictly: the consumer's own major and a minor it knows (a malformed version also
    goes this way, so the schema's error names the field)."""
    IGNORE_UNKNOWN_FIELDS = "ignore_unknown_fields"
    """The consumer's major, a newer minor: fields the consumer does not know are that minor's additions."""
    REFUSE = "refuse"
    """Another major: the meaning of the fields may have changed; dead-letter with `VersionCheck.reason`."""


@dataclass(frozen=True)
class VersionCheck:
    rule: ReadRule
    reason: str = ""


class UnsupportedSchemaVersion(ValueError):
    """An event of a major version this consumer does not read; the message is the dead letter's reason."""

    error_code = "unsupported_schema_version"


def check_schema_version(raw: object, reader: SchemaVersion = CURRENT_SCHEMA) -> VersionCheck:
    """The rule for reading an event whose `schema_version` wire value is `raw`, by a consumer at `reader`."""
    try:
        declared = parse_schema_version(raw)
    except ValueError:
        return VersionCheck(ReadRule.AS_IS)
    if declared.major != reader.major:
        return VersionCheck(ReadRule.REFUSE, f"schema version {declared} is not readable by this worker, which "
                                             f"reads {reader.major}.x (a major version may change what fields "
                                             f"mean; see docs/upgrades.md)")
    if declared.minor > reader.minor:
        return VersionCheck(ReadRule.IGNORE_UNKNOWN_FIELDS)
    return VersionCheck(ReadRule.AS_IS)


def reads_as_is(raw: object) -> bool:
    """True when an event declaring `raw` is read by this release with every field known (the hot path's
    check: the common wire value is decided without building a SchemaVersion)."""
    if type(raw) is int:
        return raw == CURRENT_SCHEMA.major
    try:
        declared = parse_schema_version(raw)
    except ValueError:
        return False
    return declared.major == CURRENT_SCHEMA.major and declared.minor <= CURRENT_SCHEMA.minor
