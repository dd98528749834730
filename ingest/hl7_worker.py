"""HL7 v2 worker wiring: MLLP listener -> parse/normalise -> Kafka (acks=all) -> ACK.

Per message (frames on one connection are handled in order):

1. normalise (pure). InputRejected -> dead letter (raw + reason) -> AE (AR when the
   header/type/version is refused) with ERR naming the field. If the dead letter
   cannot be written either, AE "retransmit" (nothing is lost: the sender retries).
   Some OBX refused while the others stand (ingest.core.hl7v2.oru): dead letter naming each,
   the valid events stored as in 3., AE with one ERR per refused OBX (docs/hl7v2-acks.md).
2. retransmission (same sender + MSH-10 accepted within the window) -> AA, nothing produced.
3. write events + raw + dedup marker; AA ONLY once Kafka acknowledged every record.
   Kafka down or slower than IngestSettings.send_timeout_s -> AE "retransmit", never AA.
An unexpected bug in normalisation is dead-lettered as `internal_error` and answered
AE: the worker never crashes on input. Logs carry ids and reasons, never message bodies.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.adapters.dedup import RetransmissionIndex, dedup_key
from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import MllpServer, MllpSettings, Peer
from ingest.config import IngestSettings
from ingest.core.errors import InputRejected, ParseError, UnsupportedInput
from ingest.core.hl7v2 import AckCode, AckHeader, Hl7Normaliser, build_ack, error_code_for, read_ack_header
from ingest.core.hl7v2.ack import build_partial_ack
from ingest.core.result import Normalised
from ingest.metrics_hl7 import Hl7Metrics
from schemas.dead_letter import DeadLetter, DeadLetterDetail
from schemas.topics import Topics
from sepsis_alert.kafka.errors import KafkaPlumbingError, KafkaUnavailableError

__all__ = ["Hl7Worker", "Hl7WorkerSettings"]

log = logging.getLogger(__name__)


def _where(exc: BaseException) -> str:
    """Exception type and innermost code location, without the exception's message (it may quote PHI)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    place = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    return f"{type(exc).__name__} at {place}"


