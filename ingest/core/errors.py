"""Errors of the ingest path.

    IngestError
    ├── InputRejected          the input is wrong: answer AE/AR or 4xx, dead-letter it, carry on
    │   ├── ParseError             not parseable as HL7 v2 / JSON / FHIR
    │   ├── MissingField           a required element is absent (patient id, code, time)
    │   ├── UnknownUnitError       a unit we cannot convert explicitly (never guessed)
    │   ├── ImplausibleValueError  outside the plausible range after conversion
    │   └── UnsupportedInput       a message type or resource we do not take (when configured to reject)
    └── (infrastructure failures are not IngestErrors: see sepsis_alert.kafka.errors)

Every InputRejected carries a machine-readable `code` (a metric label and the
dead-letter `error_code`) and a `location` (HL7 `OBX[2]-6` or a FHIRPath).
"""

from __future__ import annotations

__all__ = [
    "ImplausibleValueError",
    "IngestError",
    "InputRejected",
    "MissingField",
    "ParseError",
    "UnknownUnitError",
    "UnsupportedInput",
]


class IngestError(Exception):
    """Root of ingest errors."""


class InputRejected(IngestError):
    """The input itself is wrong; the sender must fix it."""

    code = "invalid_input"

    def __init__(self, message: str, *, location: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ParseError(InputRejected):
    code = "parse_error"


class MissingField(InputRejected):
    code = "missing_field"


class UnknownUnitError(InputRejected):
    code = "unknown_unit"


class ImplausibleValueError(InputRejected):
    code = "implausible_value"


class UnsupportedInput(InputRejected):
    code = "unsupported"
