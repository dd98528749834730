"""A FHIR endpoint on a real uvicorn server in a thread, wired like `sepsis-alert ingest-fhir` (tests only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
from ingest.config import IngestSettings
from ingest.fhir_worker import FhirWorkerSettings, load_tokens, make_fetcher
from ingest.metrics_fhir import FhirMetrics
from sepsis_alert.kafka.producer import EventProducer

FHIR_JSON = {"Content-Type": "application/fhir+json"}


class Endpoint:
    """The endpoint on 127.0.0.1:`settings.port` with an authenticated httpx client (`client`)."""

    def __init__(self, settings: FhirWorkerSettings, producer: EventProducer, token: str,
                 seen_keys: Sequence[str] = ()) -> None:
        ingest = IngestSettings(send_timeout_s=20)
        self.metrics = FhirMetrics(CollectorRegistry())
        app = create_app(settings, ingest, KafkaFhirSink(producer, ingest.send_timeout_s), load_tokens(settings),
                         self.metrics, make_fetcher(settings), seen_keys)
        self.server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{settings.port}",
                                   headers={"Authorization": f"Bearer {token}", **FHIR_JSON}, timeout=60)

    def close(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(15)
