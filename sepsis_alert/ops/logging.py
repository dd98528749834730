"""Structured JSON logs for every worker: one JSON object per line, redacted.

Each line has `ts` (UTC, ISO 8601, milliseconds; processing time), `level`, `logger`,
`msg`, `worker`, `correlation_id` (null when the line is not about one message),
then any extra fields the call passed (topic, partition, offset, patient_key,
alert_id, receiver, ...), and `exc` for exceptions. Redaction (see
`sepsis_alert.ops.redaction`) runs on every field: bodies and patient identity are
dropped, secrets are masked.

The correlation id is passed explicitly, never through a contextvar (style guide
§11, hidden inputs): either per call,

    log.info("accepted", extra={"correlation_id": cid, "topic": t})

or once per unit of work with an adapter:

    mlog = with_context(log, correlation_id=hl7_correlation_id(sender, control_id))
    mlog.info("accepted %d observations", n)

Start-up: `configure_logging("detect", "INFO", secrets=[settings.webhook_url.get_secret_value()])`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

from sepsis_alert.ops.redaction import PatientKeyMode, Redactor

__all__ = [
    "ContextLogger",
    "JsonFormatter",
    "RedactionFilter",
    "configure_logging",
    "fhir_correlation_id",
    "hl7_correlation_id",
    "with_context",
]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName",
}
_FIXED_KEYS = ("ts", "level", "logger", "msg", "worker", "correlation_id")
_MAX_MSG_CHARS = 4000


def hl7_correlation_id(sending_facility: str, control_id: str) -> str:
    """Correlation id of an HL7 v2 message: `hl7:<MSH-4 sending facility>:<MSH-10 control id>`."""
    return f"hl7:{sending_facility or '-'}:{control_id}"


def fhir_correlation_id(resource_type: str, resource_id: str) -> str:
    """Correlation id of a FHIR resource: `fhir:<resourceType>/<id>` (the id the sender assigned)."""
    return f"fhir:{resource_type}/{resource_id}"


class RedactionFilter(logging.Filter):
    """Redacts a record in place: formats `msg % args` once, then masks / drops its text and extra fields.

    Attach it to handlers (not loggers): a handler filter sees every record that reaches the
    handler, including those propagated from child loggers.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_sepsis_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} (unformattable args)"
        record.msg = self.redactor.text(message)[:_MAX_MSG_CHARS]
        record.args = None
        for name in [key for key in vars(record) if key not in _STANDARD_ATTRS and not key.startswith("_")]:
            keep, shown = self.redactor.field(name, getattr(record, name))
            if keep:
                setattr(record, name, shown)
            else:
                delattr(record, name)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        record.exc_info = None  # the redacted text replaces the live traceback
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        record._sepsis_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (keys in the order of the module docstring)."""

    def __init__(self, worker: str) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "worker": getattr(record, "worker", None) or self.worker,
            "correlation_id": getattr(record, "correlation_id", None),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and not name.startswith("_") and name not in _FIXED_KEYS:
                entry[name] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class ContextLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that adds fixed fields (correlation_id, topic, ...) to every call, merged with the call's `extra`.

    Unlike `logging.LoggerAdapter`, the call's own `extra` is kept, and wins on conflicts.
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs

    def bind(self, **fields: Any) -> ContextLogger:
        """A new adapter with more fixed fields (e.g. the alert id once it is known)."""
        return ContextLogger(self.logger, {**(self.extra or {}), **fields})


def with_context(logger: logging.Logger | ContextLogger, **fields: Any) -> ContextLogger:
    """An adapter adding `fields` (typically correlation_id=...) to every line it logs."""
    if isinstance(logger, ContextLogger):
        return logger.bind(**fields)
    return ContextLogger(logger, fields)


def configure_logging(worker: str, level: str = "INFO", *, stream: TextIO | None = None,
                      secrets: Iterable[str] = (), patient_key_mode: PatientKeyMode = "plain") -> Redactor:
    """Send every log record of this process to `stream` (default stderr) as redacted JSON lines.

    `worker` names the process in every line. `level` is a logging level name. `secrets` are exact
    values to mask wherever they appear (unwrap your SecretStr settings here, once). Replaces the
    handlers installed by an earlier call (idempotent), keeps other handlers (e.g. pytest's), and
    quiets kafka-python's chatty INFO logs. Returns the Redactor, so a worker can add secrets later.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level: {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    redactor = Redactor(secrets, patient_key_mode)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactionFilter(redactor))
    handler.setFormatter(JsonFormatter(worker))
    handler.set_name("sepsis-json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "sepsis-json"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    for noisy in ("kafka", "urllib3", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    # Group joins, assignments and leaves are rare and are what ops need when a worker owns no partitions.
    logging.getLogger("kafka.coordinator").setLevel(numeric)
    return redactor
