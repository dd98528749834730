"""Issue #20: the notifier's Kafka adapters survive an unreachable broker without losing log entries.

Real clients pointed at a port where no broker listens (what they see during an outage); no mocks.
"""

from __future__ import annotations

import asyncio

import pytest

from devstack.broker import free_port
from notifier.adapters.kafka_state import KafkaLogSink
from notifier.core.model import DeliveryOutcome, NotificationLogEntry, NotifyAction
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError
from sepsis_alert.kafka.producer import EventProducer
from tests.notifier.helpers import make_alert

pytestmark = pytest.mark.integration


def _entry(n: int) -> NotificationLogEntry:
    alert = make_alert(sequence=n)
    return NotificationLogEntry(key=f"{alert.alert_id}|ward", alert_id=alert.alert_id, episode_id=alert.episode_id,
                                receiver="ward", tier=0, action=NotifyAction.TRIGGER,
                                outcome=DeliveryOutcome.DELIVERED, attempts=1, sent_at_s=1.0, alert=alert)


def test_log_sink_keeps_entries_the_producer_refused_and_its_timer_never_raises() -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=1_500,
                          max_block_ms=1_000)
    producer = EventProducer(kafka)
    sink = KafkaLogSink(producer, topic="sepsis.notification-log")
    errors: list[BaseException] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
        for n in range(3):
            await sink.append(_entry(n))
        await asyncio.sleep(2.5)  # the delayed drain ran (and failed) on the event loop
        assert sink.undrained == 3, "entries refused by the producer were dropped"
        with pytest.raises(KafkaUnavailableError):
            sink.drain()  # the worker's flush-and-commit path: must not commit past them
        assert sink.undrained == 3

    try:
        asyncio.run(scenario())
    finally:
        producer.close(1.0)
    assert errors == [], f"the delayed drain raised on the event loop: {errors}"
    assert sink.drain_failures >= 2
