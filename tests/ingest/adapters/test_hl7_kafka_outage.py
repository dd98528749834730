"""Kafka stops while a sender is connected: no AA; once Kafka is back the retransmission is accepted once.

Uses its own LocalBroker so that the shared session broker is not disturbed.
"""

from __future__ import annotations

import time

import pytest

from devstack.broker import LocalBroker
from ingest.adapters.kafka_sink import KafkaEventSink, ingest_producer_settings
from ingest.adapters.mllp import MllpSettings
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.kafka.topics import ensure_topics
from tests.ingest.adapters.harness import MllpClient, WorkerThread, ack_fields, unique_id
from tests.ingest.core.samples import VITALS_ORU, with_ids

pytestmark = pytest.mark.integration

SEND_TIMEOUT_S = 2.0
SLACK_S = 5.0
"""Allowed overrun of the send timeout on a busy 2-core machine."""


def test_no_aa_while_kafka_is_down_and_retransmission_accepted_once(own_broker: LocalBroker) -> None:
    # Records of a failed attempt expire quickly instead of landing after the broker returns.
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    ensure_topics(kafka)
    producer = EventProducer(ingest_producer_settings(kafka, SEND_TIMEOUT_S))
    ingest = IngestSettings(send_timeout_s=SEND_TIMEOUT_S)
    settings = Hl7WorkerSettings(mllp=MllpSettings(port=0, idle_timeout_s=300))
    thread = WorkerThread(lambda: Hl7Worker(ingest, settings, KafkaEventSink(
        producer, raw_topic=settings.raw_topic, timeout_s=SEND_TIMEOUT_S)))
    port = thread.start()
    client = MllpClient("127.0.0.1", port, timeout_s=60)
    try:
        first_id, second_id = unique_id("UP"), unique_id("DOWN")
        assert ack_fields(client.send(with_ids(VITALS_ORU, first_id, "MRN-1")))["MSA"][1] == "AA"

        own_broker.stop()
        second = with_ids(VITALS_ORU, second_id, "MRN-1")
        started = time.monotonic()
        ack = ack_fields(client.send(second))
        elapsed = time.monotonic() - started
        assert ack["MSA"][1:3] == ["AE", second_id]
        assert "retransmit" in ack["MSA"][3]
        assert elapsed < SEND_TIMEOUT_S + SLACK_S, f"AE took {elapsed:.1f} s"

        own_broker.start(180)
        codes = []
        for _ in range(20):  # the sender retransmits until it gets AA (the producer reconnects meanwhile)
            codes.append(ack_fields(client.send(second))["MSA"][1])
            if codes[-1] == "AA":
                break
            time.sleep(1.0)
        assert codes[-1] == "AA" and set(codes[:-1]) <= {"AE"}
        assert ack_fields(client.send(second))["MSA"][1] == "AA"  # a late retransmission: deduplicated
    finally:
        client.close()
        thread.stop()
        producer.close()

    def count(topic: str, message_id: str) -> int:
        return sum(1 for r in read_all(kafka, topic, timeout_s=60)
                   if dict(r.headers).get("source_message_id") == message_id.encode())

    assert count(Topics.OBSERVATIONS, first_id) == 6
    assert count(Topics.OBSERVATIONS, second_id) == 6
    assert count(Topics.RAW_HL7, second_id) == 1
