"""Events go through the real broker and come back intact, keyed by patient."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import decode_event
from schemas.observation import Observation
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import make_consumer, read_all
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord, encode_event, event_key

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def _observation(patient_key: str = "MRN-4711", value: float = 121.0, n: int = 1) -> Observation:
    return Observation(
        patient_key=patient_key, measure="heart_rate", code="8867-4", value=value, unit="/min",
        effective_at=T0 + timedelta(minutes=n), received_at=T0 + timedelta(minutes=n, seconds=2),
        source="hl7v2", source_message_id=f"MSG{n}", source_id=f"MSG{n}|OBX1",
    )


def test_observation_round_trips_keyed_by_patient(kafka_settings: KafkaSettings, unique_topic: str) -> None:
    obs = _observation()
    with EventProducer(kafka_settings) as producer:
        [meta] = producer.send_all([OutboundRecord.from_event(unique_topic, obs)], timeout_s=30)
    assert meta.topic == unique_topic and meta.offset == 0

    [record] = read_all(kafka_settings, unique_topic, timeout_s=30)
    assert record.key == b"MRN-4711" == obs.kafka_key()
    assert record.value == encode_event(obs)
    assert record.partition == meta.partition
    decoded = decode_event(record.value)
    assert isinstance(decoded, Observation)
    assert decoded == obs


def test_same_patient_lands_on_same_partition_number_in_every_topic(
        kafka_settings: KafkaSettings, make_topic: object) -> None:
    topics = [make_topic(), make_topic()]  # type: ignore[operator]
    patients = [f"MRN-{i}" for i in range(20)]
    records = [OutboundRecord(t, p, b"{}") for t in topics for p in patients]
    with EventProducer(kafka_settings) as producer:
        metas = producer.send_all(records, timeout_s=30)
    partition = {(m.topic, r.key): m.partition for r, m in zip(records, metas, strict=True)}
    assert all(partition[(topics[0], p)] == partition[(topics[1], p)] for p in patients)
    assert len({partition[(topics[0], p)] for p in patients}) > 1  # keys really spread over partitions


def test_send_all_async_tombstones_and_headers(kafka_settings: KafkaSettings, unique_topic: str) -> None:
    obs = _observation("MRN-9")
    records = [
        OutboundRecord.from_event(unique_topic, obs, headers=[("source", b"hl7v2")]),
        OutboundRecord(unique_topic, event_key(obs), None),  # tombstone
    ]

    async def send() -> list[int]:
        with EventProducer(kafka_settings) as producer:
            metas = await producer.send_all_async(records, timeout_s=30)
            return [m.offset for m in metas]

    assert asyncio.run(send()) == [0, 1]
    got = read_all(kafka_settings, unique_topic, timeout_s=30, expected=2)
    assert [(r.key, r.value) for r in got] == [(b"MRN-9", encode_event(obs)), (b"MRN-9", None)]
    assert list(got[0].headers) == [("source", b"hl7v2")]


def test_group_consumer_commits_and_resumes(kafka_settings: KafkaSettings, unique_topic: str) -> None:
    with EventProducer(kafka_settings) as producer:
        producer.send_all([OutboundRecord(unique_topic, f"P{i}", b"x%d" % i) for i in range(5)], timeout_s=30)
    group = f"g-{unique_topic}"

    def drain(expect: int, timeout_polls: int = 40) -> list[bytes]:
        consumer = make_consumer(kafka_settings, group, [unique_topic])
        try:
            seen: list[bytes] = []
            for _ in range(timeout_polls):
                for batch in consumer.poll(timeout_ms=500).values():
                    seen += [r.value for r in batch]
                if len(seen) >= expect and consumer.assignment():
                    break
            consumer.commit()
            return seen
        finally:
            consumer.close(autocommit=False)

    assert sorted(drain(5)) == [b"x0", b"x1", b"x2", b"x3", b"x4"]
    with EventProducer(kafka_settings) as producer:
        producer.send_all([OutboundRecord(unique_topic, "P9", b"late")], timeout_s=30)
    assert drain(1) == [b"late"]  # committed offsets were honoured: nothing re-read


def test_read_all_reads_to_the_end_without_expected(kafka_settings: KafkaSettings, unique_topic: str) -> None:
    assert read_all(kafka_settings, unique_topic, timeout_s=30) == []
    with EventProducer(kafka_settings) as producer:
        producer.send_all([OutboundRecord(unique_topic, f"P{i % 3}", b"%d" % i) for i in range(30)], timeout_s=30)
    got = read_all(kafka_settings, unique_topic, timeout_s=30)
    assert sorted(int(r.value) for r in got) == list(range(30))
    for key in (b"P0", b"P1", b"P2"):  # per-key order is preserved
        values = [int(r.value) for r in got if r.key == key]
        assert values == sorted(values)
