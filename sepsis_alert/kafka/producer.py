"""The one way the service writes to Kafka: acks=all, bounded waits, self-healing after broker outages.

Ingest servers must acknowledge a message to its sender only once Kafka has
it, so the central call is `send_all(records, timeout_s)` (or its asyncio twin
`send_all_async`): it returns the broker's RecordMetadata for every record, or
raises `KafkaUnavailableError` once `timeout_s` seconds have passed, never
later, whatever state the broker is in. The same EventProducer keeps working
after the broker comes back.

Broker outages (issue #20). kafka-python 3.0.12's idempotent producer can wedge
for good after an outage: when a batch that was already sent expires, the
sender resets its producer id but stays in state READY, so it never asks for a
new one, never sends or expires anything again, and every future stays pending
(measured: 4 writers of 3 records each, broker stopped 30 s, 2 of 2 runs stuck
for the 60 s observed after the broker returned). Hence two defences:

* `enable_idempotence` is off by default, with one request in flight per
  connection so that retries cannot reorder a partition (measured under the
  same load: writes acknowledged again 0.6-0.7 s after the broker returned, no
  duplicate). The price: a retry after a lost acknowledgement can store a
  record twice; retries are bounded by delivery_timeout_ms and the consumers
  de-duplicate by source id / alert id.
* A watchdog (`check_stuck`, run on every send and flush): a record still
  undecided `stuck_grace_s` seconds after its delivery timeout means the client
  cannot recover by itself, so the KafkaProducer is force-closed in the
  background (its pending futures fail; callers see KafkaUnavailableError) and a
  new one is built on the next send. `rebuilds` counts how often that happened.
  With idempotence forced on, the same load healed 0.2-0.5 s after the broker
  returned, after one rebuild.

Keys are the patient key (UTF-8) so that one patient's events share a
partition number on every topic; values are the event's JSON (`encode_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import IllegalStateError, KafkaError, KafkaTimeoutError
from kafka.producer.future import FutureRecordMetadata, RecordMetadata

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaPlumbingError, KafkaRejectedError, KafkaUnavailableError

__all__ = [
    "EventProducer",
    "FutureRecordMetadata",
    "KeyedEvent",
    "OutboundRecord",
    "RecordMetadata",
    "bridge_future",
    "encode_event",
    "event_key",
]

Headers = Sequence[tuple[str, bytes]]

log = logging.getLogger(__name__)


class KeyedEvent(Protocol):
    """A pydantic event that carries its Kafka key (every schemas.* event does)."""

    patient_key: str

    def model_dump_json(self) -> str: ...


def encode_event(event: KeyedEvent) -> bytes:
    """The Kafka record value of an event: its pydantic JSON, UTF-8."""
    return event.model_dump_json().encode()


def event_key(event: KeyedEvent) -> str:
    """The Kafka record key of an event: its patient key."""
    return event.patient_key


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One record to write: `key` is encoded as UTF-8; `value=None` writes a tombstone (compacted topics)."""

    topic: str
    key: str | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_event(cls, topic: str, event: KeyedEvent, headers: Headers = ()) -> OutboundRecord:
        """The record for a pydantic event: key = patient key, value = its JSON."""
        return cls(topic, event_key(event), encode_event(event), tuple(headers))


def _classify(exc: BaseException, what: str) -> KafkaPlumbingError:
    """Map a kafka-python failure to ours: retriable -> unavailable, anything else -> rejected."""
    # IllegalStateError: the producer was force-closed under the record (close, or a rebuild after it
    # wedged): the record was not refused, it was never written; retrying is right.
    if isinstance(exc, KafkaError) and not exc.retriable and not isinstance(exc, IllegalStateError):
        return KafkaRejectedError(f"{what} rejected: {exc!r}")
    return KafkaUnavailableError(f"{what} failed: {exc!r}")


PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    # Off: kafka-python 3.0.12's idempotent producer wedges after an outage (module docstring).
    "enable_idempotence": False,
    # One request per connection: a retried batch cannot overtake a later one (per-partition order).
    "max_in_flight_requests_per_connection": 1,
    "allow_auto_create_topics": False,
}


