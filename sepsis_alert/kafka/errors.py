"""Exceptions of the Kafka plumbing.

Everything raised on purpose by `sepsis_alert.kafka` derives from
`KafkaPlumbingError`, so a worker can catch one type at its boundary. Errors
coming from kafka-python are wrapped (the original is kept as `__cause__`).
"""

from __future__ import annotations

__all__ = [
    "BrokerStartError",
    "GroupJoinStalledError",
    "JarsUnavailableError",
    "KafkaPlumbingError",
    "KafkaRejectedError",
    "KafkaUnavailableError",
    "TopicConfigError",
    "TopicNotFoundError",
]


class KafkaPlumbingError(Exception):
    """Root of every error raised by `sepsis_alert.kafka`."""


class KafkaUnavailableError(KafkaPlumbingError):
    """The cluster could not be reached, or did not acknowledge records in time.

    Raised by the producer when a record is not acknowledged (acks=all) before
    the caller's deadline, and by the admin/consumer helpers when the first
    connection (bootstrap) fails. Callers must treat the records as NOT stored
    (for HL7 / FHIR: reply with a retryable error so the sender retransmits).
    They may still be written later by the producer's background retries, so
    downstream consumers must tolerate duplicates (at-least-once).

    Attributes:
        acknowledged: how many of the records of the failed call were acknowledged.
        total: how many records the failed call tried to send.
    """

    def __init__(self, message: str, *, acknowledged: int = 0, total: int = 0) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.total = total


class GroupJoinStalledError(KafkaPlumbingError):
    """A consumer-group member has had no completed join for too long (sepsis_alert.kafka.join_watch): the
    worker rebuilds its consumer."""


class KafkaRejectedError(KafkaPlumbingError):
    """The client or broker refused a record for good (e.g. too large, not authorised).

    Retrying the same record will fail the same way: callers should reject the
    input (dead letter / negative acknowledgement that does not ask for a resend).
    """


class TopicConfigError(KafkaPlumbingError):
    """A topic exists with a layout that cannot be fixed in place (e.g. wrong
    partition count), or the broker rejected a topic creation / config change."""


class TopicNotFoundError(KafkaPlumbingError):
    """The named topic does not exist on the broker."""


class BrokerStartError(KafkaPlumbingError):
    """The local broker could not be started; the message carries the reason and the log tail."""


class JarsUnavailableError(BrokerStartError):
    """The Kafka jars are missing and could not be fetched with Maven."""
