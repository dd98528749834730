"""A notifier loop that ends by itself ends the worker (exit 1, an OPS ALERT), instead of a process that stays up
and ready while it no longer pages anybody (notifier/worker.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from notifier.adapters.kafka_state import NotifierTopics
from notifier.worker import NotifierLoopEndedError, serve, stop_or_first_ended
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.settings import OpsSettings
from tests.notifier.adapters.kafka_harness import eventually, make_app, make_topics
from tests.notifier.harness import fast_retry


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fails_after(delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    raise RuntimeError("boom")


def test_a_stop_request_wins_and_a_loop_that_ends_is_named() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        calm = [asyncio.create_task(_forever(), name="alerts"), asyncio.create_task(_forever(), name="escalation")]
        asyncio.get_running_loop().call_later(0.05, stop.set)
        assert await stop_or_first_ended(stop, calm) is None
        failing = asyncio.create_task(_fails_after(0.05), name="state-tail")
        ended = await stop_or_first_ended(asyncio.Event(), [*calm, failing])
        assert ended is failing and isinstance(failing.exception(), RuntimeError)
        returned = asyncio.create_task(asyncio.sleep(0.01), name="escalation")
        assert await stop_or_first_ended(asyncio.Event(), [calm[0], returned]) is returned
        for task in calm:
            task.cancel()

    asyncio.run(scenario())


def test_a_real_notifier_whose_loop_fails_stops_and_says_where_without_the_message(
        kafka_settings: KafkaSettings, make_topic, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    topics: NotifierTopics = make_topics(make_topic)
    doc = {"receivers": [{"name": "ward", "type": "webhook", "url": {"value": "http://127.0.0.1:9/hook"},
                          "secret": {"value": "whsec-0123456789"}}],
           "route": {"receiver": "ward"}, "retry": fast_retry(), "escalation_tick_s": 0.1}
    app = make_app(kafka_settings, topics, doc)

    def broken_due(now_s: float) -> list:
        raise RuntimeError("escalation state for Jane Example, MRN 1234567")  # what a message could quote

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(app, OpsSettings(enabled=False), stop))
        await eventually(lambda: len(app.loops) == 3, 120, "the notifier's loops to start")
        assert {t.get_name() for t in app.loops} == {"alerts", "escalation", "state-tail"}
        app.tracker.due = broken_due  # type: ignore[method-assign]  # a bug in the escalation tick
        with pytest.raises(NotifierLoopEndedError, match="escalation"):
            await asyncio.wait_for(serving, 60)
        assert all(t.done() for t in app.loops)  # the app was stopped, not left half running

    with caplog.at_level(logging.ERROR, logger="notifier.worker"):
        asyncio.run(scenario())
    alerts = [r.getMessage() for r in caplog.records if "OPS ALERT" in r.getMessage()]
    assert len(alerts) == 1, alerts
    assert "escalation loop ended (RuntimeError at " in alerts[0] and "notifier/app.py:" in alerts[0]
    assert "Jane" not in alerts[0] and "1234567" not in alerts[0]
