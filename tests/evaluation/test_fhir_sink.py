"""`--to fhir` against a real HTTP server on 127.0.0.1: one transaction Bundle per patient-hour."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evaluation.replay import ReplayOptions, run_replay
from evaluation.sinks import FhirSink

REAL = Path(__file__).parent / "data" / "physionet_sample"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bundles: list[dict[str, Any]] = []
        self.content_types: set[str] = set()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.content_types.add(self.headers["Content-Type"])
        server.bundles.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(b'{"resourceType":"Bundle","type":"transaction-response"}')

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def fhir_server() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_replay_to_fhir_posts_transaction_bundles(fhir_server: _Server) -> None:
    host, port = fhir_server.server_address
    sink = FhirSink(f"http://{host}:{port}/fhir", timeout_s=10)
    stats = run_replay([REAL / "p000015.psv"], sink, ReplayOptions(), progress=False)
    assert stats.extra["bundles_accepted"] == stats.messages + 1 == len(fhir_server.bundles)
    assert stats.extra["bundles_rejected"] == 0
    assert fhir_server.content_types == {"application/fhir+json"}
    observations = [e["resource"] for b in fhir_server.bundles[1:] for e in b["entry"]]
    assert len(observations) == stats.observations
    assert all(o["subject"]["identifier"]["value"] == "p000015" for o in observations)
    assert all(o["valueQuantity"]["system"] == "http://unitsofmeasure.org" for o in observations)
