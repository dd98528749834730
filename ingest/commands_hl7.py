"""`sepsis-alert parse`, `ingest-file` and `ingest-hl7`: the HL7 v2 (and, for files, FHIR JSON) entry points.

* `parse PATH...` (no Kafka): one JSON line per canonical event on stdout; a rejected
  message prints `sepsis-alert parse: <file>[#n]: <reason>` on stderr (#n = position of the
  message in a file of several); exit status 1 if anything was rejected (the rest still
  printed), 2 if a file cannot be read.
  Files may hold one message, several, an FHS/BHS batch or MLLP frames; a file whose
  content starts with `{` is a FHIR JSON document.
* `ingest-file PATH...`: the same, written to Kafka (events + raw; rejections dead-lettered).
* `ingest-hl7`: the MLLP listener (settings from SEPSIS_HL7_*, SEPSIS_INGEST_*, SEPSIS_KAFKA_*).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.hl7v2 import Hl7Normaliser, read_ack_header, split_messages
from ingest.core.result import ClinicalEvent, Normalised
from sepsis_alert.cli_types import tcp_port
from sepsis_alert.ops.redaction import Redactor
from sepsis_alert.ops.settings import add_ops_arguments

__all__ = ["event_json", "register"]

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
"""Seconds between readiness probes of the listener (Kafka reachable, producer not wedged)."""
STOP_TIMEOUT_S = 6.0
"""Longest wait (seconds) for the MLLP server to finish its in-flight messages at shutdown."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `parse`, `ingest-file` and `ingest-hl7`."""
    p = subparsers.add_parser("parse", help="parse HL7 v2 / FHIR JSON files and print canonical events (no Kafka)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_parse_command)

    p = subparsers.add_parser("ingest-file", help="parse HL7 v2 / FHIR JSON files and write the events to Kafka")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_ingest_file_command)

    p = subparsers.add_parser("ingest-hl7", help="run the HL7 v2 MLLP listener (writes to Kafka, ACKs after acks=all)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or SEPSIS_HL7_MLLP__HOST)")
    p.add_argument("--port", type=tcp_port, default=None, help="TCP port (default 2575, or SEPSIS_HL7_MLLP__PORT)")
    p.add_argument("--metrics-port", type=int, default=None, help="deprecated alias of --ops-port")
    add_ops_arguments(p, "ingest-hl7")
    p.set_defaults(func=_ingest_hl7_command)


@dataclass(frozen=True, slots=True)
class FileItem:
    """One message of an input file: its label for errors and its raw bytes."""

    label: str
    raw: bytes
    is_fhir: bool


def _items(path: Path) -> Iterator[FileItem]:
    data = path.read_bytes()
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        yield FileItem(str(path), data, True)
        return
    messages = split_messages(data)
    for n, raw in enumerate(messages, 1):
        yield FileItem(f"{path}#{n}" if len(messages) > 1 else str(path), raw, False)


def _normalise(item: FileItem, normaliser: Hl7Normaliser, settings: IngestSettings,
               received_at: datetime) -> Normalised:
    if item.is_fhir:
        from ingest.core.fhir import normalise_fhir_document  # the FHIR path is optional for HL7-only sites

        return normalise_fhir_document(item.raw, settings, received_at)
    return normaliser.normalise(item.raw, received_at)


def event_json(event: ClinicalEvent) -> str:
    """One output line: `kind` and `patient_id` (= the patient key) first, then every field of the event."""
    body: dict[str, Any] = event.model_dump(mode="json")
    line = {"kind": body.pop("kind"), "patient_id": event.patient_key, **body}
    return json.dumps(line, ensure_ascii=False)


def _parse_command(args: argparse.Namespace) -> int:
    settings = IngestSettings()
    normaliser = Hl7Normaliser(settings)
    rejected = unreadable = False
    for path in args.paths:
        try:
            items = list(_items(path))
        except OSError as exc:
            print(f"sepsis-alert parse: {path}: cannot read ({exc.strerror})", file=sys.stderr)
            unreadable = True
            continue
        for item in items:
            try:
                result = _normalise(item, normaliser, settings, datetime.now(UTC))
            except InputRejected as exc:
                print(f"sepsis-alert parse: {item.label}: {exc}", file=sys.stderr)
                rejected = True
                continue
            for event in result.events:
                print(event_json(event))
    sys.stdout.flush()
    # a file that cannot be read is a usage error (2, like a bad flag); a message refused for its content is 1
    return 2 if unreadable else 1 if rejected else 0


