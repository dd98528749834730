"""Start real NotifierApp replicas against the session broker and loopback receivers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from devstack.broker import free_port
from notifier.adapters.kafka_state import NotifierTopics
from notifier.app import NotifierApp
from notifier.config import NotifierSettings, parse_config
from schemas.alert import Alert
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer

API_TOKEN = "test-api-token-0123456789"
LINK_SECRET = "test-link-secret-0123456789"
PD_WEBHOOK_SECRET = "pd-webhook-secret-0123456789"
COMPACTED = {"cleanup.policy": "compact"}


def make_topics(make_topic: Callable[..., str]) -> NotifierTopics:
    return NotifierTopics(alerts=make_topic(6), notification_log=make_topic(6, COMPACTED),
                          acks=make_topic(6, COMPACTED), silences=make_topic(1, COMPACTED), dead_letter=make_topic(1))


def make_app(kafka: KafkaSettings, topics: NotifierTopics, doc: dict[str, Any], group: str | None = None,
             api_port: int | None = None, worker_id: str = "notifier-test",
             topics_in_settings: bool = False) -> NotifierApp:
    """A replica on `topics`: passed to NotifierApp, or (`topics_in_settings`) as SEPSIS_NOTIFIER_TOPIC_* settings."""
    port = api_port or free_port()
    topic_settings = ({"topic_alerts": topics.alerts, "topic_notification_log": topics.notification_log,
                       "topic_acks": topics.acks, "topic_silences": topics.silences,
                       "topic_dead_letter": topics.dead_letter} if topics_in_settings else {})
    settings = NotifierSettings(
        consumer_group=group or f"notifier-{uuid.uuid4().hex[:8]}", api_port=port,
        public_base_url=f"http://127.0.0.1:{port}", link_secret=SecretStr(LINK_SECRET),
        api_token=SecretStr(API_TOKEN), pagerduty_webhook_secret=SecretStr(PD_WEBHOOK_SECRET), poll_timeout_ms=50,
        **topic_settings)
    return NotifierApp(settings, parse_config(doc), kafka, worker_id=worker_id,
                       topics=None if topics_in_settings else topics)


def produce(kafka: KafkaSettings, topic: str, *alerts: Alert, raw: bytes | None = None) -> None:
    with EventProducer(kafka) as producer:
        for alert in alerts:
            producer.send_event(topic, alert)
        if raw is not None:
            producer.send(topic, "bad-key", raw)
        producer.flush(30)


async def eventually(predicate: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll `predicate` until true (bounded); fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)