class EventProducer:
    """A KafkaProducer (acks=all, linger 2 ms, bytes keys/values) with deadline-bound sends and a watchdog.

    The underlying KafkaProducer is created on first use, so an EventProducer
    can be built while the broker is still down; it is rebuilt when it stops
    making progress (module docstring). Thread-safe: share one per worker;
    `close()` it at shutdown.
    """

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 2, stuck_grace_s: float | None = None,
                 **overrides: Any) -> None:
        """`overrides` are extra KafkaProducer keyword arguments (e.g. compression_type="gzip").

        `stuck_grace_s`: seconds past its delivery timeout after which a still-pending record counts as
        stuck and the KafkaProducer is rebuilt (default: half the delivery timeout, at least 2 s).
        """
        self.settings = settings
        self._config: dict[str, Any] = {**settings.producer_kwargs(), **PRODUCER_DEFAULTS, "linger_ms": linger_ms,
                                        **overrides}
        delivery_s = self._config["delivery_timeout_ms"] / 1000
        self.stuck_after_s = delivery_s + (stuck_grace_s if stuck_grace_s is not None else max(2.0, delivery_s / 2))
        """A record still pending this many seconds after it was queued means the producer is wedged."""
        self._producer: KafkaProducer | None = None
        self._create_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: deque[tuple[float, FutureRecordMetadata]] = deque()  # (queued at, monotonic s), oldest first
        self._closed = False
        self.rebuilds = 0
        """How many times a wedged KafkaProducer was replaced."""

    # ------------------------------------------------------------ internals
    def _ensure_producer(self, deadline: float) -> KafkaProducer:
        if self._closed:
            raise KafkaPlumbingError("EventProducer is closed")
        producer = self._producer
        if producer is not None:
            return producer
        if not self._create_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise KafkaUnavailableError("timed out waiting for the Kafka producer to be created")
        try:
            if self._producer is None:
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    raise KafkaUnavailableError(f"no time left to connect to {self.settings.bootstrap_servers}")
                config = dict(self._config)
                config["bootstrap_timeout_ms"] = min(config["bootstrap_timeout_ms"], remaining_ms)
                try:
                    self._producer = KafkaProducer(**config)
                except (KafkaError, OSError) as exc:
                    raise KafkaUnavailableError(
                        f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc!r}") from exc
            return self._producer
        finally:
            self._create_lock.release()

    def _enqueue(self, records: Sequence[OutboundRecord], deadline: float) -> list[FutureRecordMetadata]:
        """Hand the records to the producer's buffer; blocks only for missing metadata, never past `deadline`."""
        self.check_stuck()
        try:
            producer = self._ensure_producer(deadline)
        except KafkaUnavailableError as exc:
            exc.total = len(records)
            raise
        if not self._send_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise KafkaUnavailableError("timed out waiting for other senders (topic metadata unavailable?)",
                                        total=len(records))
        futures: list[FutureRecordMetadata] = []
        try:
            for record in records:
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    raise KafkaUnavailableError(f"timed out before {record.topic!r} metadata was available",
                                                total=len(records))
                # send() waits up to config["max_block_ms"] for topic metadata; cap it with our deadline.
                producer.config["max_block_ms"] = min(self._config["max_block_ms"], remaining_ms)
                try:
                    futures.append(producer.send(
                        record.topic,
                        key=record.key.encode() if record.key is not None else None,
                        value=record.value,
                        headers=list(record.headers)))
                except KafkaTimeoutError as exc:
                    raise KafkaUnavailableError(
                        f"no metadata for topic {record.topic!r} (broker down or topic missing): {exc}",
                        total=len(records)) from exc
                except KafkaError as exc:
                    raise _classify(exc, f"sending to {record.topic!r}") from exc
        finally:
            producer.config["max_block_ms"] = self._config["max_block_ms"]
            self._send_lock.release()
            if futures:
                queued = time.monotonic()
                with self._pending_lock:
                    self._pending.extend((queued, f) for f in futures)
        return futures

    # ------------------------------------------------------------ watchdog
    def check_stuck(self) -> bool:
        """Rebuild the KafkaProducer if a record is still pending `stuck_after_s` after it was queued.

        Returns True when it did. Cheap (no network): called on every send and flush, and by
        callers that wait on earlier futures (the ingest sink) or report readiness.
        """
        now = time.monotonic()
        with self._pending_lock:
            # Only the front is pruned: O(1) per call; a done record behind a pending one waits its turn.
            pending = self._pending
            while pending and pending[0][1].is_done:
                pending.popleft()
            stuck = bool(pending) and now - pending[0][0] > self.stuck_after_s
            if stuck:
                pending.clear()
        if not stuck:
            return False
        # Never wait for the lock: its holder is building a producer (the old one is already gone), and a
        # send must not spend its deadline here.
        if not self._create_lock.acquire(blocking=False):
            return False
        try:
            producer, self._producer = self._producer, None
        finally:
            self._create_lock.release()
        if producer is None:
            return False
        self.rebuilds += 1
        log.warning("Kafka producer made no progress for %.1f s (a record neither acknowledged nor failed); "
                    "force-closing it (its pending records fail) and building a new one (rebuild #%d)",
                    self.stuck_after_s, self.rebuilds)
        # In the background: the caller (a send with its own deadline) must not wait for the old sender thread.
        threading.Thread(target=_force_close, args=(producer, 5.0), name="kafka-producer-discard",
                         daemon=True).start()
        return True

    def problem(self) -> str | None:
        """Why this producer cannot store right now, or None (a KafkaProbe `writer`; rebuilds a wedged one)."""
        if self.check_stuck():
            return f"Kafka producer was wedged (records pending > {self.stuck_after_s:.0f} s); rebuilt"
        return None

    @staticmethod
    def _collect(futures: Sequence[FutureRecordMetadata], timeout_s: float) -> list[RecordMetadata]:
        deadline = time.monotonic() + timeout_s
        results: list[RecordMetadata] = []
        for future in futures:
            try:
                results.append(future.get(timeout=max(0.0, deadline - time.monotonic())))
            except KafkaError as exc:
                raise _failure(exc if future.is_done else None, len(results), len(futures), timeout_s) from exc
        return results

    # ------------------------------------------------------------------ API
    def send(self, topic: str, key: str | None, value: bytes | None,
             headers: Headers | None = None) -> FutureRecordMetadata:
        """Queue one record; returns kafka-python's future (`.get(timeout=seconds)` -> RecordMetadata).

        Blocks at most `settings.max_block_ms` milliseconds (topic metadata).
        Raises KafkaUnavailableError if the broker cannot be reached.
        """
        deadline = time.monotonic() + self.settings.max_block_ms / 1000
        return self._enqueue([OutboundRecord(topic, key, value, tuple(headers or ()))], deadline)[0]

    def send_event(self, topic: str, event: KeyedEvent, headers: Headers | None = None) -> FutureRecordMetadata:
        """`send` a pydantic event keyed by its patient key."""
        return self.send(topic, event_key(event), encode_event(event), headers)

    def send_all(self, records: Sequence[OutboundRecord], timeout_s: float) -> list[RecordMetadata]:
        """Write all records and wait until the broker acknowledged every one (acks=all).

        Returns their RecordMetadata in input order. Raises KafkaUnavailableError
        when any record is not acknowledged within `timeout_s` seconds (the
        call itself returns within about that time), KafkaRejectedError when
        the broker refuses a record for good (e.g. too large).
        """
        if not records:
            return []
        deadline = time.monotonic() + timeout_s
        futures = self._enqueue(records, deadline)
        return self._collect(futures, max(0.0, deadline - time.monotonic()))

    async def send_all_async(self, records: Sequence[OutboundRecord], timeout_s: float) -> list[RecordMetadata]:
        """`send_all` for asyncio servers: never blocks the event loop; same results and errors."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout_s
        futures = await loop.run_in_executor(None, self._enqueue, records, deadline)
        waiters = [bridge_future(future, loop) for future in futures]
        if waiters:
            await asyncio.wait(waiters, timeout=max(0.0, deadline - time.monotonic()))
        results: list[RecordMetadata] = []
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
                raise _failure(None, len(results), len(futures), timeout_s)
            exc = waiter.exception()
            if exc is not None:
                raise _failure(exc, len(results), len(futures), timeout_s) from exc
            results.append(waiter.result())
        return results

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait up to `timeout_s` seconds until every queued record is acknowledged or failed."""
        self.check_stuck()
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise KafkaUnavailableError(f"flush did not complete in {timeout_s} s: {exc!r}") from exc

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (waiting up to `timeout_s` seconds), then release connections and threads."""
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout_s)
        except KafkaError:
            # kafka-python's close() raises (and stays open) when queued records cannot be
            # flushed in time, e.g. broker down: fail them and stop the sender thread instead.
            _force_close(producer, timeout_s)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _force_close(producer: KafkaProducer, join_s: float) -> None:
    """Stop the sender thread without sending what is queued: its pending futures fail (IllegalStateError).

    Bounded: waits at most about `join_s` seconds for the thread, then releases the client anyway.
    """
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(join_s)
    with contextlib.suppress(Exception):
        producer.close(timeout=0)


def _failure(exc: BaseException | None, acknowledged: int, total: int, timeout_s: float) -> KafkaPlumbingError:
    """The error for a send_all that did not complete: `exc` is the record's failure, None for a timeout."""
    if exc is None:
        return KafkaUnavailableError(
            f"{total - acknowledged} of {total} records not acknowledged within {timeout_s:.1f} s "
            f"(broker unreachable or partition leader missing)", acknowledged=acknowledged, total=total)
    error = _classify(exc, "writing a record")
    if isinstance(error, KafkaUnavailableError):
        error.acknowledged, error.total = acknowledged, total
    return error


def bridge_future(future: FutureRecordMetadata, loop: asyncio.AbstractEventLoop) -> asyncio.Future[RecordMetadata]:
    """An asyncio future completed (thread-safely) when kafka-python's future completes."""
    waiter: asyncio.Future[RecordMetadata] = loop.create_future()

    def settle(value: Any, failed: bool) -> None:
        if waiter.done():
            return
        if failed:
            waiter.set_exception(value)
        else:
            waiter.set_result(value)

    def from_sender_thread(value: Any, failed: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, value, failed)

    future.add_callback(from_sender_thread, failed=False)
    future.add_errback(from_sender_thread, failed=True)
    return waiter
