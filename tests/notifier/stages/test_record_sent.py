"""The notification log is written as soon as each receiver answered, not when the slowest of its batch did.

A crash between a chat receiver's 2xx and the log entry repeats the message after the restart (Slack and
Teams cannot drop a repeat), so that window is kept as short as one message: a batch of three alerts to a
Slack receiver throttled to 2 per second is delivered over a second, and each entry is logged with its own
delivery, not all three after the last one.
"""

from __future__ import annotations

import asyncio

from notifier.clock import SystemClock
from notifier.core.dedup import NotificationLogView
from notifier.core.model import DeliveryOutcome, Notification, action_for
from notifier.integrations.base import http_client
from notifier.metrics import NotifierMetrics
from notifier.ports import InMemoryDeadLetters, InMemoryLog
from notifier.wiring import build_pipeline
from tests.notifier.harness import fast_retry, make_harness
from tests.notifier.helpers import make_alert, running_receiver

SLACK_PATH = "/services/T9/B9/RecordWindowToken"


def test_each_delivery_of_a_batch_is_logged_when_its_own_receiver_answered() -> None:
    async def scenario(url: str) -> tuple[InMemoryLog, list[float]]:
        harness = make_harness({"receivers": [{"name": "slack", "type": "slack", "url": {"value": url},
                                               "rate_per_s": 2.0, "burst": 1}],
                                "route": {"receiver": "slack"}, "retry": fast_retry(2)})
        clock, log = SystemClock(), InMemoryLog()
        logged_at: list[float] = []

        def on_recorded(_entry: object) -> None:
            logged_at.append(clock.monotonic_s())

        async with http_client(8) as http:
            built = build_pipeline(harness.config, harness.integrations, http, clock, NotifierMetrics(),
                                   NotificationLogView(), log, InMemoryDeadLetters(), list,
                                   lambda episode: "https://n.test/ack", on_recorded)
            alerts = [make_alert(patient=f"MRN0000000{n}") for n in range(3)]
            await built.pipeline.run([Notification(a, action=action_for(a)) for a in alerts])  # ONE batch
        return log, logged_at

    with running_receiver() as rx:
        log, logged_at = asyncio.run(scenario(rx.url(SLACK_PATH)))
        arrivals = [r.at for r in rx.at(SLACK_PATH)]
    assert [e.outcome for e in log.entries] == [DeliveryOutcome.DELIVERED] * 3
    assert arrivals[-1] - arrivals[0] >= 0.9  # the throttle spread the batch over a second
    # every entry logged right after its own message arrived (well before the next one was even sent)
    for arrived, logged in zip(sorted(arrivals), sorted(logged_at), strict=True):
        assert 0 <= logged - arrived < 0.3, "a delivery waited for the rest of its batch before being logged"
