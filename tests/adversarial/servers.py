"""Real servers for the adversarial / security tests: the HL7 worker on its own event-loop thread and
dead-letter look-ups (the MLLP client and the FHIR server come from the ingest test harnesses).

Everything talks over 127.0.0.1 sockets to the real session broker.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import MllpSettings
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from ingest.metrics_hl7 import Hl7Metrics
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import WorkerThread


def ack_code(ack: bytes) -> str:
    """MSA-1 of an ACK (AA / AE / AR)."""
    text = ack.decode("utf-8", "replace")
    field = text[3] if len(text) > 3 else "|"
    for segment in text.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            return segment.split(field)[1]
    raise AssertionError(f"no MSA in ACK {ack[:200]!r}")


class Hl7WorkerThread(WorkerThread):
    """The real Hl7Worker (MllpServer + KafkaEventSink) on the ingest harness's private-loop thread."""

    def __init__(self, kafka: KafkaSettings, mllp: MllpSettings | None = None,
                 ingest: IngestSettings | None = None) -> None:
        self.kafka = kafka
        self.ingest = ingest or IngestSettings(send_timeout_s=10)
        self.settings = Hl7WorkerSettings(mllp=mllp or MllpSettings(port=0))
        self.producer = EventProducer(kafka)
        self.metrics = Hl7Metrics(CollectorRegistry())
        sink = KafkaEventSink(self.producer, raw_topic=self.settings.raw_topic, timeout_s=self.ingest.send_timeout_s)
        super().__init__(lambda: Hl7Worker(self.ingest, self.settings, sink, metrics=self.metrics))

    def stop(self) -> None:
        super().stop()
        self.producer.close()


def dead_letters(kafka: KafkaSettings, topic: str = Topics.DEAD_LETTER) -> list[dict[str, Any]]:
    """Every dead letter on the topic, as dicts with the decoded raw payload under `raw`."""
    out = []
    for record in read_all(kafka, topic, timeout_s=60):
        if record.value is None:
            continue
        letter = orjson.loads(record.value)
        letter["raw"] = base64.b64decode(letter.get("raw_payload_b64", ""))
        out.append(letter)
    return out


def wait_for_dead_letters(kafka: KafkaSettings, wanted: Iterable[bytes], match: Callable[[bytes, bytes], bool],
                          timeout_s: float = 60.0) -> dict[bytes, dict[str, Any] | None]:
    """For each wanted input, the dead letter whose raw payload `match`es it (None if none appeared in time)."""
    wanted = list(wanted)
    found: dict[bytes, dict[str, Any] | None] = dict.fromkeys(wanted)
    deadline = time.monotonic() + timeout_s
    while True:
        letters = dead_letters(kafka)
        for item in wanted:
            if found[item] is None:
                found[item] = next((d for d in letters if match(item, d["raw"])), None)
        if all(v is not None for v in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)
