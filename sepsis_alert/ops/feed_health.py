"""Per-feed "last message" metrics: a feed that goes quiet is the most common real incident.

An interface engine stops forwarding, a VPN drops, a FHIR subscription expires:
nothing errors, messages just stop. Each ingest worker records every accepted
message per feed, and Prometheus alerts when the age grows (deploy/prometheus/alerts.yml,
`SepsisFeedSilent`):

    feeds = FeedActivity()                       # once per process, registered on REGISTRY
    feeds.expect("hl7v2", "LAB1")                # optional: feeds configured at start-up
    feeds.record("hl7v2", "LAB1")                # on every accepted message

Exported at scrape time (processing time, seconds):
- `sepsis_ingest_feed_last_message_timestamp_seconds{source,feed}`: when the last message arrived
  (Unix time; for PromQL `time() - ...`, robust to the scrape being late);
- `sepsis_ingest_feed_last_message_age_seconds{source,feed}`: seconds since then, computed at
  scrape time so a dashboard needs no arithmetic.
A feed declared with `expect()` that has sent nothing yet counts from the time it was declared,
so a feed that never connects after a restart also alerts.

`feed` should be a bounded, non-identifying label: the sending facility / application
(HL7 MSH-4 / MSH-3) or the FHIR client id, never a patient or message identifier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = ["FeedActivity", "feed_ages"]

_MAX_FEEDS = 500  # label cardinality guard: a misconfigured sender id must not explode the series count
_OVERFLOW_FEED = "other"


def feed_ages(last_seen_s: dict[tuple[str, str], float], now_s: float) -> dict[tuple[str, str], float]:
    """Age in seconds of each feed's last message at processing time `now_s` (never negative)."""
    return {key: max(0.0, now_s - seen) for key, seen in last_seen_s.items()}


class FeedActivity:
    """Thread-safe record of the last message time per (source, feed), exported as two gauges."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock` gives processing time in Unix seconds. `registry=None` registers nothing (tests)."""
        self._clock = clock
        self._lock = threading.Lock()
        self._last_seen: dict[tuple[str, str], float] = {}
        if registry is not None:
            registry.register(self)

    def expect(self, source: str, feed: str) -> None:
        """Declare a feed that should be sending; until it does, its age counts from now."""
        with self._lock:
            self._last_seen.setdefault(self._key(source, feed), self._clock())

    def record(self, source: str, feed: str, at_s: float | None = None) -> None:
        """A message from this feed was accepted at processing time `at_s` (default: now)."""
        seen = self._clock() if at_s is None else at_s
        with self._lock:
            key = self._key(source, feed)
            if seen > self._last_seen.get(key, float("-inf")):
                self._last_seen[key] = seen

    def ages(self) -> dict[tuple[str, str], float]:
        """Current age in seconds of every known feed."""
        with self._lock:
            snapshot = dict(self._last_seen)
        return feed_ages(snapshot, self._clock())

    def _key(self, source: str, feed: str) -> tuple[str, str]:
        key = (source, feed or "unknown")
        if key not in self._last_seen and len(self._last_seen) >= _MAX_FEEDS:
            return (source, _OVERFLOW_FEED)
        return key

    # prometheus_client collector protocol
    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily("sepsis_ingest_feed_last_message_timestamp_seconds", "", labels=["source", "feed"]),
            GaugeMetricFamily("sepsis_ingest_feed_last_message_age_seconds", "", labels=["source", "feed"]),
        ]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = dict(self._last_seen)
        now = self._clock()
        stamp = GaugeMetricFamily("sepsis_ingest_feed_last_message_timestamp_seconds",
                                  "Unix time (processing time) of the last accepted message of this feed",
                                  labels=["source", "feed"])
        age = GaugeMetricFamily("sepsis_ingest_feed_last_message_age_seconds",
                                "seconds since the last accepted message of this feed (at scrape time)",
                                labels=["source", "feed"])
        for (source, feed), seen in sorted(snapshot.items()):
            stamp.add_metric([source, feed], seen)
            age.add_metric([source, feed], max(0.0, now - seen))
        yield stamp
        yield age
