"""Prometheus metrics of the HL7 v2 worker (one registry per worker, so tests can build several).

    sepsis_hl7_messages_total{message_type, outcome}      accepted | duplicate | rejected | ignored | unavailable
    sepsis_hl7_ack_latency_seconds{ack_code}              frame received -> ACK ready (includes the Kafka write)
    sepsis_hl7_dead_letters_total{error_code}
    sepsis_hl7_skipped_total{reason}                       OBX / orders skipped (unknown_code, censored_value, ...)
    sepsis_hl7_events_total{kind}                          canonical events produced
    sepsis_hl7_mllp_connections                            open connections
    sepsis_hl7_mllp_frame_errors_total{reason}             frame_too_large, idle_timeout, incomplete_frame, ...
    sepsis_hl7_last_message_age_seconds{sender}            seconds since the sender's last message (at scrape)

`sender` is MSH-3|MSH-4, capped at MAX_SENDERS label values so a misconfigured
feed cannot explode the series count. Times are processing time (time.time()).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["MAX_SENDERS", "Hl7Metrics"]

MAX_SENDERS = 200
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _SenderAge(Collector):
    def __init__(self) -> None:
        self.last_seen: dict[str, float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("sepsis_hl7_last_message_age_seconds",
                                   "Seconds since the last message from each sender (MSH-3|MSH-4)",
                                   labels=["sender"])
        now = time.time()
        for sender, seen in sorted(self.last_seen.items()):
            family.add_metric([sender], max(0.0, now - seen))
        yield family


class Hl7Metrics:
    """The worker's counters and histograms, registered on `registry` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("sepsis_hl7_messages_total", "HL7 v2 messages by type and outcome",
                                ["message_type", "outcome"], registry=r)
        self.ack_latency = Histogram("sepsis_hl7_ack_latency_seconds",
                                     "Frame received to ACK ready, including the durable Kafka write",
                                     ["ack_code"], buckets=_LATENCY_BUCKETS_S, registry=r)
        self.dead_letters = Counter("sepsis_hl7_dead_letters_total", "Rejected messages written to the "
                                    "dead-letter topic", ["error_code"], registry=r)
        self.skipped = Counter("sepsis_hl7_skipped_total", "Parts of accepted messages not turned into events",
                               ["reason"], registry=r)
        self.events = Counter("sepsis_hl7_events_total", "Canonical events produced", ["kind"], registry=r)
        self.connections = Gauge("sepsis_hl7_mllp_connections", "Open MLLP connections", registry=r)
        self.frame_errors = Counter("sepsis_hl7_mllp_frame_errors_total", "MLLP connections closed for a reason",
                                    ["reason"], registry=r)
        self._ages = _SenderAge()
        r.register(self._ages)

    def message(self, message_type: str, outcome: str) -> None:
        self.messages.labels(message_type=message_type[:16] or "unknown", outcome=outcome).inc()

    def seen_sender(self, sender: str, now_s: float | None = None) -> None:
        """Record a message from `sender` at `now_s` (Unix seconds; default now)."""
        ages = self._ages.last_seen
        if sender not in ages and len(ages) >= MAX_SENDERS:
            sender = "other"
        ages[sender[:128]] = time.time() if now_s is None else now_s

    def connection(self, delta: int) -> None:
        self.connections.inc(delta)

    def frame_error(self, reason: str) -> None:
        self.frame_errors.labels(reason=reason).inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics on host:port (a background thread)."""
        start_http_server(port, addr=host, registry=self.registry)
