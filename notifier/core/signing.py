"""Signatures on outgoing webhooks and on PagerDuty's incoming V3 webhooks (pure; time passed in).

Outgoing (generic webhook), Stripe style: header `X-Sepsis-Signature: t=<unix s>,v1=<hex>`
where `hex` = HMAC-SHA256(secret, f"{t}.{raw body}"). Verification recipe for receivers:

1. Split the header on `,`; take `t` and every `v1` value (several during a secret rotation).
2. Compute HMAC-SHA256 over `<t>.<raw request body bytes>` (exactly as received, before any JSON parsing)
   with the shared secret; hex-encode it.
3. Compare with each `v1` in constant time (`hmac.compare_digest`); reject if none matches.
4. Reject if |now - t| is more than the replay window (we suggest 300 s), so a captured request cannot be
   replayed later; optionally remember the `X-Sepsis-Delivery` id for the window to drop exact replays.

`verify_webhook` below is that recipe.

Standard Webhooks (standardwebhooks.com) headers are sent beside it, so a receiver can use that project's
libraries and de-duplicate: `webhook-id` is stable for one notification to one receiver (the same id on every
retry and after a notifier restart: drop a second request with an id already seen), `webhook-timestamp` is Unix
seconds, `webhook-signature` is `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>` where the key is
the base64-decoded part of a `whsec_...` secret, or the secret's bytes as they are otherwise.

PagerDuty V3 webhooks: header
`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over the raw body only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

__all__ = ["SIGNATURE_HEADER", "SignatureCheck", "sign_webhook", "standard_webhook_headers",
           "verify_pagerduty_signature", "verify_standard_webhook", "verify_webhook"]

SIGNATURE_HEADER = "X-Sepsis-Signature"
DEFAULT_TOLERANCE_S = 300.0


class SignatureCheck(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    OUTSIDE_WINDOW = "outside_window"  # too old (replay) or too far in the future (clock skew)


def _hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_webhook(secret: bytes, timestamp_s: int, body: bytes) -> str:
    """Header value `t=<timestamp_s>,v1=<hex>` for `body`; `timestamp_s` is wall-clock epoch seconds."""
    return f"t={timestamp_s},v1={_hex(secret, str(timestamp_s).encode() + b'.' + body)}"


def _standard_key(secret: bytes) -> bytes:
    if secret.startswith(b"whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except ValueError:
            return secret
    return secret


def _standard_signature(secret: bytes, message_id: str, timestamp_s: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    return base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()).decode()


def standard_webhook_headers(secret: bytes, message_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` (module docstring)."""
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp_s),
            "webhook-signature": "v1," + _standard_signature(secret, message_id, timestamp_s, body)}


def verify_standard_webhook(headers: dict[str, str], body: bytes, secret: bytes, now_s: float,
                            tolerance_s: float = DEFAULT_TOLERANCE_S) -> SignatureCheck:
    """The Standard Webhooks receiver check (header names lower-case)."""
    message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    given = [part.partition(",")[2] for part in headers.get("webhook-signature", "").split()
             if part.startswith("v1,")]
    if not message_id or not stamp.isdigit() or not given:
        return SignatureCheck.MALFORMED
    expected = _standard_signature(secret, message_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        return SignatureCheck.BAD_SIGNATURE
    if abs(now_s - int(stamp)) > tolerance_s:
        return SignatureCheck.OUTSIDE_WINDOW
    return SignatureCheck.VALID


def verify_webhook(header: str, body: bytes, secrets: Sequence[bytes], now_s: float,
                   tolerance_s: float = DEFAULT_TOLERANCE_S) -> SignatureCheck:
    """The receiver-side recipe in the module docstring."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            return SignatureCheck.MALFORMED
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return SignatureCheck.MALFORMED
    signed = str(timestamp).encode() + b"." + body
    expected = [_hex(secret, signed) for secret in secrets]
    if not any(hmac.compare_digest(e, c) for e in expected for c in candidates):
        return SignatureCheck.BAD_SIGNATURE
    if abs(now_s - timestamp) > tolerance_s:
        return SignatureCheck.OUTSIDE_WINDOW
    return SignatureCheck.VALID


def verify_pagerduty_signature(header: str | None, body: bytes, secret: bytes) -> bool:
    """True when one of the `v1=` signatures in PagerDuty's header matches HMAC-SHA256(secret, body)."""
    if not header:
        return False
    expected = "v1=" + _hex(secret, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(","))
