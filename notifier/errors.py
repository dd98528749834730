"""Errors of the notifier.

    NotifierError
    ├── ConfigError            the routing / receiver configuration is wrong: refuse to start
    ├── SilenceRejected        a silence request breaks a rule (too long, no matcher, no reason)
    └── DeliveryFailed         every attempt (and the fallback) failed; the alert was dead-lettered

Malformed alerts read from Kafka are not raised: they are dead-lettered with a
reason and the worker carries on. Messages never contain URLs, tokens or
message bodies (see notifier.core.redact).
"""

from __future__ import annotations

__all__ = ["ConfigError", "DeliveryFailed", "NotifierError", "SilenceRejected"]


class NotifierError(Exception):
    """Root of every error raised on purpose by the notifier."""


class ConfigError(NotifierError, ValueError):
    """The configuration cannot be used; the message names the field and the bad value.

    Raised at start-up so that a route naming a missing receiver is found by the
    operator who deploys it, not at 3 a.m. when the first page is due.
    """


class SilenceRejected(NotifierError, ValueError):
    """A silence request breaks a rule; the message says which one."""


class DeliveryFailed(NotifierError):
    """A notification could not be delivered after the last attempt (and the fallback)."""
