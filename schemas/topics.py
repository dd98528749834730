"""Every Kafka topic the service uses, with its partitioning and configs, in one place.

All event topics are keyed by patient key so that one patient's observations,
patient events and care events land on the same partition number of each topic
(co-partitioning): the detector can then keep that patient's state locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ALL_TOPICS", "TopicSpec", "Topics", "topic_names"]

DEFAULT_PARTITIONS = 6
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name, partition count and broker-side configs."""

    name: str
    partitions: int = DEFAULT_PARTITIONS
    configs: dict[str, str] = field(default_factory=dict)
    description: str = ""


class Topics:
    """Topic names. Change them here only; every worker reads them from this class."""

    RAW_HL7 = "sepsis.raw.hl7v2"
    RAW_FHIR = "sepsis.raw.fhir"
    OBSERVATIONS = "sepsis.observations"
    PATIENT_EVENTS = "sepsis.patient-events"
    CARE_EVENTS = "sepsis.care-events"
    ALERTS = "sepsis.alerts"
    DETECTOR_STATE = "sepsis.detector-state"
    DEAD_LETTER = "sepsis.dead-letter"
    NOTIFICATION_LOG = "sepsis.notification-log"
    ACKS = "sepsis.acks"
    SILENCES = "sepsis.silences"
    INGEST_DEDUP = "sepsis.ingest-dedup"


_COMPACTED = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": str(3600 * 1000),
}

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Topics.RAW_HL7, configs={"retention.ms": str(30 * 24 * 3600 * 1000)},
              description="every accepted HL7 v2 message, verbatim, for reprocessing after a parser fix"),
    TopicSpec(Topics.RAW_FHIR, configs={"retention.ms": str(30 * 24 * 3600 * 1000)},
              description="every accepted FHIR request body, verbatim"),
    TopicSpec(Topics.OBSERVATIONS, configs={"retention.ms": str(WEEK_MS)},
              description="canonical Observation events keyed by patient key"),
    TopicSpec(Topics.PATIENT_EVENTS, configs={"retention.ms": str(WEEK_MS)},
              description="admit / transfer / discharge / update / cancel / merge"),
    TopicSpec(Topics.CARE_EVENTS, configs={"retention.ms": str(WEEK_MS)},
              description="blood cultures, antibiotics, vasopressors, ventilation"),
    TopicSpec(Topics.ALERTS, configs={"retention.ms": str(30 * 24 * 3600 * 1000)},
              description="alert transitions emitted by the detector"),
    TopicSpec(Topics.DETECTOR_STATE, configs=_COMPACTED,
              description="changelog of per-patient detector state (compacted; tombstone on discharge)"),
    TopicSpec(Topics.DEAD_LETTER, configs={"retention.ms": str(30 * 24 * 3600 * 1000)},
              description="raw rejected input with the error, from every worker"),
    # Compacted for de-duplication, and also deleted after well past the alerts' own retention, so the log
    # (and a notifier's start-up read) does not grow for ever: an alert older than that is never re-read.
    TopicSpec(Topics.NOTIFICATION_LOG,
              configs={**_COMPACTED, "cleanup.policy": "compact,delete", "retention.ms": str(60 * 24 * 3600 * 1000)},
              description="what was sent to which receiver (compacted by alert id + receiver; kept 60 days)"),
    TopicSpec(Topics.ACKS, configs=_COMPACTED,
              description="acknowledgements of alert episodes, shared by notifier replicas"),
    TopicSpec(Topics.SILENCES, partitions=1, configs=_COMPACTED,
              description="silences and maintenance windows with their audit trail"),
    TopicSpec(Topics.INGEST_DEDUP, configs=_COMPACTED,
              description="sender + control id of accepted messages, for retransmission de-duplication"),
)


def topic_names() -> list[str]:
    """Names of all topics, in declaration order."""
    return [t.name for t in ALL_TOPICS]
