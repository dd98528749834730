"""KafkaEventSink after a failed write: a retransmission never stores a second copy of what landed late.

Pure unit test of the sink's bookkeeping: the producer is a fake that hands out kafka-python futures
the test settles by hand (a late success = the producer's retry landed after we answered "not stored").
The real-broker behaviour is covered by test_hl7_kafka_outage.py and tests/faults/test_broker_outage.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future

from ingest.adapters.kafka_sink import KafkaEventSink, ingest_producer_settings
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError
from sepsis_alert.kafka.producer import OutboundRecord

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


class FakeLandedCheck:
    """Stands in for the read-back from Kafka (ingest/adapters/landed.py): says which asked records are there."""

    def __init__(self, there: set[str] | None = None, fails: bool = False) -> None:
        self.there = there or set()
        self.fails = fails
        self.asked: list[tuple[list[str], int]] = []

    def __call__(self, records: Sequence[OutboundRecord], since_ms: int, timeout_s: float) -> list[bool]:
        self.asked.append(([r.topic for r in records], since_ms))
        if self.fails:
            raise KafkaUnavailableError("broker away again")
        return [r.topic in self.there for r in records]


def test_records_the_broker_stored_before_it_crashed_are_read_back_not_written_again() -> None:
    # The broker appended the raw record and crashed before acknowledging it: the producer reports both records
    # failed, the read-back finds the raw one, and only the marker is written again.
    async def scenario() -> None:
        producer = FakeProducer()
        check = FakeLandedCheck(there={"raw"})
        sink = KafkaEventSink(producer, raw_topic="raw", timeout_s=0.3, landed=check)  # type: ignore[arg-type]
        before_ms = time.time_ns() // 1_000_000
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)
        for future in producer.futures:
            future.failure(KafkaTimeoutError())
        write = asyncio.ensure_future(_write(sink))
        await asyncio.sleep(0.05)
        assert [t for t, _k, _v in producer.sent[2:]] == [Topics.INGEST_DEDUP]
        assert check.asked[0][0] == ["raw", Topics.INGEST_DEDUP]
        assert before_ms <= check.asked[0][1] <= time.time_ns() // 1_000_000
        producer.futures[2].success(object())
        assert await write == 2

    asyncio.run(scenario())


def test_when_the_read_back_cannot_tell_nothing_is_written_and_the_next_retransmission_asks_again() -> None:
    async def scenario() -> None:
        producer = FakeProducer()
        check = FakeLandedCheck(fails=True)
        sink = KafkaEventSink(producer, raw_topic="raw", timeout_s=0.3, landed=check)  # type: ignore[arg-type]
        with pytest.raises(KafkaUnavailableError):
            await _write(sink)
        for future in producer.futures:
            future.failure(KafkaTimeoutError())
        with pytest.raises(KafkaUnavailableError, match="cannot yet tell"):
            await _write(sink)
        assert len(producer.sent) == 2, "wrote again without knowing whether the first attempt landed"
        check.fails = False
        check.there = {"raw", Topics.INGEST_DEDUP}
        assert await _write(sink) == 2
        assert len(producer.sent) == 2
        assert check.asked[0][1] == check.asked[-1][1]  # every read-back starts at the first attempt

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
