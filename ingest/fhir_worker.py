"""Wiring of the FHIR ingest worker (`sepsis-alert ingest-fhir`): Kafka producer, HTTP endpoint, ops server.

Its settings and bearer tokens are in ingest/config_fhir.py (re-exported here for callers).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn

from ingest.adapters.dedup import load_fhir_keys
from ingest.adapters.fhir_fetch import ResourceFetcher
from ingest.adapters.fhir_http import create_app, uvicorn_config
from ingest.adapters.fhir_sink import KafkaFhirSink
from ingest.adapters.kafka_sink import ingest_producer_settings
from ingest.config import IngestSettings
from ingest.config_fhir import FhirWorkerSettings, TokenTable, load_tokens
from ingest.metrics_fhir import FhirMetrics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.ops.heap import settle_heap
from sepsis_alert.ops.http import start_ops_server_from_settings
from sepsis_alert.ops.kafka_probe import KafkaProbe
from sepsis_alert.ops.readiness import ReadinessRegistry
from sepsis_alert.ops.redaction import Redactor
from sepsis_alert.ops.settings import OpsSettings

__all__ = ["FhirWorkerSettings", "TokenTable", "load_tokens", "make_fetcher", "run_worker"]

log = logging.getLogger(__name__)


def run_worker(settings: FhirWorkerSettings, ingest: IngestSettings | None = None,
               kafka: KafkaSettings | None = None, *, ops: OpsSettings | None = None,
               redactor: Redactor | None = None) -> None:
    """Start the FHIR HTTP endpoint and its ops server; serve until SIGINT/SIGTERM (uvicorn)."""
    ingest = ingest or IngestSettings()
    kafka = kafka or KafkaSettings()
    tokens = load_tokens(settings)
    if redactor is not None:
        for secret in _secrets_of(settings, kafka):
            redactor.add_secret(secret)
    if settings.dev_no_auth:
        log.warning("FHIR endpoint running WITHOUT authentication (--dev); never expose it")
    readiness = ReadinessRegistry()
    readiness.register("listener_bound")
    # delivery bounded by the send timeout: a write answered 503 must not land behind the client's back
    producer = EventProducer(ingest_producer_settings(kafka, ingest.send_timeout_s))
    # Reachable cluster AND a producer that is not wedged (issue #20), checked every 2 s.
    probe = KafkaProbe(kafka, readiness, interval_s=2.0, writer=producer.problem).start()
    metrics = FhirMetrics()
    ops_server = None
    if ops is not None and ops.enabled:
        ops_server = start_ops_server_from_settings(ops, readiness=readiness, registry=metrics.registry,
                                                    worker="ingest-fhir")
    seen_keys: list[str] = []
    if settings.load_dedup_on_start and settings.dedup_capacity > 0:
        seen_keys = load_fhir_keys(kafka)[-settings.dedup_capacity:]
        log.info("loaded %d duplicate keys of accepted resources from Kafka", len(seen_keys))
    try:
        app = create_app(settings, ingest, KafkaFhirSink(producer, ingest.send_timeout_s), tokens, metrics,
                         make_fetcher(settings), seen_keys)
        server = uvicorn.Server(uvicorn_config(app, settings))
        log.info("FHIR endpoint on %s:%d%s (tls=%s, tokens=%d)", settings.host, settings.port,
                 settings.base_path, settings.tls_certfile is not None, len(tokens))
        threading.Thread(target=_mark_bound, args=(server, readiness), daemon=True).start()
        settle_heap()
        server.run()  # uvicorn handles SIGINT/SIGTERM with a graceful shutdown
    finally:
        readiness.set("listener_bound", False)
        probe.stop()
        producer.close(2.0)
        if ops_server is not None:
            ops_server.stop()


def make_fetcher(settings: FhirWorkerSettings) -> ResourceFetcher | None:
    """The id-only notification reader (ingest.adapters.fhir_fetch.ResourceFetcher), or None when not configured."""
    if not settings.fetch_bases():
        return None
    return ResourceFetcher(settings.fetch_token_value(), timeout_s=settings.fetch_timeout_s,
                           max_bytes=settings.max_body_bytes, concurrency=settings.fetch_concurrency,
                           verify=str(settings.fetch_ca_file) if settings.fetch_ca_file else True)


def _mark_bound(server: Any, readiness: ReadinessRegistry) -> None:
    """Flip `listener_bound` once uvicorn has bound its socket (it sets `started` then)."""
    while not server.should_exit:
        if server.started:
            readiness.set("listener_bound", True)
            return
        time.sleep(0.05)


def _secrets_of(settings: FhirWorkerSettings, kafka: KafkaSettings) -> list[str]:
    """Every secret value this worker holds, so the log redactor can mask it anywhere."""
    found: list[str] = []
    if settings.tokens is not None:
        found += [t.strip() for t in settings.tokens.get_secret_value().split(",") if t.strip()]
    if kafka.sasl_password is not None:
        found.append(kafka.sasl_password.get_secret_value())
    fetch_token = settings.fetch_token_value()
    if fetch_token:
        found.append(fetch_token)
    return found
