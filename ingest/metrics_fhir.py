"""Prometheus metrics of the FHIR ingest worker (prometheus-client).

Every metric lives in the registry given to FhirMetrics, so tests and several apps
in one process do not collide; the worker uses the default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import REGISTRY

__all__ = ["FhirMetrics"]

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FhirMetrics:
    """Counters and histograms of the FHIR HTTP endpoint (label values are short fixed vocabularies)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY
        reg = self.registry
        self.requests = Counter("sepsis_fhir_requests_total",
                                "FHIR requests by route, resource type and outcome "
                                "(created, duplicate, accepted, rejected, unavailable, unauthorized, ...)",
                                ["route", "resource_type", "outcome"], registry=reg)
        self.latency = Histogram("sepsis_fhir_request_seconds",
                                 "request handling time in seconds (processing time, body read to response)",
                                 ["route"], buckets=_LATENCY_BUCKETS_S, registry=reg)
        self.events = Counter("sepsis_fhir_events_total", "canonical events produced and acknowledged by Kafka",
                              ["kind"], registry=reg)
        self.skipped = Counter("sepsis_fhir_skipped_total", "FHIR elements deliberately not turned into events",
                               ["reason"], registry=reg)
        self.dead_letters = Counter("sepsis_fhir_dead_letters_total",
                                    "rejected inputs written to the dead-letter topic", ["error_code"], registry=reg)
        self.dead_letter_failures = Counter("sepsis_fhir_dead_letter_failures_total",
                                            "dead letters that could not be written (Kafka unavailable)",
                                            registry=reg)
        self.notifications = Counter("sepsis_fhir_notifications_total",
                                     "Subscription notifications by form (r4-backport, r4b, r5) and type "
                                     "(handshake, heartbeat, event-notification, ...)",
                                     ["form", "kind"], registry=reg)
        self.id_only_fetches = Counter("sepsis_fhir_id_only_fetches_total",
                                       "resources read from the EHR for id-only notifications, by outcome "
                                       "(ok, gone, unavailable, rejected)", ["outcome"], registry=reg)
