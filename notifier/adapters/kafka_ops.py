"""What the console's ops pages read from Kafka, on one background thread (adapter for notifier.console.ops).

* Feeds and dead letters: a group-less consumer (no offsets committed, invisible to the workers' groups) tails
  the raw-input topics and the dead-letter topic from `lookback_s` back. A raw record's headers (source,
  sender: ingest.adapters.kafka_sink) name its feed and its timestamp says when it arrived; its body is never
  decoded. A dead letter's JSON is parsed for its metadata only (notifier.console.ops.DeadLetterMeta).
* Consumer lag: every `refresh_s`, the admin client lists the consumer groups and their committed offsets, and
  the consumer gives the end offsets of those topics. Each call is bounded by the Kafka client's
  `request_timeout_ms`; a failure marks the book "unreachable since" and the thread tries again later.

The pages only copy the book (`OpsBook.snapshot`), so a hung or absent broker never holds a page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from notifier.console.ops import DeadLetterMeta, OpsBook, PartitionKey
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import assign_all, make_consumer
from sepsis_alert.kafka.topics import open_admin_client

__all__ = ["KafkaOpsMonitor"]

log = logging.getLogger("notifier.console.ops")

FEED_FETCH_MIN_BYTES = 256 * 1024
FEED_FETCH_WAIT_MS = 1000


def _header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str:
    for key, value in headers or ():
        if key == name and value:
            return value.decode("utf-8", "replace")[:64]
    return ""


class KafkaOpsMonitor:
    """Fills an OpsBook from Kafka until `stop()` (see the module docstring)."""

    def __init__(self, kafka: KafkaSettings, book: OpsBook, *, feed_topics: Sequence[str], dead_letter_topic: str,
                 lookback_s: float, refresh_s: float, clock: Callable[[], float] = time.time) -> None:
        self._kafka = kafka
        self.book = book
        self._feed_topics = list(dict.fromkeys(feed_topics))
        self._dead_letter_topic = dead_letter_topic
        self._lookback_s = lookback_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._stop = threading.Event()
        self._next_offsets: dict[TopicPartition, int] = {}
        self._thread = threading.Thread(target=self._run, name="console-ops", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to close its clients and end (within about one poll or one bounded Kafka call)."""
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        consumer: KafkaConsumer | None = None
        admin: KafkaAdminClient | None = None
        next_lag = 0.0
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._tail_consumer()  # again after an outage, or to look for missing topics
                if admin is None:
                    admin = open_admin_client(self._kafka)  # no network thread left behind when down
                if consumer.assignment():
                    for records in consumer.poll(timeout_ms=500, max_records=500).values():
                        for record in records:
                            self._take(record)
                else:
                    self._stop.wait(0.5)
                if self._clock() >= next_lag:
                    self._read_lag(admin, consumer)
                    next_lag = self._clock() + self._refresh_s
                    missing = self.book.snapshot().missing_topics
                    # A new consumer only once a missing topic exists: rebuilding on every refresh while one is
                    # missing dropped each fetch the broker was still holding (FEED_FETCH_WAIT_MS), so nothing
                    # was read on a loaded host (the CI run on 63b939b).
                    if missing and set(missing) & set(consumer.topics()):
                        _close(consumer)
                        consumer = None
            except Exception as exc:  # an outage, a topic deleted under us, ...: report it and try again later
                if self.book.snapshot().unreachable_since_s is None:  # once per outage, not once per retry
                    log.warning("console ops: Kafka not readable (%s); retrying every %.0f s", type(exc).__name__,
                                self._refresh_s)
                self.book.on_unreachable(self._clock(), f"{type(exc).__name__}: {str(exc)[:200]}")
                _close(consumer)
                _close(admin)
                consumer, admin = None, None
                next_lag = 0.0
                self._stop.wait(self._refresh_s)
        _close(consumer)
        _close(admin)

    def _tail_consumer(self) -> KafkaConsumer:
        # The raw topics carry every input message, and the feeds page needs them to the second, not to the
        # millisecond: the broker answers a fetch once it holds FEED_FETCH_MIN_BYTES or after FEED_FETCH_WAIT_MS,
        # instead of once per message. Measured under benchmarks.bench_load (2,000 obs/s): tailing them fetch by
        # fetch took 0.2 of a core in the notifier, half of its CPU, beside the alerts it pages.
        consumer = make_consumer(self._kafka, None, enable_auto_commit=False, fetch_min_bytes=FEED_FETCH_MIN_BYTES,
                                 fetch_max_wait_ms=FEED_FETCH_WAIT_MS)
        wanted = [*self._feed_topics, self._dead_letter_topic]
        existing = consumer.topics()
        missing = [t for t in wanted if t not in existing]
        self.book.on_missing_topics(missing)
        if len(missing) < len(wanted):
            assign_all(consumer, [t for t in wanted if t in existing],
                       timeout_s=self._kafka.request_timeout_ms / 1000)
        start_s = self._clock() - self._lookback_s
        partitions = list(consumer.assignment())
        starts = consumer.offsets_for_times({tp: int(start_s * 1000) for tp in partitions})
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            found = starts.get(tp)
            # Where a previous consumer stopped (an outage, a topic that appeared), so nothing counts twice.
            consumer.seek(tp, self._next_offsets.get(tp, found.offset if found is not None else ends[tp]))
        self.book.on_tail_start(start_s)
        return consumer

    def _take(self, record: Any) -> None:
        self._next_offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        at_s = record.timestamp / 1000 if record.timestamp and record.timestamp > 0 else self._clock()
        if record.topic == self._dead_letter_topic:
            self.book.on_dead_letter(DeadLetterMeta.from_json(record.value, at_s))
        else:
            headers = record.headers
            self.book.on_raw((record.topic, _header(headers, "source") or "unknown",
                              _header(headers, "sender") or "unknown"), at_s)

    def _read_lag(self, admin: KafkaAdminClient, consumer: KafkaConsumer) -> None:
        groups = sorted(str(g["group_id"] if isinstance(g, dict) else g[0]) for g in admin.list_groups())
        committed: dict[str, dict[PartitionKey, int]] = {}
        if groups:
            for group, offsets in admin.list_group_offsets({g: None for g in groups}).items():
                committed[str(group)] = {(tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items()}
        partitions = sorted({TopicPartition(t, p) for o in committed.values() for (t, p) in o})
        ends = consumer.end_offsets(partitions) if partitions else {}
        self.book.on_lag(committed, {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}, self._clock())


def _close(client: Any) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # closing must never stop the retry loop
            log.debug("closing a console ops client failed", exc_info=True)
