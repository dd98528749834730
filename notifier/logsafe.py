"""Keeps every known secret (webhook URLs, keys, tokens) out of every log record of the process.

A filter on a logger does not see records of its child loggers, and httpx /
httpcore / uvicorn log full request URLs (which carry webhook tokens) on their
own loggers. So the scrubbing happens where records are created: a wrapper
around the log-record factory replaces each registered secret in the message
and in the formatted traceback before any handler sees the record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from notifier.core.redact import Redactor

__all__ = ["register_secrets", "scrub"]

_REDACTOR = Redactor()
_LOCK = threading.Lock()
_INSTALLED = False
_FORMATTER = logging.Formatter()


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by [REDACTED]."""
    return _REDACTOR.scrub(text)


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secrets to the process-wide redactor and make sure the record factory scrubs them."""
    global _INSTALLED
    with _LOCK:
        for secret in secrets:
            _REDACTOR.add(secret)
        if _INSTALLED:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: leave it to logging's own error handling
                return record
            scrubbed = _REDACTOR.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = _REDACTOR.scrub(_FORMATTER.formatException(record.exc_info))
            return record

        logging.setLogRecordFactory(factory)
        _INSTALLED = True