class Hl7WorkerSettings(BaseSettings):
    """The HL7 v2 worker (environment prefix SEPSIS_HL7_, nested with __, e.g. SEPSIS_HL7_MLLP__PORT)."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_HL7_", env_nested_delimiter="__", extra="forbid")

    mllp: MllpSettings = Field(default_factory=MllpSettings)
    raw_topic: str = Field(default=Topics.RAW_HL7, description="topic keeping every accepted message verbatim")
    dedup_window_s: float = Field(default=7 * 24 * 3600.0, gt=0,
                                  description="seconds a sender+MSH-10 is remembered for retransmission dedup")
    load_dedup_on_start: bool = Field(default=True,
                                      description="replay Topics.INGEST_DEDUP at start-up (restart-safe dedup)")
    worker_name: str = Field(default="hl7-worker", description="`worker` field of dead letters")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="serve /metrics on this port")


class Hl7Worker:
    """Handles frames for an MllpServer; build with its collaborators, then `await start()`."""

    def __init__(self, ingest: IngestSettings, settings: Hl7WorkerSettings, sink: KafkaEventSink, *,
                 metrics: Hl7Metrics | None = None, dedup: RetransmissionIndex | None = None,
                 normaliser: Hl7Normaliser | None = None,
                 on_unavailable: Callable[[bool, str], None] | None = None) -> None:
        """`on_unavailable(False, reason)` is called when Kafka did not store a message (readiness
        turns not-ready at once instead of at the next probe)."""
        self.ingest = ingest
        self._on_unavailable = on_unavailable
        self.settings = settings
        self.sink = sink
        self.metrics = metrics or Hl7Metrics()
        self.dedup = dedup or RetransmissionIndex(timedelta(seconds=settings.dedup_window_s))
        self.normaliser = normaliser or Hl7Normaliser(ingest)
        self.server = MllpServer(self.handle, settings.mllp, on_connection=self.metrics.connection,
                                 on_frame_error=self.metrics.frame_error, on_oversize=self.oversize)
        self._ack_ids = itertools.count(1)
        self._ack_prefix = f"{int(time.time() * 1000) % 10**9:09d}"
        self._inflight: dict[str, asyncio.Future[bool]] = {}

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def port(self) -> int:
        return self.server.port

    def _ack(self, header: AckHeader, code: AckCode, reason: str = "", error: InputRejected | None = None,
             location: str = "") -> bytes:
        ack_id = f"A{self._ack_prefix}{next(self._ack_ids):08d}"
        return build_ack(header, code, ack_control_id=ack_id, now=datetime.now(UTC), reason=reason,
                         error_code=error_code_for(error) if code is not AckCode.ACCEPT else "",
                         error_location=location)

    async def oversize(self, head: bytes, peer: Peer, reason: str) -> None:
        """Dead-letter the first bytes of a frame past the size limit (the server then closes, no ACK).

        The payload is truncated to `head` (HEAD_BYTES); the error message says so. Never raises.
        """
        header = read_ack_header(head)
        log.warning("oversized message %r from %s rejected", header.control_id, peer.host)
        self.metrics.message(header.message_type or "unknown", "rejected")
        message = f"{reason}; payload truncated to its first {len(head)} bytes"
        letter = DeadLetter.for_payload(
            head, source="hl7v2", worker=self.settings.worker_name, error_code="frame_too_large",
            error_message=message, details=[DeadLetterDetail(location="MLLP frame", message=message)],
            received_at=datetime.now(UTC), source_message_id=header.control_id or None)
        try:
            await self.sink.write_dead_letter(letter)
        except KafkaPlumbingError as exc:
            log.warning("dead letter for oversized message %r not stored: %s", header.control_id, exc)
            return
        except Exception as exc:  # never let the hook kill the connection handler noisily
            log.error("dead letter for oversized message %r failed: %s", header.control_id, _where(exc))
            return
        self.metrics.dead_letters.labels(error_code="frame_too_large").inc()

    async def handle(self, raw: bytes, peer: Peer) -> bytes:
        """One frame in, one ACK out (never raises)."""
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        header = read_ack_header(raw)
        try:
            code, ack = await self._handle(raw, header, received_at)
        except Exception as exc:  # last line of defence: answer AE, keep serving
            log.error("unexpected failure handling message %r from %s: %s", header.control_id, peer.host,
                      _where(exc))
            code, ack = AckCode.ERROR, self._ack(header, AckCode.ERROR, "internal error; retransmit later")
        self.metrics.ack_latency.labels(ack_code=code.value).observe(time.perf_counter() - started)
        return ack

    async def _handle(self, raw: bytes, header: AckHeader, received_at: datetime) -> tuple[AckCode, bytes]:
        try:
            result = self.normaliser.normalise(raw, received_at)
        except InputRejected as exc:
            return await self._reject(raw, header, received_at, exc)
        except Exception as exc:  # a bug in our code must not cost the message: dead-letter it
            log.error("normaliser failed on message %r: %s", header.control_id, _where(exc))
            rejected = InputRejected(f"internal error while normalising: {type(exc).__name__}",
                                     code="internal_error")
            return await self._reject(raw, header, received_at, rejected)
        self.metrics.seen_sender(result.sender)
        for skipped in result.skipped:
            self.metrics.skipped.labels(reason=skipped.reason).inc()
        if not result.events and any(s.reason == "ignored_message_type" for s in result.skipped):
            self.metrics.message(result.message_type, "ignored")
            return AckCode.ACCEPT, self._ack(header, AckCode.ACCEPT)
        if result.rejected:
            return await self._accept_partly(raw, header, received_at, result)
        return await self._accept(raw, header, received_at, result)

    async def _accept(self, raw: bytes, header: AckHeader, received_at: datetime,
                      result: Normalised) -> tuple[AckCode, bytes]:
        key = dedup_key(result.sender, result.message_id)
        while (pending := self._inflight.get(key)) is not None:
            await asyncio.shield(pending)  # the same message on another connection: wait for its outcome
        if self.dedup.is_duplicate(key, received_at):
            self.metrics.message(result.message_type, "duplicate")
            return AckCode.ACCEPT, self._ack(header, AckCode.ACCEPT)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = done
        stored = False
        try:
            await self.sink.write_accepted(result.events, raw, message_id=result.message_id, sender=result.sender,
                                           received_at=received_at, dedup_key=key)
            stored = True
        except KafkaPlumbingError as exc:
            log.warning("Kafka did not acknowledge message %r: %s", result.message_id, exc)
            self.metrics.message(result.message_type, "unavailable")
            if self._on_unavailable is not None and isinstance(exc, KafkaUnavailableError):
                self._on_unavailable(False, "a write was not acknowledged in time")
            return AckCode.ERROR, self._ack(header, AckCode.ERROR,
                                            "message not stored (event store unavailable); retransmit")
        finally:
            if stored:
                self.dedup.remember(key, received_at)
            del self._inflight[key]
            done.set_result(stored)
        self.metrics.message(result.message_type, "accepted")
        for event in result.events:
            self.metrics.events.labels(kind=event.kind).inc()
        return AckCode.ACCEPT, self._ack(header, AckCode.ACCEPT)

    async def _reject(self, raw: bytes, header: AckHeader, received_at: datetime,
                      exc: InputRejected) -> tuple[AckCode, bytes]:
        reason = str(exc)
        letter = DeadLetter.for_payload(
            raw, source="hl7v2", worker=self.settings.worker_name, error_code=exc.code, error_message=reason,
            details=[DeadLetterDetail(location=exc.location or "message", message=exc.message)],
            received_at=received_at, source_message_id=header.control_id or None)
        message_type = header.message_type or "unknown"
        try:
            await self.sink.write_dead_letter(letter)
        except KafkaPlumbingError as kafka_exc:
            log.warning("dead letter for message %r not stored: %s", header.control_id, kafka_exc)
            self.metrics.message(message_type, "unavailable")
            return AckCode.ERROR, self._ack(header, AckCode.ERROR,
                                            f"{reason}; the rejection could not be recorded, retransmit")
        log.info("rejected message %r (%s at %s)", header.control_id, exc.code, exc.location or "-")
        self.metrics.message(message_type, "rejected")
        self.metrics.dead_letters.labels(error_code=exc.code).inc()
        header_problem = isinstance(exc, UnsupportedInput) or (
            isinstance(exc, ParseError) and exc.location in ("MSH", "MSH-1", "MSH-2"))
        code = AckCode.REJECT if header_problem else AckCode.ERROR
        return code, self._ack(header, code, reason, exc, exc.location)

    async def _accept_partly(self, raw: bytes, header: AckHeader, received_at: datetime,
                             result: Normalised) -> tuple[AckCode, bytes]:
        """Some OBX refused, the rest valid (docs/hl7v2-acks.md): dead-letter the message naming each refused OBX,
        then store the valid events as usual, then answer AE with one ERR per refused OBX. The dead letter goes
        first so a failure there costs nothing (AE retransmit, nothing stored); a retransmission of a stored
        message is answered the same way without a second dead letter."""
        if not self.dedup.is_duplicate(dedup_key(result.sender, result.message_id), received_at):
            first = result.rejected[0]
            letter = DeadLetter.for_payload(
                raw, source="hl7v2", worker=self.settings.worker_name, error_code=first.code,
                error_message=f"{len(result.rejected)} OBX refused, {len(result.events)} event(s) stored: {first}",
                details=[DeadLetterDetail(location=e.location or "message", message=e.message)
                         for e in result.rejected], received_at=received_at, source_message_id=result.message_id)
            try:
                await self.sink.write_dead_letter(letter)
            except KafkaPlumbingError as exc:
                log.warning("dead letter for message %r not stored: %s", result.message_id, exc)
                self.metrics.message(result.message_type, "unavailable")
                return AckCode.ERROR, self._ack(header, AckCode.ERROR,
                                                "message not stored (event store unavailable); retransmit")
            for refused in result.rejected:
                self.metrics.dead_letters.labels(error_code=refused.code).inc()
        code, ack = await self._accept(raw, header, received_at, result)
        if code is not AckCode.ACCEPT:
            return code, ack
        log.info("message %r stored with %d OBX refused (first %s at %s)", result.message_id, len(result.rejected),
                 result.rejected[0].code, result.rejected[0].location or "-")
        ack_id = f"A{self._ack_prefix}{next(self._ack_ids):08d}"
        return AckCode.ERROR, build_partial_ack(header, result.rejected, stored=len(result.events),
                                                ack_control_id=ack_id, now=datetime.now(UTC))
