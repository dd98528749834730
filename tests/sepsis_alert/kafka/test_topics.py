"""ensure_topics against the real broker; every check reads back FROM the broker."""

from __future__ import annotations

import pytest

from schemas.topics import ALL_TOPICS, Topics, TopicSpec
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import TopicConfigError, TopicNotFoundError
from sepsis_alert.kafka.topics import (
    describe_topic_configs,
    ensure_topics,
    list_topics,
    topic_partitions,
)

pytestmark = pytest.mark.integration


def test_ensure_topics_is_idempotent_and_detector_state_is_compacted(
        kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> None:
    assert list(kafka_topics) == [spec.name for spec in ALL_TOPICS]
    assert set(kafka_topics.values()) <= {"created", "exists"}

    again = ensure_topics(kafka_settings)
    assert again == {spec.name: "exists" for spec in ALL_TOPICS}

    on_broker = list_topics(kafka_settings)
    for spec in ALL_TOPICS:
        assert on_broker[spec.name] == spec.partitions
    configs = describe_topic_configs(kafka_settings, Topics.DETECTOR_STATE)
    assert configs["cleanup.policy"] == "compact"
    assert configs["min.cleanable.dirty.ratio"] == "0.1"
    assert describe_topic_configs(kafka_settings, Topics.OBSERVATIONS)["cleanup.policy"] == "delete"
    assert topic_partitions(kafka_settings, Topics.SILENCES) == 1


def test_ensure_topics_repairs_config_drift(kafka_settings: KafkaSettings, make_topic: object) -> None:
    name = make_topic(configs={"cleanup.policy": "delete", "retention.ms": "1000000"})  # type: ignore[operator]
    spec = TopicSpec(name, configs={"cleanup.policy": "compact", "segment.ms": "3600000"})
    assert ensure_topics(kafka_settings, [spec]) == {name: "exists"}
    overrides = describe_topic_configs(kafka_settings, name, only_overrides=True)
    assert overrides["cleanup.policy"] == "compact"
    assert overrides["segment.ms"] == "3600000"
    assert overrides["retention.ms"] == "1000000"  # undeclared overrides are left alone


def test_partition_count_mismatch_is_an_error(kafka_settings: KafkaSettings, make_topic: object) -> None:
    name = make_topic(partitions=2)  # type: ignore[operator]
    with pytest.raises(TopicConfigError, match="2 partitions but 6"):
        ensure_topics(kafka_settings, [TopicSpec(name, partitions=6)])


def test_describe_missing_topic(kafka_settings: KafkaSettings) -> None:
    with pytest.raises(TopicNotFoundError):
        describe_topic_configs(kafka_settings, "no.such.topic")
