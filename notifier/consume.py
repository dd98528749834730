"""The alerts loop of one notifier replica: poll, deliver, commit.

Each poll's alerts are grouped by patient and handed to a task chained after that patient's previous one, so
one patient's transitions stay in order, and the loop polls again once they are delivered or after at most
POLL_AGAIN_S: a page must not wait behind a throttled chat channel (one message a second) or a slow receiver of
an earlier poll. At most `max_poll_records` records are in flight. Offsets are committed, after the log writes
are flushed, up to each partition's first record still in flight (notifier.core.offsets), so a crash re-reads
what was not finished (at least once; the notification log and the receivers' idempotency keys drop the
repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from notifier.adapters.kafka_in import AlertRecord, AlertSource
from notifier.adapters.kafka_state import KafkaDeadLetters, KafkaLogSink
from notifier.clock import Clock
from notifier.config import NotifierSettings
from notifier.core.offsets import CommitProgress
from notifier.metrics import NotifierMetrics
from schemas.alert import Alert
from sepsis_alert.kafka.producer import EventProducer
from sepsis_alert.ops.kafka_probe import KafkaProbe

__all__ = ["COMMIT_INTERVAL_S", "POLL_AGAIN_S", "AlertConsumer"]

COMMIT_INTERVAL_S = 0.2
"""Longest time (monotonic seconds) between alert-offset commits while alerts keep coming."""
POLL_AGAIN_S = 0.05
"""Longest wait (seconds) for a poll's deliveries before polling again while some are still under way."""

log = logging.getLogger("notifier.app")

Tails = dict[bytes | None, asyncio.Task[None]]


class AlertConsumer:
    """Runs until `stopping` is set, then waits for the alerts in hand and commits them."""

    def __init__(self, source: AlertSource, settings: NotifierSettings, clock: Clock, stopping: asyncio.Event,
                 process: Callable[[Alert, float], Awaitable[object]], dead_letters: KafkaDeadLetters,
                 log_sink: KafkaLogSink, producer: EventProducer, probe: KafkaProbe,
                 metrics: NotifierMetrics) -> None:
        self._source, self._settings, self._clock, self._stopping = source, settings, clock, stopping
        self._process, self._dead_letters, self._log_sink = process, dead_letters, log_sink
        self._producer, self._probe, self._metrics = producer, probe, metrics
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._progress: CommitProgress[AlertRecord] = CommitProgress()
        self._tails: Tails = {}
        self._settled = asyncio.Event()
        self._failure: BaseException | None = None
        """An error outside the pipeline's own guard (a bug): the loop raises it and the worker fails."""

    async def run(self) -> None:
        try:
            await self._loop()
        finally:  # cancelled by a stop that ran out of time: the deliveries in hand end with the loop
            for task in list(self._tails.values()):
                task.cancel()

    async def _loop(self) -> None:
        progress, commit = self._progress, None
        last_commit_s = self._clock.monotonic_s()
        while not self._stopping.is_set():
            if self._failure is not None:
                raise self._failure
            # Flush the log writes and commit in the background, in order, so the next poll is not delayed; at
            # most every COMMIT_INTERVAL_S (one commit per alert would cost a broker round trip each), and at once
            # when idle.
            if self._clock.monotonic_s() - last_commit_s >= COMMIT_INTERVAL_S and (done := progress.committable()):
                commit = asyncio.create_task(self._flush_and_commit(commit, done))
                last_commit_s = self._clock.monotonic_s()
            if progress.in_flight >= self._settings.max_poll_records:  # back-pressure: wait for deliveries
                await self._settle(COMMIT_INTERVAL_S)
                continue
            try:
                records = await self._source.poll(self._settings.poll_timeout_ms)
            except Exception as exc:  # the broker went away or a rebalance failed: report, back off, poll again
                self._probe.report(False, f"poll failed: {type(exc).__name__}")
                log.error("polling alerts failed: %s", type(exc).__name__)
                await self._clock.sleep(1.0)
                continue
            # No kafka_connected=True here: an empty poll is what a broker outage looks like too (the probe decides).
            if not records:
                last_commit_s = -COMMIT_INTERVAL_S  # idle: commit what is pending now
                continue
            await self._start(records)
            await self._settle(POLL_AGAIN_S)
        if self._tails:
            await asyncio.wait(list(self._tails.values()))
        if done := progress.committable():
            commit = asyncio.create_task(self._flush_and_commit(commit, done))
        if commit is not None:
            await commit

    async def _settle(self, within_s: float) -> None:
        """Wait until everything in flight finished, for at most `within_s` seconds: while deliveries are quick
        the next poll then collects what arrived meanwhile in one batch (a poll per alert would cost more CPU
        than the deliveries on a busy host), and a slow or throttled delivery holds the next poll only briefly."""
        deadline = self._clock.monotonic_s() + within_s
        while self._progress.in_flight > 0 and (left_s := deadline - self._clock.monotonic_s()) > 0:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), left_s)

    async def _start(self, records: list[AlertRecord]) -> None:
        received = self._clock.now_s()
        self._progress.polled(records)
        by_patient: dict[bytes | None, list[AlertRecord]] = defaultdict(list)
        for record in records:
            if record.alert is None:
                await self._dead_letter_invalid(record)
                self._progress.finished(record)
            else:
                by_patient[record.key].append(record)
        for key, items in by_patient.items():
            self._tails[key] = task = asyncio.create_task(self._one_patient(self._tails.get(key), items, received))
            task.add_done_callback(functools.partial(_forget_tail, self._tails, key))

    async def _one_patient(self, previous: asyncio.Task[None] | None, items: list[AlertRecord],
                           received_s: float) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its failure is the loop's to raise, not this patient's
        async with self._limit:
            for item in items:
                assert item.alert is not None
                try:
                    await self._process(item.alert, received_s)
                except BaseException as exc:
                    self._failure = self._failure or exc
                    raise
                self._progress.finished(item)
                self._settled.set()

    async def _flush_and_commit(self, previous: asyncio.Task[None] | None, records: list[AlertRecord]) -> None:
        if previous is not None:
            await previous
        loop = asyncio.get_running_loop()
        try:
            self._log_sink.drain()
            await loop.run_in_executor(None, self._producer.flush, 30.0)
            self._log_sink.check_written()  # a log write the broker dropped: no commit past it until rewritten
            await self._source.commit(records)
        except Exception as exc:  # not committed: the alerts are re-read after a restart and de-duplicated
            self._probe.hold("commit", f"flush/commit failed: {type(exc).__name__}")
            log.error("OPS ALERT: commit of %d alert offsets failed: %s", len(records), type(exc).__name__)
        else:
            self._probe.release("commit")

    async def _dead_letter_invalid(self, record: AlertRecord) -> None:
        self._metrics.invalid_alerts.inc()
        log.error("malformed alert at %s partition %d offset %d dead-lettered: %s", record.topic, record.partition,
                  record.offset, record.error)
        key = record.key.decode(errors="replace") if record.key else None
        await self._dead_letters.dead_letter_raw(record.raw, "invalid_alert", record.error, key,
                                                 f"{record.topic}/{record.partition}/{record.offset}")


def _forget_tail(tails: Tails, key: bytes | None, done: asyncio.Task[None]) -> None:
    """A patient's task ended: drop it unless a newer one is already chained after it."""
    if not done.cancelled():
        done.exception()  # retrieved: the loop raises it (AlertConsumer._failure), asyncio need not warn of it
    if tails.get(key) is done:
        del tails[key]
