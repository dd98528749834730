"""Keeping URLs and secrets out of logs and error messages (pure string work)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["REDACTED", "Redactor", "redact_url"]

REDACTED = "[REDACTED]"


def redact_url(url: str) -> str:
    """Scheme and host only: webhook URLs carry their token in the path or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.hostname:
        return REDACTED
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/{REDACTED}"


class Redactor:
    """Replaces every known secret value (URLs, keys, tokens) in a text with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Register a secret; very short values are ignored (they would mangle ordinary words)."""
        if len(secret) >= 6:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        """`text` with every registered secret replaced; longest first so a URL beats its own token."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
