"""Notification-log writes: buffered then handed to the producer together; this replica's echoes skipped."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from notifier.adapters.kafka_state import KafkaLogSink, NotifierTopics, OwnWrites, StateTail
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry
from sepsis_alert.kafka.config import KafkaSettings
from tests.notifier.helpers import make_alert


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))


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
        def send(self, topic: str, key: str, value: bytes) -> SimpleNamespace:  # type: ignore[override]
            super().send(topic, key, value)
            return SimpleNamespace(add_callback=lambda f, *args: f(*args, "metadata"))

    sink = KafkaLogSink(AckingProducer(), "log")  # type: ignore[arg-type]
    windows: list[float] = []
    sink.on_acked = windows.append

    async def scenario() -> None:
        await sink.append(_entry("P-1"))
        await asyncio.sleep(0.02)
        sink.drain()

    asyncio.run(scenario())
    assert len(windows) == 1 and windows[0] >= 0.004  # from the append (drained ~5 ms later), not the hand-over
