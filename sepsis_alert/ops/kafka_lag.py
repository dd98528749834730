"""Consumer lag per partition, one metric name for every consuming worker.

kafka-python's KafkaConsumer is not thread-safe, so the scrape thread must not
touch it. Instead the worker's own poll loop calls `update(consumer)` after every poll;
it reads the consumer at most once per `min_interval_s` (1 s) and returns the figures of
that read in between. Reading makes no network call, but kafka-python's `position()` is
not free: read after every poll it took 11 % of the detector's CPU under
benchmarks.bench_load, for gauges Prometheus scrapes every 15 s or so.

    lag = ConsumerLag("detector")           # once; registers on the default registry
    ...
    records = consumer.poll(timeout_ms=500)
    lag.update(consumer)

Exported:
- `sepsis_kafka_consumer_lag_records{group,topic,partition}`: high-water mark minus
  position (records not yet consumed) for each assigned partition;
- `sepsis_kafka_consumer_assigned_partitions{group}`: how many partitions this process holds;
- `sepsis_kafka_consumer_lag_updated_timestamp_seconds{group}`: when `update` last ran
  (a stuck poll loop shows up as this timestamp going stale).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = ["ConsumerLag", "lag_by_partition"]

TopicPartitionKey = tuple[str, int]

log = logging.getLogger(__name__)


def lag_by_partition(positions: Mapping[TopicPartitionKey, int | None],
                     highwaters: Mapping[TopicPartitionKey, int | None]) -> dict[TopicPartitionKey, int]:
    """Records behind per (topic, partition): high-water mark minus position, never negative.

    Partitions whose position or high-water mark is not known yet (nothing fetched) are left out
    rather than reported as 0, so "no data" is not mistaken for "caught up".
    """
    lags: dict[TopicPartitionKey, int] = {}
    for key, position in positions.items():
        highwater = highwaters.get(key)
        if position is not None and highwater is not None:
            lags[key] = max(0, highwater - position)
    return lags


class ConsumerLag:
    """Lag gauges of one consumer group in this process (see the module docstring)."""

    def __init__(self, group: str, registry: CollectorRegistry | None = REGISTRY,
                 clock: Callable[[], float] = time.time, *, min_interval_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`registry=None` registers nothing (tests); `clock` gives Unix seconds (processing time);
        `min_interval_s`: the consumer is read at most this often (0: on every `update`)."""
        self.group = group
        self._clock = clock
        self._monotonic = monotonic
        self._min_interval_s = min_interval_s
        self._read_at: float | None = None
        self._last: dict[TopicPartitionKey, int] = {}
        self._lock = threading.Lock()
        self._lags: dict[TopicPartitionKey, int] = {}
        self._assigned = 0
        self._updated_at: float | None = None
        self.failures = 0
        """How many `update` calls could not read the consumer (e.g. broker unreachable)."""
        if registry is not None:
            registry.register(self)

    def set(self, lags: Mapping[TopicPartitionKey, int], assigned: int) -> None:
        """Replace the exported figures (use `update` with a real consumer)."""
        with self._lock:
            self._lags = dict(lags)
            self._assigned = assigned
            self._updated_at = self._clock()

    def update(self, consumer: Any) -> dict[TopicPartitionKey, int]:
        """Read positions and high-water marks from a kafka-python KafkaConsumer (call from its own thread).

        Returns the lag per (topic, partition). Makes no network request in the normal case:
        `highwater()` is what the last fetch response reported and positions of assigned partitions
        are local state. Never raises: metrics must not stop a worker. When the consumer cannot
        answer (e.g. `position()` needs the broker during an outage and raises
        KafkaConnectionError), the previous figures stay exported, the update timestamp does not
        move (so the outage shows as a stale timestamp) and {} is returned.
        Within `min_interval_s` of the previous read, returns what that read returned.
        """
        now = self._monotonic()
        try:
            assignment = list(consumer.assignment())
        except Exception as exc:  # KafkaError, ...: keep the old figures
            return self._failed(exc)
        # Read again at once while the last read was incomplete (the assignment changed, or a partition's
        # high-water mark was not known yet): the figures must not stay empty for an interval after a start.
        complete = len(assignment) == self._assigned and len(self._last) == len(assignment)
        if complete and self._read_at is not None and now - self._read_at < self._min_interval_s:
            return dict(self._last)
        self._read_at = now
        self._last = {}
        try:
            positions: dict[TopicPartitionKey, int | None] = {}
            highwaters: dict[TopicPartitionKey, int | None] = {}
            for tp in assignment:
                key = (tp.topic, tp.partition)
                highwaters[key] = consumer.highwater(tp)
                # position() may block on a network lookup when the position is unknown; only ask
                # once a fetch has happened (highwater known), when the position is known too.
                # timeout_ms=0: a lookup that is needed anyway must not hold up the poll loop.
                positions[key] = consumer.position(tp, timeout_ms=0) if highwaters[key] is not None else None
        except Exception as exc:  # KafkaError, AssertionError on a revoked partition, ...: keep the old figures
            return self._failed(exc)
        lags = lag_by_partition(positions, highwaters)
        self.set(lags, len(assignment))
        self._last = lags
        return dict(lags)

    def _failed(self, exc: Exception) -> dict[TopicPartitionKey, int]:
        """Count and (now and then) log a read the consumer could not answer; the old figures stay exported."""
        self._last = {}
        self.failures += 1
        if self.failures == 1 or self.failures % 100 == 0:
            log.warning("consumer lag of group %s not updated (%s; %d times so far)", self.group,
                        type(exc).__name__, self.failures)
        return {}

    def total(self) -> int:
        """Sum of the lag over all assigned partitions."""
        with self._lock:
            return sum(self._lags.values())

    # prometheus_client collector protocol
    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily("sepsis_kafka_consumer_lag_records", "", labels=["group", "topic", "partition"]),
            GaugeMetricFamily("sepsis_kafka_consumer_assigned_partitions", "", labels=["group"]),
            GaugeMetricFamily("sepsis_kafka_consumer_lag_updated_timestamp_seconds", "", labels=["group"]),
        ]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            lags, assigned, updated_at = dict(self._lags), self._assigned, self._updated_at
        lag = GaugeMetricFamily("sepsis_kafka_consumer_lag_records",
                                "records not yet consumed (high-water mark minus position) per assigned partition",
                                labels=["group", "topic", "partition"])
        for (topic, partition), records in sorted(lags.items()):
            lag.add_metric([self.group, topic, str(partition)], float(records))
        yield lag
        count = GaugeMetricFamily("sepsis_kafka_consumer_assigned_partitions",
                                  "partitions currently assigned to this process", labels=["group"])
        count.add_metric([self.group], float(assigned))
        yield count
        if updated_at is not None:
            stamp = GaugeMetricFamily("sepsis_kafka_consumer_lag_updated_timestamp_seconds",
                                      "Unix time when the poll loop last refreshed the lag figures", labels=["group"])
            stamp.add_metric([self.group], updated_at)
            yield stamp
