"""Signed, expiring acknowledge links bound to one episode (pure; time passed in).

A link is `<base>/ack/<episode>?t=<expires>.<signature>` where the signature is
HMAC-SHA256 over `ack|<episode>|<expires>` with the link secret, base64url. It
cannot be replayed for another episode, stops working after `expires`
(wall-clock epoch seconds), and opening it (GET) only shows a confirmation
page: the acknowledgement itself is a POST, so a phone's link preview or a
mail scanner fetching the URL does not acknowledge anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum
from urllib.parse import quote

__all__ = ["LinkCheck", "ack_token", "ack_url", "check_ack_token"]


class LinkCheck(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"  # also: a token made for another episode


def _signature(secret: bytes, episode_id: str, expires_at_s: int) -> str:
    digest = hmac.new(secret, f"ack|{episode_id}|{expires_at_s}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def ack_token(secret: bytes, episode_id: str, expires_at_s: int) -> str:
    """The `t` query value: `<expires epoch s>.<signature>`."""
    return f"{expires_at_s}.{_signature(secret, episode_id, expires_at_s)}"


def ack_url(base_url: str, secret: bytes, episode_id: str, expires_at_s: int) -> str:
    """Full link for messages; `base_url` is the notifier's public URL (no trailing slash needed)."""
    return f"{base_url.rstrip('/')}/ack/{quote(episode_id, safe='')}?t={ack_token(secret, episode_id, expires_at_s)}"


def check_ack_token(secret: bytes, episode_id: str, token: str, now_s: float) -> LinkCheck:
    """Verify a token for `episode_id` at `now_s` (constant-time comparison)."""
    expires_text, dot, signature = token.partition(".")
    if not dot or not expires_text.isdigit() or not signature:
        return LinkCheck.MALFORMED
    expected = _signature(secret, episode_id, int(expires_text))
    if not hmac.compare_digest(expected, signature):
        return LinkCheck.BAD_SIGNATURE
    if now_s >= int(expires_text):
        return LinkCheck.EXPIRED
    return LinkCheck.VALID
