"""What must never reach a log line: message bodies, patient identity, secrets (pure string functions).

Used by `sepsis_alert.ops.logging` on every record, but callable on its own
(e.g. before putting an exception text into a dead letter or an HTTP error).

Three kinds of protection, from the bluntest to the finest:
- extra fields whose NAME says they hold a body or patient identity are dropped
  (`PHI_FIELD_NAMES`), and fields whose name says secret are masked (`is_secret_field`);
- text that LOOKS like a message body is cut out: HL7 v2 segments (from the first
  `MSH|`, `PID|`, `OBX|` ... to the end) and FHIR JSON (anything with "resourceType");
- secrets inside text are masked: URL credentials and token query parameters,
  `Bearer`/`Basic` credentials, `password=...`-style pairs, Slack-style webhook
  paths, pydantic's `input_value=...` echo of the bad input, and any exact value
  registered with `Redactor.add_secret` (e.g. a webhook URL or HMAC key from settings).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Literal

__all__ = [
    "BODY_MARK",
    "MASK",
    "PHI_FIELD_NAMES",
    "PatientKeyMode",
    "Redactor",
    "is_secret_field",
    "redact_text",
]

MASK = "***"
BODY_MARK = "[message body redacted]"

PatientKeyMode = Literal["plain", "hashed", "drop"]

PHI_FIELD_NAMES: frozenset[str] = frozenset({
    # message bodies and raw payloads
    "body", "raw", "raw_message", "payload", "message_body", "hl7", "hl7_message", "segment", "segments",
    "fhir_resource", "resource", "bundle", "request_body", "response_body", "content", "text",
    # patient identity and demographics
    "name", "patient_name", "family", "family_name", "given", "given_name", "first_name", "last_name",
    "birth_date", "birthdate", "date_of_birth", "dob", "address", "phone", "telecom", "email", "ssn",
    "national_id", "mrn_raw", "next_of_kin",
})
"""Extra-field names that are dropped from log records whatever their value (compared case-insensitively)."""

_SECRET_NAME_PARTS = ("token", "secret", "password", "passwd", "authorization", "api_key", "apikey", "hmac",
                      "signature", "credential", "cookie", "private_key", "webhook_url")

_HL7_SEGMENT = re.compile(r"(?:\x0b)?\b(?:MSH|FHS|BHS|PID|PD1|PV1|PV2|OBR|OBX|ORC|NTE|NK1|EVN|AL1|DG1|IN1|MRG|"
                          r"RXA|RXE|RXO)\|[\s\S]*")
_FHIR_MARK = '"resourceType"'
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:access_token|token|api_key|apikey|key|secret|sig|signature|password|"
                           r"auth|code|client_secret)=)[^&#\s\"']+")
_AUTH_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{4,}")
_KEY_VALUE_SECRET = re.compile(r"(?i)\b([a-z_]*(?:password|passwd|secret|token|api_key|apikey|hmac_key|"
                               r"authorization)[a-z_]*)(['\"]?\s*[=:]\s*)(['\"]?)[^\s,;'\"]+")
_SLACK_STYLE_PATH = re.compile(r"(/services/)[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+")
_PYDANTIC_INPUT = re.compile(r"input_value=.*?(, input_type=)")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_secret_field(name: str) -> bool:
    """True if an extra field called `name` holds a secret (its value is replaced by MASK)."""
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with message bodies cut out and secrets masked (see the module docstring)."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    if _FHIR_MARK in text:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            text = text[:start] + BODY_MARK + text[end + 1:]
        else:
            text = text[: text.find(_FHIR_MARK)] + BODY_MARK
    text = _HL7_SEGMENT.sub(BODY_MARK, text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _AUTH_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _KEY_VALUE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
    text = _SLACK_STYLE_PATH.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _PYDANTIC_INPUT.sub(lambda m: f"input_value={MASK}{m.group(1)}", text)
    # Control characters (MLLP framing bytes, raw CRs of HL7 segments) have no place in a log line.
    return _CONTROL_CHARS.sub(" ", text)


class Redactor:
    """Applies the redaction rules with this process's registered secrets and patient-key policy.

    `patient_key_mode`: "plain" keeps `patient_key` fields as they are (default: operators need to
    find a patient's messages), "hashed" replaces them by a short SHA-256 pseudonym (`pk-<12 hex>`,
    reproducible with `Redactor.pseudonym`), "drop" removes them.
    """

    def __init__(self, secrets: Iterable[str] = (), patient_key_mode: PatientKeyMode = "plain") -> None:
        self._secrets: set[str] = set()
        self.patient_key_mode: PatientKeyMode = patient_key_mode
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str) -> None:
        """Mask this exact value wherever it appears (ignored when shorter than 4 characters: too many false hits)."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def text(self, text: str) -> str:
        """`redact_text` with the registered secrets, longest first (so a URL is masked before its token)."""
        return redact_text(text, sorted(self._secrets, key=len, reverse=True))

    @staticmethod
    def pseudonym(patient_key: str) -> str:
        """The "hashed" form of a patient key: `pk-` + the first 12 hex digits of its SHA-256."""
        return "pk-" + hashlib.sha256(patient_key.encode()).hexdigest()[:12]

    def field(self, name: str, value: object) -> tuple[bool, object]:
        """(keep?, value to log) for one extra field of a log record."""
        lowered = name.lower()
        if lowered in PHI_FIELD_NAMES:
            return False, None
        if is_secret_field(lowered):
            return True, MASK
        if lowered == "patient_key" and isinstance(value, str):
            if self.patient_key_mode == "drop":
                return False, None
            if self.patient_key_mode == "hashed":
                return True, self.pseudonym(value)
        return True, self.value(value)

    def value(self, value: object) -> object:
        """A field value with strings redacted, recursing into lists and dicts (dict keys are checked too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, dict):
            cleaned: dict[str, object] = {}
            for key, inner in value.items():
                keep, shown = self.field(str(key), inner)
                if keep:
                    cleaned[str(key)] = shown
            return cleaned
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        # Anything else (a model, an exception) is logged by its str(), redacted like text.
        return self.text(str(value))
