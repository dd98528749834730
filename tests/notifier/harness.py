"""A notify pipeline wired to in-memory sinks and real HTTP receivers (no Kafka), for delivery tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from notifier.clock import SystemClock
from notifier.config import NotifierConfig, parse_config
from notifier.core.dedup import NotificationLogView
from notifier.core.links import ack_url
from notifier.core.model import Notification, action_for
from notifier.core.silence import Silence
from notifier.integrations.base import Integration, http_client
from notifier.logsafe import register_secrets
from notifier.metrics import NotifierMetrics
from notifier.ports import InMemoryDeadLetters, InMemoryLog
from notifier.wiring import build_pipeline
from schemas.alert import Alert

LINK_SECRET = b"test-link-secret-abcdef"


@dataclass
class Harness:
    config: NotifierConfig
    integrations: dict[str, Integration]
    metrics: NotifierMetrics = field(default_factory=NotifierMetrics)
    log_view: NotificationLogView = field(default_factory=NotificationLogView)
    log: InMemoryLog = field(default_factory=InMemoryLog)
    dead_letters: InMemoryDeadLetters = field(default_factory=InMemoryDeadLetters)
    silences: list[Silence] = field(default_factory=list)

    async def send(self, *alerts: Alert, concurrently: bool = False, background_s: float = 10.0,
                   ) -> list[Notification]:
        """Run the alerts through one pipeline instance, in order (or all at once); then wait up to
        `background_s` for background retries to end (the rest are cancelled)."""
        clock = SystemClock()
        async with http_client(64) as http:
            built = build_pipeline(
                self.config, self.integrations, http, clock, self.metrics, self.log_view, self.log,
                self.dead_letters, lambda: self.silences,
                lambda episode: ack_url("https://notifier.test", LINK_SECRET, episode, int(clock.now_s()) + 3600))
            out: list[Notification] = []
            try:
                if concurrently:
                    batches = await asyncio.gather(*(built.pipeline.run(
                        [Notification(a, action=action_for(a), received_at_s=clock.now_s())]) for a in alerts))
                    return [n for batch in batches for n in batch]
                for alert in alerts:
                    out.extend(await built.pipeline.run([Notification(alert, action=action_for(alert),
                                                                      received_at_s=clock.now_s())]))
                return out
            finally:
                await built.redelivery.wait_idle(background_s)
                await built.redelivery.close()

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def make_harness(doc: dict[str, Any]) -> Harness:
    config = parse_config(doc)
    integrations: dict[str, Integration] = {r.name: r.build() for r in config.receivers}
    register_secrets(s for i in integrations.values() for s in i.secrets())
    return Harness(config, integrations)


def fast_retry(max_attempts: int = 3, deadline_s: float = 0.0) -> dict[str, float]:
    """Quick attempts only (`deadline_s` 0: dead-lettered when they fail), or background retries too."""
    return {"max_attempts": max_attempts, "base_delay_s": 0.01, "factor": 2.0, "max_delay_s": 0.05,
            "deadline_s": deadline_s}
