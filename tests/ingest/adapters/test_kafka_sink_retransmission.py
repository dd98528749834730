"""KafkaEventSink after a failed write: a retransmission never stores a second copy of what landed late.

Pure unit test of the sink's bookkeeping: the producer is a fake that hands out kafka-python futures
the test settles by hand (a late success = the producer's retry landed after we answered "not stored").
The real-broker behaviour is covered by test_hl7_kafka_outage.py and tests/faults/test_broker_outage.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future

from ingest.adapters.kafka_sink import KafkaEventSink, ingest_producer_settings
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError

RECEIVED = datetime(2024, 3, 1, 10, tzinfo=UTC)


class FakeProducer:
    """Records every send; futures stay pending until the test settles them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, bytes | None]] = []
        self.futures: list[Future] = []

    def send(self, topic: str, key: str | None, value: bytes | None, headers: object = ()) -> Future:
        self.sent.append((topic, key, value))
        future = Future()
        self.futures.append(future)
        return future

    def check_stuck(self) -> bool:
        """EventProducer's watchdog: the sink asks it while waiting on earlier futures; these never wedge."""
        return False


def _sink(producer: FakeProducer) -> KafkaEventSink:
    return KafkaEventSink(producer, raw_topic="raw", timeout_s=0.3)  # type: ignore[arg-type]


async def _write(sink: KafkaEventSink, raw: bytes = b"MSH|one") -> int:
    return await sink.write_accepted([], raw, message_id="M1", sender="S", received_at=RECEIVED,
                                     dedup_key="S|M1")


def test_late_success_of_the_failed_attempt_means_nothing_is_written_again() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        sink = _sink(producer)
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)  # nothing acknowledged within the timeout: "not stored"
        assert len(producer.sent) == 2  # raw + dedup marker
        for future in producer.futures:
            future.success(object())  # ...but the producer's retry landed afterwards
        assert await _write(sink) == 2
        assert len(producer.sent) == 2, "the retransmission wrote a second copy"

    asyncio.run(scenario())


def test_only_the_records_that_did_not_land_are_written_again() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        sink = _sink(producer)
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)
        producer.futures[0].success(object())  # raw landed late
        producer.futures[1].failure(KafkaTimeoutError())  # the marker expired
        write = asyncio.ensure_future(_write(sink))
        await asyncio.sleep(0.05)
        assert [t for t, _k, _v in producer.sent[2:]] == [Topics.INGEST_DEDUP]
        producer.futures[2].success(object())
        assert await write == 2

    asyncio.run(scenario())


def test_an_undecided_earlier_attempt_blocks_the_retransmission() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        sink = _sink(producer)
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)
        with pytest.raises(KafkaUnavailableError, match="undecided"):
            await _write(sink)  # the first attempt's futures are still pending: do not write again
        assert len(producer.sent) == 2
        for future in producer.futures:
            future.failure(KafkaTimeoutError())  # now it definitely failed
        write = asyncio.ensure_future(_write(sink))
        await asyncio.sleep(0.05)
        assert len(producer.sent) == 4
        for future in producer.futures[2:]:
            future.success(object())
        assert await write == 2

    asyncio.run(scenario())


def test_a_different_message_is_not_affected_by_a_failed_one() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        sink = _sink(producer)
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)
        other = asyncio.ensure_future(sink.write_accepted([], b"MSH|two", message_id="M2", sender="S",
                                                          received_at=RECEIVED, dedup_key="S|M2"))
        await asyncio.sleep(0.05)
        assert len(producer.sent) == 4
        for future in producer.futures[2:]:
            future.success(object())
        assert await other == 2

    asyncio.run(scenario())


def test_ingest_producer_settings_bound_delivery_by_the_send_timeout() -> None:
    base = KafkaSettings()
    assert base.delivery_timeout_ms > 5_000  # the default would retry behind the sender's back
    bounded = ingest_producer_settings(base, 5.0)
    assert bounded.delivery_timeout_ms == 5_000
    assert 1_000 < bounded.request_timeout_ms <= bounded.delivery_timeout_ms
    assert bounded.max_block_ms <= 5_000
    assert bounded.bootstrap_servers == base.bootstrap_servers
