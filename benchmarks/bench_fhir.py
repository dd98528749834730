"""FHIR ingest throughput and latency.

1. Observations/s through the whole pure path (`normalise_fhir_document`: orjson parse,
   fhir.resources R4B validation of the resource, normalisation, canonical event
   validation) against fhir.resources' bare `Observation.model_validate(orjson.loads(raw))`
   on the same raw resources in the same run. One process, one thread: per core.
   Resources: every corpus Observation that gives events (vitals, BP panels, GCS, labs;
   single files and Synthea bundles), each re-serialised once with a unique id.
2. POST of a 100-entry transaction Bundle (100 vital-sign Observations, 100 Kafka
   records + the raw body, acks=all) to a real uvicorn server on 127.0.0.1 with its own
   Kafka broker: p50 / p99 latency in ms (processing time seen by the client).

Run: `.venv/bin/python -m benchmarks.run --only fhir`.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.observation import Observation as FhirObservation

from ingest.config import IngestSettings
from ingest.core.fhir import normalise_fhir_document

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "fhir"
SECONDS_PER_FIGURE = 3.0
POSTS = 60
WARMUP_POSTS = 5


def _relevant_observations() -> list[dict[str, Any]]:
    settings, now = IngestSettings(), datetime.now(UTC)
    found: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        if doc.get("resourceType") == "Observation":
            candidates = [doc]
        elif path.name.startswith("synthea_"):
            candidates = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"]
        else:
            continue
        for resource in candidates:
            resource = dict(resource, subject={"reference": "Patient/bench"})
            try:
                if normalise_fhir_document(orjson.dumps(resource), settings, now).events:
                    found.append(resource)
            except Exception:  # the invalid corpus file is not a throughput case
                continue
    return found


def _rate(fn: Any, items: list[bytes]) -> float:
    """Items per second of CPU time (one core) over about SECONDS_PER_FIGURE."""
    done = 0
    started = time.process_time()
    while time.process_time() - started < SECONDS_PER_FIGURE:
        for raw in items:
            fn(raw)
        done += len(items)
    return done / (time.process_time() - started)


def _throughput() -> dict[str, float | int | str]:
    resources = _relevant_observations()
    raws = [orjson.dumps(dict(r, id=f"{r.get('id', 'o')}-{i}")) for i, r in enumerate(resources)]
    settings, now = IngestSettings(), datetime.now(UTC)
    ours = _rate(lambda raw: normalise_fhir_document(raw, settings, now), raws)
    bare = _rate(lambda raw: FhirObservation.model_validate(orjson.loads(raw)), raws)
    bare_json = _rate(FhirObservation.model_validate_json, raws)
    return {
        "fhir_bench_observations_distinct": len(raws),
        "fhir_validate_normalise_obs_per_s": round(ours),
        "fhir_resources_model_validate_obs_per_s": round(bare),
        "fhir_resources_model_validate_json_obs_per_s": round(bare_json),
        "fhir_validate_normalise_vs_bare_validate_ratio": round(ours / bare, 3),
    }


def _transaction(patient: str) -> bytes:
    entries = []
    for i in range(100):
        code, value, unit = [("8867-4", 80 + i % 40, "/min"), ("9279-1", 12 + i % 12, "/min"),
                             ("59408-5", 90 + i % 10, "%"), ("8310-5", 36.5 + (i % 10) / 10, "Cel")][i % 4]
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "Observation"},
                        "resource": {"resourceType": "Observation", "id": uuid.uuid4().hex, "status": "final",
                                     "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                                     "subject": {"reference": f"Patient/{patient}"},
                                     "effectiveDateTime": f"2024-03-01T{i // 60:02d}:{i % 60:02d}:00Z",
                                     "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                                                       "code": unit}}})
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def _latency() -> dict[str, float | int | str]:
    import httpx
    import uvicorn
    from prometheus_client import CollectorRegistry

    from devstack.broker import LocalBroker, ensure_jars, free_port
    from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
    from ingest.fhir_worker import FhirWorkerSettings, load_tokens
    from ingest.metrics_fhir import FhirMetrics
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.kafka.producer import EventProducer
    from sepsis_alert.kafka.topics import ensure_topics

    ensure_jars()
    with tempfile.TemporaryDirectory(prefix="bench-fhir-") as tmp:
        broker = LocalBroker(tmp)
        broker.start(180)
        producer = None
        server = None
        thread = None
        try:
            kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, client_id="bench-fhir")
            ensure_topics(kafka)
            producer = EventProducer(kafka)
            settings = FhirWorkerSettings(port=free_port(), dev_no_auth=True)
            app = create_app(settings, IngestSettings(), KafkaFhirSink(producer, 10.0), load_tokens(settings),
                             FhirMetrics(CollectorRegistry()))
            server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            timings: list[float] = []
            with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=60,
                              headers={"Content-Type": "application/fhir+json"}) as client:
                for n in range(WARMUP_POSTS + POSTS):
                    body = _transaction(f"bench-{n}")
                    t0 = time.perf_counter()
                    r = client.post("/fhir", content=body)
                    elapsed = time.perf_counter() - t0
                    if r.status_code != 200:
                        raise RuntimeError(f"transaction POST answered {r.status_code}: {r.text[:300]}")
                    if n >= WARMUP_POSTS:
                        timings.append(elapsed * 1000)
            timings.sort()
            return {
                "fhir_tx100_posts": len(timings),
                "fhir_tx100_p50_ms": round(statistics.median(timings), 1),
                "fhir_tx100_p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
                "fhir_tx100_max_ms": round(timings[-1], 1),
            }
        finally:
            if server is not None:
                server.should_exit = True
            if thread is not None:
                thread.join(15)
            if producer is not None:
                producer.close()
            broker.stop()


def run() -> dict[str, float | int | str]:
    """Throughput (per core, CPU time) and transaction POST latency, with the same-run reference."""
    return {**_throughput(), **_latency()}
