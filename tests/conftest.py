"""Session-wide fixtures: ONE real Kafka broker (KRaft, from the jars) for the whole test run.

Tests never mock Kafka. If the broker cannot be started, every test that
needs it FAILS with the reason and the broker's log tail (never skips).
Package-specific fixtures belong in the sub-folders' conftest.py files.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.broker import LocalBroker, ensure_jars
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import BrokerStartError
from sepsis_alert.kafka.topics import TopicStatus, create_topic, ensure_topics

BROKER_START_TIMEOUT_S = 180.0
"""Generous: the machine is shared and small (2 cores); a cold start normally takes ~3 s."""

TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The session's real broker (fresh data dir, free ports), started once, stopped at the end."""
    try:
        ensure_jars()
    except BrokerStartError as exc:
        pytest.fail(f"cannot get the Kafka jars: {exc}", pytrace=False)
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-session"))
    try:
        broker.start(BROKER_START_TIMEOUT_S)
    except BrokerStartError as exc:
        pytest.fail(f"the test Kafka broker did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: LocalBroker) -> KafkaSettings:
    """KafkaSettings pointed at the session broker (other SEPSIS_KAFKA_* variables still apply)."""
    return KafkaSettings(bootstrap_servers=kafka_broker.bootstrap, client_id="sepsis-alert-tests")


@pytest.fixture(scope="session")
def kafka_topics(kafka_settings: KafkaSettings) -> dict[str, TopicStatus]:
    """All of schemas.topics.ALL_TOPICS exist on the session broker; {name: "created" | "exists"}."""
    return ensure_topics(kafka_settings)


@pytest.fixture
def make_topic(kafka_settings: KafkaSettings, request: pytest.FixtureRequest) -> TopicFactory:
    """Factory for throwaway topics: `make_topic(partitions=6, configs=None) -> name` (created, unique)."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name)[:80].strip("-.") or "test"

    def create(partitions: int = 6, configs: dict[str, str] | None = None) -> str:
        name = f"t.{base}.{uuid.uuid4().hex[:10]}"
        create_topic(kafka_settings, name, partitions, configs)
        return name

    return create


@pytest.fixture
def unique_topic(make_topic: TopicFactory) -> str:
    """A fresh, empty 6-partition topic on the session broker, named after the test."""
    return make_topic()


@pytest.fixture
def own_broker(kafka_broker: LocalBroker, tmp_path: Path) -> Iterator[LocalBroker]:
    """A private broker for one test that stops, kills or restarts it (fault tests must not disturb the
    shared session broker). Depends on kafka_broker only so that the jars are known to be present."""
    broker = LocalBroker(tmp_path / "kafka")
    try:
        broker.start(180)
    except BrokerStartError as exc:
        pytest.fail(f"private test broker did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()
