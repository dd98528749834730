"""Notification-log writes: buffered then handed to the producer together; this replica's echoes skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from notifier.adapters.kafka_state import KafkaLogSink, NotifierTopics, OwnWrites, StateTail
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError
from tests.notifier.helpers import make_alert


class FakeFuture:
    """kafka-python's record future, resolved by the test: `succeed()` or `fail()` runs its callbacks."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        self.errbacks: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def add_callback(self, f: Callable[..., object], *args: object) -> None:
        self.callbacks.append((f, args))

    def add_errback(self, f: Callable[..., object], *args: object) -> None:
        self.errbacks.append((f, args))

    def succeed(self) -> None:
        for f, args in self.callbacks:
            f(*args, "metadata")

    def fail(self) -> None:
        for f, args in self.errbacks:
            f(*args, TimeoutError("Expiring 1 record(s)"))


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.futures: list[FakeFuture] = []

    def send(self, topic: str, key: str, value: bytes) -> FakeFuture:
        self.sent.append((topic, key, value))
        self.futures.append(FakeFuture())
        return self.futures[-1]


def _entry(patient: str, outcome: DeliveryOutcome = DeliveryOutcome.DELIVERED, at_s: float = 1.0
           ) -> NotificationLogEntry:
    item = Notification(alert=make_alert(patient=patient), receiver="ward", outcome=outcome, attempts=1)
    return NotificationLogEntry.from_notification(item, at_s)


def test_own_writes_are_recognised_once_each_even_for_one_key_written_twice() -> None:
    echoes = OwnWrites()
    echoes.remember(b"k", b"v1")
    echoes.remember(b"k", b"v2")
    assert not echoes.is_echo(b"k", b"other") and not echoes.is_echo(None, b"v1")
    assert echoes.is_echo(b"k", b"v1") and echoes.is_echo(b"k", b"v2")
    assert not echoes.is_echo(b"k", b"v1")  # once


def test_own_writes_are_bounded() -> None:
    echoes = OwnWrites(max_entries=2)
    for n in range(3):
        echoes.remember(b"k%d" % n, b"v")
    assert not echoes.is_echo(b"k0", b"v") and echoes.is_echo(b"k2", b"v")


def test_log_sink_buffers_then_sends_in_order_on_drain_or_shortly_after() -> None:
    producer, echoes = RecordingProducer(), OwnWrites()
    sink = KafkaLogSink(producer, "log", echoes)  # type: ignore[arg-type]
    first, second = _entry("P-1"), _entry("P-2")

    async def scenario() -> None:
        await sink.append(first)
        await sink.append(second)
        assert producer.sent == []  # not per notification
        assert sink.drain() == 2
        await sink.append(first)
        await asyncio.sleep(0.05)  # the scheduled drain

    asyncio.run(scenario())
    assert [key for _, key, _ in producer.sent] == [first.key, second.key, first.key]
    assert all(topic == "log" for topic, _, _ in producer.sent)
    assert echoes.is_echo(second.key.encode(), producer.sent[1][2])


def test_state_tail_skips_its_own_echoes_but_applies_other_replicas_records() -> None:
    echoes = OwnWrites()
    topics = NotifierTopics(notification_log="log")
    tail = StateTail(KafkaSettings(bootstrap_servers="127.0.0.1:1"), topics, echoes)
    mine, theirs = _entry("P-mine"), _entry("P-theirs")
    mine_value, theirs_value = mine.model_dump_json().encode(), theirs.model_dump_json().encode()
    echoes.remember(mine.key.encode(), mine_value)
    batch = {"tp": [SimpleNamespace(topic="log", partition=0, offset=0, key=mine.key.encode(), value=mine_value),
                    SimpleNamespace(topic="log", partition=0, offset=1, key=theirs.key.encode(), value=theirs_value)]}
    try:
        assert tail._decode(batch) == [theirs]
    finally:
        tail._executor.shutdown()


