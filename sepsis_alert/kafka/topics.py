"""Create and inspect the service's topics (schemas.topics.ALL_TOPICS) on a real cluster.

`ensure_topics` is idempotent and safe to run at every deployment: it creates
missing topics with their partition count and configs, and re-applies the
declared configs to existing topics. Everything reported here is read back
from the broker, never from the local declaration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import ALL_TOPICS, TopicSpec
from sepsis_alert.kafka.clients import closed_on_failure
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaUnavailableError, TopicConfigError, TopicNotFoundError

__all__ = [
    "TopicStatus",
    "admin_client",
    "close_admin_client",
    "create_topic",
    "describe_topic_configs",
    "ensure_topics",
    "list_topics",
    "list_topics_with",
    "open_admin_client",
    "topic_partitions",
]

log = logging.getLogger(__name__)

TopicStatus = Literal["created", "exists"]


def open_admin_client(settings: KafkaSettings) -> KafkaAdminClient:
    """A connected KafkaAdminClient; the caller closes it (`close_admin_client`).

    Raises KafkaUnavailableError if no broker answers within
    `settings.bootstrap_timeout_ms` milliseconds.
    """
    try:
        with closed_on_failure() as kafka_client:
            return KafkaAdminClient(**settings.client_kwargs(), kafka_client=kafka_client)
    except (KafkaError, OSError) as exc:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {settings.bootstrap_servers} "
            f"(waited {settings.bootstrap_timeout_ms} ms): {exc}") from exc


def close_admin_client(admin: KafkaAdminClient) -> None:
    """Close `admin`, never raising: closing must never hide the real outcome."""
    try:
        admin.close()
    except Exception:
        log.debug("closing the admin client failed", exc_info=True)


@contextmanager
def admin_client(settings: KafkaSettings) -> Iterator[KafkaAdminClient]:
    """A connected KafkaAdminClient (`open_admin_client`), closed on exit."""
    admin = open_admin_client(settings)
    try:
        yield admin
    finally:
        close_admin_client(admin)


def _partition_counts(admin: KafkaAdminClient, names: Sequence[str] | None = None) -> dict[str, int]:
    """{topic: partition count} for existing topics (all non-internal topics if `names` is None)."""
    topics = admin.describe_topics(list(names) if names is not None else None)
    counts: dict[str, int] = {}
    for topic in topics:
        if topic.get("error_code", 0) == 0 and not topic.get("is_internal", False):
            counts[topic["name"]] = len(topic.get("partitions", []))
    return counts


def _topic_configs(admin: KafkaAdminClient, name: str) -> dict[str, str]:
    result: dict[str, Any] = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
    entries = result.get("topic", {}).get(name, {})
    return {key: str(entry["value"]) for key, entry in entries.items() if entry.get("value") is not None}


def _create(admin: KafkaAdminClient, specs: Sequence[TopicSpec], timeout_ms: int) -> dict[str, TopicStatus]:
    request = {spec.name: {"num_partitions": spec.partitions, "replication_factor": -1,
                           "configs": dict(spec.configs)} for spec in specs}
    response = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
    statuses: dict[str, TopicStatus] = {}
    for topic in response["topics"]:
        code = topic.get("error_code", 0)
        if code == 0:
            statuses[topic["name"]] = "created"
        elif code == TopicAlreadyExistsError.errno:  # created concurrently by someone else
            statuses[topic["name"]] = "exists"
        else:
            raise TopicConfigError(f"creating topic {topic['name']!r} failed: error {code} "
                                   f"{topic.get('error_message') or ''}".rstrip())
    return statuses


def _align(admin: KafkaAdminClient, spec: TopicSpec, partitions: int, deadline: float) -> None:
    """Check the partition count of an existing topic and re-apply its declared configs.

    Waits (until the monotonic `deadline`) for the broker to report the new
    values: the change is committed to the metadata log before the reply, but
    the broker's own view catches up a moment later.
    """
    if partitions != spec.partitions:
        raise TopicConfigError(
            f"topic {spec.name!r} has {partitions} partitions but {spec.partitions} are declared; "
            f"changing the count would move patients to other partitions: recreate the topic deliberately")
    current = _topic_configs(admin, spec.name)
    changes = {key: value for key, value in spec.configs.items() if current.get(key) != value}
    if not changes:
        return
    log.info("topic %s: updating configs %s", spec.name, changes)
    result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, dict(changes))])
    outcome = result.get("topic", {}).get(spec.name, "OK")
    if outcome != "OK":
        raise TopicConfigError(f"updating configs of topic {spec.name!r} failed: {outcome}")
    while True:
        current = _topic_configs(admin, spec.name)
        if all(current.get(key) == value for key, value in spec.configs.items()):
            return
        if time.monotonic() > deadline:
            raise TopicConfigError(f"topic {spec.name!r}: broker still reports {current} after the update")
        time.sleep(0.1)


def ensure_topics(settings: KafkaSettings, specs: Sequence[TopicSpec] = ALL_TOPICS,
                  timeout_s: float = 30.0) -> dict[str, TopicStatus]:
    """Create the missing topics and align the existing ones; {name: "created" | "exists"} in spec order.

    Missing topics get the declared partition count, the broker's default
    replication factor and the declared configs. Existing topics get their
    declared configs re-applied (other overrides are left alone); a partition
    count that differs from the declaration raises TopicConfigError (changing
    it would break key -> partition co-partitioning). Returns only once every
    topic has a leader for every partition, waiting up to `timeout_s` seconds.
    """
    timeout_ms = int(timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    with admin_client(settings) as admin:
        try:
            existing = _partition_counts(admin)
            missing = [spec for spec in specs if spec.name not in existing]
            statuses: dict[str, TopicStatus] = {}
            if missing:
                statuses.update(_create(admin, missing, timeout_ms))
                admin.wait_for_topics([spec.name for spec in missing], timeout_ms=timeout_ms)
            existing = _partition_counts(admin, [spec.name for spec in specs])
            for spec in specs:
                if statuses.get(spec.name) != "created":
                    statuses[spec.name] = "exists"
                    _align(admin, spec, existing.get(spec.name, spec.partitions), deadline)
        except KafkaError as exc:
            raise KafkaUnavailableError(f"ensuring topics on {settings.bootstrap_servers} failed: {exc}") from exc
    return {spec.name: statuses[spec.name] for spec in specs}


def create_topic(settings: KafkaSettings, name: str, partitions: int = 6,
                 configs: dict[str, str] | None = None, timeout_s: float = 30.0) -> TopicStatus:
    """Create one topic (e.g. a throwaway test topic) unless it exists; waits up to `timeout_s` seconds."""
    return ensure_topics(settings, [TopicSpec(name, partitions, dict(configs or {}))], timeout_s)[name]


def describe_topic_configs(settings: KafkaSettings, name: str, *, only_overrides: bool = False) -> dict[str, str]:
    """The topic's effective configs as the broker reports them ({key: value}, values as strings).

    With `only_overrides=True`, only the topic-level overrides are returned.
    Raises TopicNotFoundError if the topic does not exist.
    """
    with admin_client(settings) as admin:
        try:
            if name not in _partition_counts(admin, [name]):
                raise TopicNotFoundError(f"topic {name!r} does not exist on {settings.bootstrap_servers}")
            if not only_overrides:
                return _topic_configs(admin, name)
            result: dict[str, Any] = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="modified")
            entries = result.get("topic", {}).get(name, {})
            return {key: str(entry["value"]) for key, entry in entries.items()
                    if entry.get("value") is not None and entry.get("config_source") == "DYNAMIC_TOPIC_CONFIG"}
        except KafkaError as exc:
            raise KafkaUnavailableError(f"describing topic {name!r} failed: {exc}") from exc


def list_topics(settings: KafkaSettings) -> dict[str, int]:
    """{name: partition count} of every non-internal topic on the cluster, sorted by name."""
    with admin_client(settings) as admin:
        return list_topics_with(admin)


def list_topics_with(admin: KafkaAdminClient) -> dict[str, int]:
    """`list_topics` through an admin client the caller keeps open (one metadata request, no new connection)."""
    try:
        return dict(sorted(_partition_counts(admin).items()))
    except KafkaError as exc:
        raise KafkaUnavailableError(f"listing topics failed: {exc}") from exc


def topic_partitions(settings: KafkaSettings, name: str) -> int:
    """Partition count of one topic as the broker reports it; TopicNotFoundError if it does not exist."""
    with admin_client(settings) as admin:
        try:
            counts = _partition_counts(admin, [name])
        except KafkaError as exc:
            raise KafkaUnavailableError(f"describing topic {name!r} failed: {exc}") from exc
    if name not in counts:
        raise TopicNotFoundError(f"topic {name!r} does not exist on {settings.bootstrap_servers}")
    return counts[name]