def _ingest_file_command(args: argparse.Namespace) -> int:
    from ingest.adapters.kafka_sink import KafkaEventSink
    from schemas.dead_letter import DeadLetter, DeadLetterDetail
    from schemas.topics import Topics
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.kafka.errors import KafkaPlumbingError
    from sepsis_alert.kafka.producer import EventProducer

    settings = IngestSettings()
    normaliser = Hl7Normaliser(settings)
    rejected = written = 0
    with EventProducer(KafkaSettings()) as producer:
        hl7_sink = KafkaEventSink(producer, raw_topic=Topics.RAW_HL7, timeout_s=settings.send_timeout_s)
        fhir_sink = KafkaEventSink(producer, raw_topic=Topics.RAW_FHIR, timeout_s=settings.send_timeout_s,
                                   source="fhir")
        for path in args.paths:
            for item in _items(path):
                sink = fhir_sink if item.is_fhir else hl7_sink
                received_at = datetime.now(UTC)
                try:
                    try:
                        result = _normalise(item, normaliser, settings, received_at)
                    except InputRejected as exc:
                        print(f"sepsis-alert ingest-file: {item.label}: {exc}", file=sys.stderr)
                        rejected += 1
                        sink.write_dead_letter_sync(DeadLetter.for_payload(
                            item.raw, source=sink.source, worker="ingest-file", error_code=exc.code,
                            error_message=str(exc), received_at=received_at,
                            source_message_id=None if item.is_fhir else (read_ack_header(item.raw).control_id or None),
                            details=[DeadLetterDetail(location=exc.location or "message", message=exc.message)]))
                        continue
                    written += sink.write_accepted_sync(result.events, item.raw, message_id=result.message_id,
                                                        sender=result.sender, received_at=received_at)
                except KafkaPlumbingError as exc:
                    print(f"sepsis-alert ingest-file: {item.label}: not written to Kafka: {exc}", file=sys.stderr)
                    return 2
    print(f"wrote {written} records; {rejected} messages rejected (dead-lettered)", file=sys.stderr)
    return 1 if rejected else 0


def _ingest_hl7_command(args: argparse.Namespace) -> int:
    from sepsis_alert.ops.logging import configure_logging

    redactor = configure_logging("ingest-hl7", os.environ.get("SEPSIS_LOG_LEVEL", "INFO"))
    return asyncio.run(_run_listener(args, redactor))


async def _run_listener(args: argparse.Namespace, redactor: Redactor | None = None) -> int:
    from ingest.adapters.dedup import RetransmissionIndex, load_from_kafka
    from ingest.adapters.kafka_sink import KafkaEventSink, ingest_producer_settings
    from ingest.adapters.landed import KafkaLandedCheck
    from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
    from ingest.metrics_hl7 import Hl7Metrics
    from sepsis_alert.kafka.config import KafkaSettings
    from sepsis_alert.kafka.producer import EventProducer
    from sepsis_alert.ops.heap import settle_heap
    from sepsis_alert.ops.http import start_ops_server_from_settings
    from sepsis_alert.ops.kafka_probe import KafkaProbe
    from sepsis_alert.ops.readiness import ReadinessRegistry
    from sepsis_alert.ops.settings import ops_settings_from_args

    ingest = IngestSettings()
    # flags merged over SEPSIS_HL7_MLLP__* and validated together (a --host off loopback meets the same rule)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    worker_settings = Hl7WorkerSettings(mllp=overrides)  # type: ignore[arg-type]
    if args.metrics_port is not None and args.ops_port is None:
        args.ops_port = args.metrics_port  # deprecated alias
    elif args.ops_port is None and worker_settings.metrics_port:
        args.ops_port = worker_settings.metrics_port
    ops_settings = ops_settings_from_args(args)  # every setting checked before anything connects
    kafka = KafkaSettings()
    if redactor is not None and kafka.sasl_password is not None:
        redactor.add_secret(kafka.sasl_password.get_secret_value())
    readiness = ReadinessRegistry()
    readiness.register("listener_bound")
    # delivery bounded by the send timeout: a write answered AE must not land behind the sender's back
    producer = EventProducer(ingest_producer_settings(kafka, ingest.send_timeout_s), linger_ms=0)
    probe = KafkaProbe(kafka, readiness, interval_s=PROBE_INTERVAL_S, writer=producer.problem).start()
    dedup = RetransmissionIndex(timedelta(seconds=worker_settings.dedup_window_s))
    if worker_settings.load_dedup_on_start:
        loaded = await asyncio.to_thread(load_from_kafka, dedup, kafka, datetime.now(UTC))
        log.info("loaded %d retransmission keys from Kafka", loaded)
    metrics = Hl7Metrics()
    ops = (start_ops_server_from_settings(ops_settings, readiness=readiness, registry=metrics.registry,
                                          worker="ingest-hl7") if ops_settings.enabled else None)
    sink = KafkaEventSink(producer, raw_topic=worker_settings.raw_topic, timeout_s=ingest.send_timeout_s,
                          landed=KafkaLandedCheck(kafka))
    worker = Hl7Worker(ingest, worker_settings, sink, metrics=metrics, dedup=dedup, on_unavailable=probe.report)
    await worker.start()
    readiness.set("listener_bound", True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    settle_heap()
    print(f"ingest-hl7 listening on {worker_settings.mllp.host}:{worker.port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        # Bounded even with the broker down (issue #20: SIGTERM must end the worker within ~10 s):
        # the listener stops taking frames, in-flight writes end within the send timeout, the
        # producer's close is capped and the probe is a daemon thread.
        readiness.set("listener_bound", False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.stop(), STOP_TIMEOUT_S)
        await asyncio.to_thread(producer.close, 2.0)
        probe.stop()
        if ops is not None:
            ops.stop()
    return 0
