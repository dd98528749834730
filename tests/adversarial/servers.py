"""Real servers for the adversarial / security tests: the HL7 worker on its own event-loop thread,
the FHIR app under uvicorn on a thread, a blocking MLLP client, and dead-letter look-ups.

Everything talks over 127.0.0.1 sockets to the real session broker.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import uvicorn
from prometheus_client import CollectorRegistry

from ingest.adapters.fhir_http import KafkaFhirSink, create_app, uvicorn_config
from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import END_BLOCK, MllpSettings, frame
from ingest.config import IngestSettings
from ingest.fhir_worker import FhirWorkerSettings, load_tokens
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from ingest.metrics_fhir import FhirMetrics
from ingest.metrics_hl7 import Hl7Metrics
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import WorkerThread

ACK_TIMEOUT_S = 60.0
"""Generous: the machine is shared; this bounds a hang, it is not a speed requirement."""


class MllpClient:
    """A blocking MLLP sender (one message, then wait for its ACK), optionally over TLS."""

    def __init__(self, port: int, timeout_s: float = ACK_TIMEOUT_S, tls: ssl.SSLContext | None = None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.sock: socket.socket = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        self._buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_ack(self) -> bytes:
        """The next ACK payload; ConnectionError when the server closed the connection first."""
        while END_BLOCK not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        end = self._buffer.index(END_BLOCK)
        block, self._buffer = self._buffer[:end], self._buffer[end + len(END_BLOCK):]
        return block[block.index(b"\x0b") + 1:]

    def send(self, message: bytes) -> bytes:
        self.send_raw(frame(message))
        return self.read_ack()

    def closed_by_server(self, timeout_s: float) -> bool:
        """True if the server closes the connection within `timeout_s` seconds (data is discarded)."""
        self.sock.settimeout(timeout_s)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def ack_code(ack: bytes) -> str:
    """MSA-1 of an ACK (AA / AE / AR)."""
    text = ack.decode("utf-8", "replace")
    field = text[3] if len(text) > 3 else "|"
    for segment in text.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            return segment.split(field)[1]
    raise AssertionError(f"no MSA in ACK {ack[:200]!r}")


class Hl7WorkerThread(WorkerThread):
    """The real Hl7Worker (MllpServer + KafkaEventSink) on the ingest harness's private-loop thread."""

    def __init__(self, kafka: KafkaSettings, mllp: MllpSettings | None = None,
                 ingest: IngestSettings | None = None) -> None:
        self.kafka = kafka
        self.ingest = ingest or IngestSettings(send_timeout_s=10)
        self.settings = Hl7WorkerSettings(mllp=mllp or MllpSettings(port=0))
        self.producer = EventProducer(kafka)
        self.metrics = Hl7Metrics(CollectorRegistry())
        sink = KafkaEventSink(self.producer, raw_topic=self.settings.raw_topic, timeout_s=self.ingest.send_timeout_s)
        super().__init__(lambda: Hl7Worker(self.ingest, self.settings, sink, metrics=self.metrics))

    def stop(self) -> None:
        super().stop()
        self.producer.close()


class FhirServer:
    """The FHIR app (create_app + KafkaFhirSink) under a real uvicorn server on a thread."""

    def __init__(self, settings: FhirWorkerSettings, kafka: KafkaSettings, ingest: IngestSettings | None = None,
                 **uvicorn_overrides: Any) -> None:
        self.settings = settings
        self.ingest = ingest or IngestSettings(send_timeout_s=10)
        self.producer = EventProducer(kafka)
        self.metrics = FhirMetrics(CollectorRegistry())
        app = create_app(settings, self.ingest, KafkaFhirSink(self.producer, self.ingest.send_timeout_s),
                         load_tokens(settings), self.metrics)
        overrides = {"log_level": "warning", **uvicorn_overrides}
        self.server = uvicorn.Server(uvicorn_config(app, settings, **overrides))
        self._thread = threading.Thread(target=self.server.run, name="adv-fhir", daemon=True)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.settings.tls_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.settings.port}"

    def start(self) -> FhirServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
        self.producer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_letters(kafka: KafkaSettings, topic: str = Topics.DEAD_LETTER) -> list[dict[str, Any]]:
    """Every dead letter on the topic, as dicts with the decoded raw payload under `raw`."""
    out = []
    for record in read_all(kafka, topic, timeout_s=60):
        if record.value is None:
            continue
        letter = orjson.loads(record.value)
        letter["raw"] = base64.b64decode(letter.get("raw_payload_b64", ""))
        out.append(letter)
    return out


def wait_for_dead_letters(kafka: KafkaSettings, wanted: Iterable[bytes], match: Callable[[bytes, bytes], bool],
                          timeout_s: float = 60.0) -> dict[bytes, dict[str, Any] | None]:
    """For each wanted input, the dead letter whose raw payload `match`es it (None if none appeared in time)."""
    wanted = list(wanted)
    found: dict[bytes, dict[str, Any] | None] = dict.fromkeys(wanted)
    deadline = time.monotonic() + timeout_s
    while True:
        letters = dead_letters(kafka)
        for item in wanted:
            if found[item] is None:
                found[item] = next((d for d in letters if match(item, d["raw"])), None)
        if all(v is not None for v in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)
