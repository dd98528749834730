"""Replay targets (adapters): the in-process detector, Kafka, an MLLP listener, a FHIR endpoint.

Each sink counts what the target accepted and refused in `stats` (flat ints), which
the replay report shows. Refusals by the target (HL7 AE/AR, HTTP 4xx) are counted
and the replay carries on; an unreachable target raises after bounded retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from evaluation.fhir_bundles import admission_bundle, observation_bundle
from evaluation.hl7_messages import adt_a01, oru_r01
from evaluation.mllp_client import MllpClient
from evaluation.physionet import HourMessage
from schemas.alert import Alert
from schemas.patient_event import PatientEvent
from schemas.topics import Topics

__all__ = ["FhirSink", "KafkaSink", "MllpSink", "OfflineSink", "make_sink", "parse_host_port"]

log = logging.getLogger(__name__)


def parse_host_port(address: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); raises ValueError naming the bad value."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host, int(port)


class OfflineSink:
    """Feeds the detector engine in-process (event time only; no Kafka)."""

    name = "offline"

    def __init__(self, engine: Any = None, *, config: Any = None,
                 on_alert: Callable[[Alert], None] | None = None) -> None:
        if engine is None:
            from detector.core.config import load_config
            from detector.core.engine import DetectorEngine  # built by the detector work

            engine = DetectorEngine(config if config is not None else load_config())
        self.engine = engine
        self.on_alert = on_alert
        self.stats: dict[str, int] = {"alerts": 0}

    def _emit(self, alerts: list[Alert]) -> None:
        self.stats["alerts"] += len(alerts)
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert)

    def send_admit(self, event: PatientEvent) -> None:
        self._emit(self.engine.process(event))

    def send_hour(self, message: HourMessage) -> None:
        for obs in message.observations:
            self._emit(self.engine.process(obs))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class KafkaSink:
    """Produces canonical events to the observations / patient-events topics (keyed by patient key).

    Records are batched (`batch_records`) and each batch waits for acks=all
    (`timeout_s`); a pacing pause flushes first, so paced replays are not delayed.
    """

    name = "kafka"

    def __init__(self, settings: Any = None, *, producer: Any = None, batch_records: int = 2000,
                 timeout_s: float = 60.0) -> None:
        from sepsis_alert.kafka.config import KafkaSettings
        from sepsis_alert.kafka.producer import EventProducer

        self._owns_producer = producer is None
        self.producer = producer or EventProducer(settings or KafkaSettings())
        self.batch_records, self.timeout_s = batch_records, timeout_s
        self._pending: list[Any] = []
        self.stats: dict[str, int] = {"records": 0}

    def _add(self, topic: str, event: Any) -> None:
        from sepsis_alert.kafka.producer import OutboundRecord

        self._pending.append(OutboundRecord.from_event(topic, event))
        if len(self._pending) >= self.batch_records:
            self.flush()

    def send_admit(self, event: PatientEvent) -> None:
        self._add(Topics.PATIENT_EVENTS, event)

    def send_hour(self, message: HourMessage) -> None:
        for obs in message.observations:
            self._add(Topics.OBSERVATIONS, obs)

    def flush(self) -> None:
        if self._pending:
            self.producer.send_all(self._pending, timeout_s=self.timeout_s)
            self.stats["records"] += len(self._pending)
            self._pending = []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._owns_producer:
                self.producer.close()


class MllpSink:
    """Sends ADT^A01 / ORU^R01 (HL7 v2.5) over MLLP, one message per patient-hour, waiting for each ACK."""

    name = "mllp"

    def __init__(self, address: str, *, timeout_s: float = 30.0, retries: int = 3) -> None:
        host, port = parse_host_port(address)
        self.client = MllpClient(host, port, timeout_s=timeout_s, retries=retries)
        self._units: dict[str, str | None] = {}
        self.stats: dict[str, int] = {"acks_accepted": 0, "acks_rejected": 0}

    def _send(self, message: str) -> None:
        ack = self.client.send(message)
        if ack.accepted:
            self.stats["acks_accepted"] += 1
        else:
            self.stats["acks_rejected"] += 1
            log.warning("listener refused message %s: %s %s", ack.control_id, ack.code, ack.text[:200])

    def send_admit(self, event: PatientEvent) -> None:
        self._units[event.patient_key] = event.location.unit if event.location else None
        self._send(adt_a01(event))

    def send_hour(self, message: HourMessage) -> None:
        control_id = f"{message.patient_key}-{message.iculos}"
        self._send(oru_r01(message.observations, control_id=control_id,
                           unit=self._units.get(message.patient_key)))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.client.close()


class FhirSink:
    """POSTs FHIR R4 transaction Bundles to a base URL, one per patient-hour (httpx, bounded retries)."""

    name = "fhir"

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, retries: int = 3, client: Any = None) -> None:
        import httpx

        self.url = base_url.rstrip("/")
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=timeout_s, headers={"Content-Type": "application/fhir+json"})
        self.retries = retries
        self.stats: dict[str, int] = {"bundles_accepted": 0, "bundles_rejected": 0}

    def _post(self, bundle: dict[str, Any]) -> None:
        import httpx

        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(2.0 ** attempt, 10.0) / 4)
            try:
                response = self.client.post(self.url, json=bundle)
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code < 300:
                self.stats["bundles_accepted"] += 1
                return
            if response.status_code < 500 and response.status_code != 429:
                self.stats["bundles_rejected"] += 1
                log.warning("FHIR endpoint refused a bundle: HTTP %s", response.status_code)
                return
            last = RuntimeError(f"HTTP {response.status_code}")
        raise ConnectionError(f"FHIR endpoint {self.url} failed after {self.retries + 1} attempts: {last!r}")

    def send_admit(self, event: PatientEvent) -> None:
        self._post(admission_bundle(event))

    def send_hour(self, message: HourMessage) -> None:
        self._post(observation_bundle(message.observations))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def make_sink(to: str, address: str | None = None, **kwargs: Any) -> Any:
    """The sink for a `--to` target; mllp needs HOST:PORT and fhir a base URL as `address`."""
    if to == "offline":
        return OfflineSink(**kwargs)
    if to == "kafka":
        return KafkaSink(**kwargs)
    if to == "mllp":
        if not address:
            raise ValueError("--to mllp needs HOST:PORT")
        return MllpSink(address, **kwargs)
    if to == "fhir":
        if not address:
            raise ValueError("--to fhir needs the endpoint's base URL")
        return FhirSink(address, **kwargs)
    raise ValueError(f"unknown replay target {to!r}: offline, kafka, mllp or fhir")