def test_state_tail_keeps_the_alert_of_a_retrying_entry_and_still_shrinks_it_for_the_paging_state() -> None:
    """A pending delivery is resumed from its `retrying` entry, so that one keeps its alert; every entry still
    goes through `shrink` (which also folds it into the paging state)."""
    shrunk: list[str] = []

    def shrink(entry: NotificationLogEntry) -> object:
        shrunk.append(entry.key)
        return entry.slim()

    tail = StateTail(KafkaSettings(bootstrap_servers="127.0.0.1:1"), NotifierTopics(notification_log="log"),
                     shrink=shrink)  # type: ignore[arg-type]
    pending, done = _entry("P-pending", DeliveryOutcome.RETRYING), _entry("P-done")
    batch = {"tp": [SimpleNamespace(topic="log", partition=0, offset=n, key=e.key.encode(),
                                    value=e.model_dump_json().encode()) for n, e in enumerate((pending, done))]}
    try:
        decoded = tail._decode(batch)
    finally:
        tail._executor.shutdown()
    assert decoded == [pending, done.slim()]
    assert shrunk == [pending.key, done.key]


def test_log_sink_reports_the_time_to_the_broker_acknowledgement() -> None:
    class AckingProducer(RecordingProducer):
        def send(self, topic: str, key: str, value: bytes) -> FakeFuture:
            future = super().send(topic, key, value)
            future.add_callback = lambda f, *args: f(*args, "metadata")  # type: ignore[method-assign]
            return future

    sink = KafkaLogSink(AckingProducer(), "log")  # type: ignore[arg-type]
    windows: list[float] = []
    sink.on_acked = windows.append

    async def scenario() -> None:
        await sink.append(_entry("P-1"))
        await asyncio.sleep(0.02)
        sink.drain()

    asyncio.run(scenario())
    assert len(windows) == 1 and windows[0] >= 0.004  # from the append (drained ~5 ms later), not the hand-over


def test_a_log_write_the_broker_dropped_is_written_again_and_blocks_the_commit_until_then() -> None:
    """The chaos suite's finding: a `delivered` entry expired in the producer during a broker outage was lost,
    leaving `retrying` in the log (a later replica would page again) and letting offsets be committed past it."""
    producer = RecordingProducer()
    sink = KafkaLogSink(producer, "log")  # type: ignore[arg-type]
    retrying = _entry("P-1", DeliveryOutcome.RETRYING, at_s=1.0)
    delivered = _entry("P-1", DeliveryOutcome.DELIVERED, at_s=2.0)
    other = _entry("P-2", DeliveryOutcome.DELIVERED, at_s=2.0)

    async def scenario() -> None:
        await sink.append(retrying)
        sink.drain()
        producer.futures[0].succeed()
        await sink.append(delivered)
        await sink.append(other)
        sink.drain()
        producer.futures[1].fail()  # the broker went away: `delivered` expired
        producer.futures[2].succeed()
        with pytest.raises(KafkaUnavailableError):  # offsets must not be committed past the lost entry
            sink.check_written()
        await asyncio.sleep(1.2)  # the retry scheduled from the producer's thread
        assert producer.sent[-1][1] == delivered.key and b'"delivered"' in producer.sent[-1][2]
        producer.futures[-1].succeed()
        sink.check_written()  # written again: the commit may go on

    asyncio.run(scenario())
    assert len(producer.sent) == 4


def test_a_failed_write_superseded_by_a_newer_entry_of_its_key_is_not_written_again() -> None:
    producer = RecordingProducer()
    sink = KafkaLogSink(producer, "log")  # type: ignore[arg-type]
    retrying = _entry("P-1", DeliveryOutcome.RETRYING, at_s=1.0)
    delivered = _entry("P-1", DeliveryOutcome.DELIVERED, at_s=2.0)

    async def scenario() -> None:
        await sink.append(retrying)
        sink.drain()
        await sink.append(delivered)
        sink.drain()
        producer.futures[0].fail()  # the older `retrying` expired after `delivered` was handed over
        producer.futures[1].succeed()
        assert sink.drain() == 0, "an older entry would overwrite the newer one in the compacted topic"
        sink.check_written()

    asyncio.run(scenario())
    assert [b'"retrying"' in value for _, _, value in producer.sent] == [True, False]
