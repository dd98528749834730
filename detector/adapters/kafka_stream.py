"""The detector on Kafka: consume events, run the pure engine, produce alerts and changed state, commit.

Processing guarantee (at-least-once input, effectively-once state):

1. poll a batch from the observations, patient-events and care-events topics (one consumer group; the three
   topics are co-partitioned by patient key and the range assignor gives one process the same partition
   number of every topic, so a patient's state lives in exactly one process);
2. feed every record to the engine, skipping records the patient's state already reflects (below);
3. produce the alerts (topic `alerts`, key = patient key) and FLUSH;
4. produce every changed patient state to the compacted changelog (`detector-state`, key = patient key,
   partition = the input partition number; a tombstone when a patient was discharged or merged away) and FLUSH;
5. commit the input offsets (asynchronously: steps 3-4 already made the batch durable).

Order across the three input topics: Kafka orders records within one partition only, so a fetch may hand
the detector a patient's observations before the admission that precedes them in time (and a restarted
detector would then attach a different location to the same alert than an uninterrupted one). Within a
batch, patient events and care events are therefore applied before observations, and an observation
partition is paused (its records in the batch seeked back, unprocessed) while the patient-event or
care-event partition with the same number has records the detector has not read yet (ordering.py).
Observations thus wait for the ADT and care events already written before them, which is what makes alerts
identical between a live run, a replay and a restart.

Feed gaps (feed_watermark.py): after step 2 the open episodes of every partition with observations in the
batch are swept against the partition's event-time watermark, and a patient's own observation newer than its
window first checks the gap it may end: a patient whose core vital signs stopped arriving gets one 'cannot rule
out' notice, published with the batch's alerts.

Restore on partition assignment: the assigned partitions are not fetched until the rebalance callback
returns, so they are effectively paused while it reads each changelog partition from the beginning to its end
offset, keeps the newest record per key and installs it; then fetching resumes from the committed input offsets.
The reading runs in a worker thread that the callback awaits (kafka_clients.Rebalance): kafka-python runs the
callback on its network loop, which also sends the heartbeats, and a restore there that outlasted the session
timeout got the member evicted, and every rejoin restored again.

Why this is correct even though the newest changelog record may be NEWER than the committed input offset
(a crash between step 4 and step 5): every state records, per input topic, the offset of the last input
record applied to it (`PatientState.positions`). When input is re-delivered after a restore, records at or
below that offset are skipped for that patient, so nothing is applied twice. Alerts were flushed before the
state (step 3 before 4), so a skipped record's alerts are already on the alerts topic; if the crash hit
between 3 and 4, the old state is restored, the records are re-applied and produce the SAME alerts with the
same deterministic ids (the notifier de-duplicates by id). Compaction may delete older state records, which
is why "keep the newest record whose offsets are committed" would not be safe, but "newest + skip" is.
Known edge: after a discharge tombstone, a crash before the commit re-creates the discharged patient from
re-delivered input and may emit a new, immediately resolved episode for a patient who has left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from detector.adapters import kafka_clients as clients
from detector.adapters.feed_watermark import PartitionWatermarks
from detector.adapters.kafka_clients import Rebalance, close_producer, dead_letter_for, record_fields, restore_partition
from detector.adapters.ordering import defer_observations_behind_control_events
from detector.core.config import DetectorConfig
from detector.core.engine import DetectorEngine
from detector.core.fast_decode import observation_fields
from detector.core.window import event_seconds, seconds_to_datetime
from detector.gc_tuning import BatchCollector, loading_long_lived, tune_gc
from detector.metrics import DetectorMetrics
from schemas import Alert, CareEvent, Observation, PatientEvent, Topics, decode_event, describe_validation_error
from schemas.dead_letter import DeadLetter
from schemas.versioning import UnsupportedSchemaVersion
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import group_joined, make_consumer, subscribe_when_known
from sepsis_alert.kafka.errors import GroupJoinStalledError, KafkaPlumbingError, KafkaUnavailableError
from sepsis_alert.kafka.join_watch import JoinWatch
from sepsis_alert.ops.kafka_lag import ConsumerLag
from sepsis_alert.ops.readiness import ReadinessRegistry

__all__ = ["READINESS_CHECKS", "DetectorStream", "StreamTopics", "restore_partition"]

READINESS_CHECKS = ("kafka_connected", "partitions_assigned", "state_restored")
"""What /readyz of a detector waits for: the broker answered, partitions are assigned, their state restored."""
RETRY_MIN_S = 1.0
RETRY_MAX_S = 15.0
"""Back-off (seconds) between attempts to reconnect after a Kafka failure: doubles from MIN to MAX."""
CLOSE_TIMEOUT_MS = 2_000
"""Longest wait (milliseconds) for a consumer to leave its group or commit when closing (broker may be down)."""

_NO_TIME = -(2**31)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamTopics:
    """Topic names (defaults: schemas.topics.Topics); tests pass throwaway topics."""

    observations: str = Topics.OBSERVATIONS
    patient_events: str = Topics.PATIENT_EVENTS
    care_events: str = Topics.CARE_EVENTS
    alerts: str = Topics.ALERTS
    state: str = Topics.DETECTOR_STATE
    dead_letter: str = Topics.DEAD_LETTER

    def inputs(self) -> tuple[str, str, str]:
        """The input topics, in the order of PatientState.positions."""
        return (self.observations, self.patient_events, self.care_events)


class DetectorStream:
    """One detector worker: a consumer-group member that owns some partitions and their patients' state."""

    def __init__(self, settings: KafkaSettings, config: DetectorConfig | None = None, *,
                 group_id: str = "sepsis-detector", topics: StreamTopics | None = None,
                 metrics: DetectorMetrics | None = None, clock: Callable[[], datetime] | None = None,
                 max_poll_records: int = 5000, poll_timeout_ms: int = 200, flush_timeout_s: float = 30.0,
                 readiness: ReadinessRegistry | None = None, consumer_lag: ConsumerLag | None = None,
                 feed_gaps: bool | None = None, join_watch: JoinWatch | None = None) -> None:
        """`readiness` (default: a private registry) receives the READINESS_CHECKS; `consumer_lag` (default:
        one for `group_id` on the metrics registry) is refreshed after every poll; `join_watch` (default limits)
        restarts the clients when the group join does not complete. `feed_gaps` (default:
        escalation.feed_gap_notices) False announces no feed gaps (feed_watermark.py), e.g. for a comparison with
        the offline engine, which has no watermark."""
        self.settings = settings
        self.topics = topics or StreamTopics()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.engine = DetectorEngine(config, clock=self.clock)
        self.feed_gaps = self.engine.config.escalation.feed_gap_notices if feed_gaps is None else feed_gaps
        self.metrics = metrics or DetectorMetrics()
        self.group_id = group_id
        self.max_poll_records = max_poll_records
        self.poll_timeout_ms = poll_timeout_ms
        self.flush_timeout_s = flush_timeout_s
        self.partition_of: dict[str, int] = {}
        self.owned: set[int] = set()
        self._topic_index = {name: i for i, name in enumerate(self.topics.inputs())}
        self._end_offsets: dict[TopicPartition, int | None] = {}  # control partitions' end, when not yet fetched
        self._time_cache: dict[str, int] = {}  # timestamp text -> event seconds (fast decode)
        self.watermarks = PartitionWatermarks(int(self.engine.config.window.future_tolerance_minutes * 60))
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] | None = None  # last async commit in flight
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._stop = threading.Event()
        # Reconnection attempts give up after 3 s, so a stop request is never held up longer by a bootstrap.
        self._connect = settings.model_copy(update={"bootstrap_timeout_ms": min(settings.bootstrap_timeout_ms, 3_000)})
        self.failures = 0  # how many times the stream lost Kafka and restarted its clients (run())
        self._collector = BatchCollector()  # garbage collections at batch boundaries (detector/gc_tuning.py)
        self.join_watch = join_watch or JoinWatch()
        self.readiness = readiness if readiness is not None else ReadinessRegistry()
        self.readiness.register(*READINESS_CHECKS)
        if consumer_lag is None:
            try:
                consumer_lag = ConsumerLag(group_id, registry=self.metrics.registry)
            except ValueError:  # this registry already exports consumer lag (metrics shared by two streams)
                consumer_lag = ConsumerLag(group_id, registry=None)
        self.consumer_lag = consumer_lag

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect and join the group (partitions arrive with the first polls)."""
        tune_gc()  # benchmarks/bench_detector.py Kafka figure: about 7 % more observations per second
        # Not idempotent (kafka-python 3.0.12's can wedge after an outage, sepsis_alert/kafka/producer.py): alert
        # ids are deterministic and states keyed, so a retried duplicate is harmless; 1 in flight keeps order.
        self._producer = KafkaProducer(**self._connect.producer_kwargs(), acks="all", enable_idempotence=False,
                                       max_in_flight_requests_per_connection=1, linger_ms=5,
                                       batch_size=256 * 1024, allow_auto_create_topics=False)
        consumer = make_consumer(self._connect, self.group_id, (), max_poll_records=self.max_poll_records,
                                 partition_assignment_strategy=[RangePartitionAssignor],
                                 max_poll_interval_ms=300_000, fetch_max_bytes=32 * 1024 * 1024,
                                 max_partition_fetch_bytes=4 * 1024 * 1024,
                                 metadata_max_age_ms=10_000)  # topics created later are seen within 10 s
        self._consumer = consumer  # _reset closes it should the subscription below raise
        subscribe_when_known(consumer, list(self.topics.inputs()), self.settings.request_timeout_ms / 1000,
                             listener=Rebalance(self._revoke, self._assign))
        # The producer's bootstrap answered (the constructor raises NoBrokersAvailable otherwise).
        self.readiness.set("kafka_connected", True, self.settings.bootstrap_servers)
        self.readiness.set("partitions_assigned", False, "waiting for the consumer group to assign partitions")
        self.readiness.set("state_restored", False, "no partitions assigned yet")

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll and process until `stop` is set, riding out broker outages.

        A Kafka error anywhere in a batch (poll, rebalance restore, publish, offsets) does not end the
        process (issue #20): the stream tears its clients down, forgets its partitions' state (it is in
        the changelog; unflushed work is re-read from the committed offsets and skipped where the
        restored state already reflects it, module docstring) and starts again after a back-off of
        RETRY_MIN_S doubling to RETRY_MAX_S. Readiness says not-ready meanwhile. `stop` interrupts the
        back-off at once.
        """
        stop = self._stop = stop or threading.Event()
        delay = RETRY_MIN_S
        while not stop.is_set():
            try:
                if self._consumer is None:
                    self.start()
                if self.poll_once():
                    self._collector.after_batch()
                if (stalled_s := self.join_watch.overdue(group_joined(self._consumer))) is not None:
                    raise GroupJoinStalledError(f"no completed group join for {stalled_s:.0f} s")
            except (KafkaError, KafkaPlumbingError, OSError) as exc:
                reason = type(exc.__cause__ or exc).__name__
                if isinstance(exc, KafkaPlumbingError):  # our own messages: a topic or a broker, never a record
                    reason = f"{reason}: {exc}"
                self.readiness.set("kafka_connected", False, f"{reason}; retrying in {delay:.0f} s")
                self.failures += 1
                log.warning("detector lost Kafka (%s); restarting its clients in %.1f s (failure #%d)", reason,
                            delay, self.failures)
                self._reset()
                stop.wait(delay)
                delay = min(RETRY_MAX_S, delay * 2)
            else:
                delay = RETRY_MIN_S

    def _reset(self) -> None:
        """Drop the clients and every owned partition's state, as a restarted process would (bounded time)."""
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        self._uncommitted = None
        self.join_watch.restart()
        if consumer is not None:
            try:
                consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
            except Exception as exc:  # a consumer that cannot leave the group cleanly is dropped anyway
                log.warning("detector consumer close failed: %s", type(exc).__name__)
        if producer is not None:
            close_producer(producer)
        for key in list(self.partition_of):
            self.engine.drop(key)
        self.partition_of.clear()
        self.owned = set()
        self.watermarks.clear()
        self.engine.changed_keys()  # nothing of the dropped state is to be published
        self.engine.removed_keys()
        self._end_offsets.clear()
        self._set_gauges()
        self.readiness.set("partitions_assigned", False, "reconnecting to Kafka")
        self.readiness.set("state_restored", False, "reconnecting to Kafka")

    def close(self) -> None:
        """Leave the group and release connections (nothing uncommitted is lost: input is re-delivered)."""
        if self._consumer is not None and self._uncommitted is not None:
            try:  # the last batch was flushed: commit it so a successor does not re-read it
                self._consumer.commit(self._uncommitted, timeout_ms=CLOSE_TIMEOUT_MS)
            except (CommitFailedError, KafkaError, AssertionError) as exc:
                log.warning("detector final offset commit failed (%s); input will be re-delivered and skipped",
                            type(exc).__name__)
            self._uncommitted = None
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
            except Exception as exc:
                log.warning("detector consumer close failed: %s", type(exc).__name__)
            self._consumer = None
        if self._producer is not None:
            close_producer(self._producer)
            self._producer = None

    # ------------------------------------------------------------------ rebalance

    def _revoke(self, partitions: set[int]) -> None:
        """Forget the revoked partitions' patients (their state is in the changelog, offsets committed)."""
        for key in [k for k, p in self.partition_of.items() if p in partitions]:
            self.engine.drop(key)
            del self.partition_of[key]
        self.owned -= partitions
        self.watermarks.forget(partitions)
        self._set_gauges()
        self._partitions_readiness()
        log.info("detector revoked partitions %s", sorted(partitions))

    def _assign(self, partitions: set[int]) -> None:
        """Restore each newly assigned partition's state before any of its input is fetched (readiness says how far
        it got). Called from a worker thread while the rebalance callback awaits it (kafka_clients.Rebalance)."""
        self._end_offsets.clear()
        todo = sorted(partitions - self.owned)
        with loading_long_lived():
            for done, partition in enumerate(todo):
                self.readiness.set("state_restored", False, f"restoring {done} of {len(todo)} partitions")
                started = time.perf_counter()
                latest = restore_partition(self.settings, self.topics.state, partition)
                restored, newest = clients.install_partition(self.engine, self.partition_of, latest, partition)
                if newest is not None:
                    self.watermarks.restored(partition, newest)
                elapsed = time.perf_counter() - started
                self.metrics.restore_seconds.observe(elapsed)
                self.metrics.restored_patients.inc(restored)
                log.info("detector restored %d patients of partition %d in %.3f s", restored, partition, elapsed,
                         extra={"topic": self.topics.state, "partition": partition})
        self.owned |= partitions
        self.engine.changed_keys()  # restored states are already in the changelog
        self.engine.removed_keys()
        self._set_gauges()
        self._partitions_readiness()
        self.readiness.set("state_restored", True, f"{len(self.owned)} partitions restored")

    def _partitions_readiness(self) -> None:
        owned = len(self.owned)
        self.readiness.set("partitions_assigned", owned > 0, f"{owned} partitions" if owned else
                           "no partitions assigned (more detectors than partitions, or a rebalance is running)")

    def _set_gauges(self) -> None:
        self.metrics.patients.set(len(self.engine.patients))
        self.metrics.partitions.set(len(self.owned))

    # ------------------------------------------------------------------ processing

    def poll_once(self) -> int:
        """Process one batch end to end (steps 1-5 of the module docstring); returns records consumed."""
        consumer, producer = self._consumer, self._producer
        assert consumer is not None and producer is not None, "start() first"
        batch = consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_poll_records)
        self.consumer_lag.update(consumer)
        batch = defer_observations_behind_control_events(consumer, batch, self.topics.observations,
                                                         self._end_offsets, CLOSE_TIMEOUT_MS)
        if not batch:
            return 0
        started = time.perf_counter()
        now = self.clock()
        engine = self.engine
        patients = engine.patients
        alerts = []
        dead: list[DeadLetter] = []
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        newest_event: datetime | None = None
        consumed = 0
        newest_s: int | None = None  # newest observation event time taken through the fast path
        time_cache = self._time_cache
        process_fields = engine.process_fields
        skipped = self.metrics.skipped
        partition_of = self.partition_of
        # Patient and care events first: an admission precedes the observations it came with.
        ordered = sorted(batch.items(), key=lambda item: self._topic_index[item[0].topic] == 0)
        watermarks, future_s, gaps = self.watermarks, self.watermarks.future_tolerance_s, self.feed_gaps
        for tp, records in ordered:
            index = self._topic_index[tp.topic]
            partition = tp.partition
            tp_newest = _NO_TIME  # newest event time of the fast-path records (the watermark, feed_watermark.py)
            for record in records:
                consumed += 1
                # Observations in the canonical wire form skip the pydantic model (fast_decode.py); anything
                # else, or any doubt, goes through the full schema below, which dead-letters invalid records.
                fields = None
                if index == 0 and record.value:
                    try:
                        fields = observation_fields(record.value, time_cache)
                    except Exception:  # a checker bug must not stop the stream: the schema decides below
                        log.exception("detector fast decode failed; using the full schema",
                                      extra=record_fields(record, None))
                if fields is not None:
                    t = min(fields.effective_s, fields.received_s + future_s)
                    if t > tp_newest:  # skipped records count too: they are events of this partition
                        tp_newest = t
                    key = fields.patient_key
                    state = patients.get(key)
                    offset = record.offset
                    if state is not None and state.positions[0] >= offset:
                        skipped.inc()
                        continue
                    if (gaps and state is not None and t > state.window.newest_s
                            and state.escalation.opened_s is not None):  # a gap may end here: feed_watermark.py
                        alerts += engine.sweep(t, (key,), now)
                    try:
                        # emitted_at follows the 13 fields positionally (no keyword dict per record)
                        produced = process_fields(*fields, now)
                    except Exception as exc:  # a detector bug must not stop the stream: dead-letter and go on
                        log.exception("detector failed on a record; dead-lettered", extra=record_fields(record, key))
                        dead.append(dead_letter_for(record, "detector_error", type(exc).__name__, now, key))
                        continue
                    if produced:
                        alerts.extend(produced)
                    if state is None:  # a new patient (an observation never removes a patient's state)
                        state = patients.get(key)
                    if state is not None:
                        state.positions[0] = offset
                        partition_of[key] = partition
                    effective_s = fields.effective_s
                    if newest_s is None or effective_s > newest_s:
                        newest_s = effective_s
                    continue
                try:
                    event = decode_event(record.value)
                except (ValidationError, ValueError) as exc:
                    reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                    code = exc.error_code if isinstance(exc, UnsupportedSchemaVersion) else "invalid_event"
                    dead.append(dead_letter_for(record, code, reason, now))
                    continue
                if not isinstance(event, Observation | PatientEvent | CareEvent):
                    dead.append(dead_letter_for(record, "unexpected_kind", f"kind {event.kind!r} on {tp.topic}",
                                                  now))
                    continue
                key = event.patient_key
                when = getattr(event, "effective_at", None) or getattr(event, "event_time", None)
                t = _NO_TIME if when is None else min(event_seconds(when), event_seconds(event.received_at) + future_s)
                if index == 0 and t != _NO_TIME:  # control events are read ahead of observations: not them
                    watermarks.advance(partition, t)
                state = patients.get(key)
                if state is not None and state.positions[index] >= record.offset:
                    skipped.inc()
                    continue
                if (gaps and index == 0 and state is not None and t > state.window.newest_s
                        and state.escalation.opened_s is not None):  # not a control event: it may precede
                    alerts += engine.sweep(t, (key,), now)  # observations written before it (applied later)
                try:
                    alerts.extend(engine.process(event, now))
                except Exception as exc:  # a detector bug must not stop the stream: dead-letter and go on
                    log.exception("detector failed on a record; dead-lettered", extra=record_fields(record, key))
                    dead.append(dead_letter_for(record, "detector_error", type(exc).__name__, now, key))
                    continue
                state = patients.get(key)
                if state is not None:
                    state.positions[index] = record.offset
                    partition_of[key] = partition
                if when is not None and (newest_event is None or when > newest_event):
                    newest_event = when
            if tp_newest != _NO_TIME:
                watermarks.advance(partition, tp_newest)
            commits[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if gaps:
            alerts += watermarks.sweep(engine, partition_of, now)
        if newest_s is not None:
            fast_newest = seconds_to_datetime(newest_s)
            if newest_event is None or fast_newest > newest_event:
                newest_event = fast_newest
        self._publish(producer, alerts, dead)
        self._commit(consumer, commits)
        self.metrics.update_from(engine.stats)
        self._set_gauges()
        if newest_event is not None:
            self.metrics.event_time_lag.set((now - newest_event).total_seconds())
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return consumed

    def _commit(self, consumer: KafkaConsumer, commits: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Step 5: commit the batch's input offsets asynchronously (waiting would add a round trip per batch). Its
        alerts and states are flushed, so a lost commit (crash, rebalance) only re-delivers records the restored
        state skips (module docstring); `close()` commits the last batch synchronously (best effort)."""
        self._uncommitted = commits
        consumer.commit_async(commits, callback=self._committed)

    def _committed(self, offsets: dict[TopicPartition, OffsetAndMetadata], response: object) -> None:
        if isinstance(response, Exception):
            # e.g. the group rebalanced while we processed: the partitions' new owner re-reads these records,
            # restores the state we flushed and skips what it already reflects (module docstring).
            log.warning("detector offset commit failed (%s); input will be re-delivered and skipped",
                        type(response).__name__)
        elif offsets is self._uncommitted:
            self._uncommitted = None

    def _publish(self, producer: KafkaProducer, alerts: list[Alert], dead: list[DeadLetter]) -> None:
        """Steps 3 and 4: alerts (and dead letters), flush; then changed states and tombstones, flush. A flush also
        returns when records FAILED (delivery timeout, refused): a failure raises, so the batch is read again."""
        engine = self.engine
        try:
            sent = [producer.send(self.topics.alerts, key=alert.kafka_key(), value=alert.to_json_bytes())
                    for alert in alerts]
            for letter in dead:
                sent.append(producer.send(self.topics.dead_letter, letter.to_json_bytes(), letter.kafka_key()))
                self.metrics.dead_letters.labels(letter.error_code).inc()
            if sent:  # nothing sent, nothing to wait for
                self._flush(producer)
                clients.raise_if_any_failed(sent, "alerts")
            sent = []
            for key in engine.changed_keys():
                data = engine.export_state(key)
                partition = self.partition_of.get(key)
                if data is not None and partition is not None:
                    sent.append(producer.send(self.topics.state, key=key.encode(), value=data, partition=partition))
            for key in engine.removed_keys():
                partition = self.partition_of.pop(key, None)
                if partition is not None and key not in engine.patients:
                    sent.append(producer.send(self.topics.state, key=key.encode(), value=None, partition=partition))
            self._flush(producer)
            clients.raise_if_any_failed(sent, "patient states")
        except KafkaError as exc:
            raise KafkaUnavailableError(f"detector could not publish a batch: {exc!r}") from exc

    def _flush(self, producer: KafkaProducer) -> None:
        """producer.flush for at most `flush_timeout_s` in 1 s slices: a stop ends the wait (batch re-read later)."""
        deadline = time.monotonic() + self.flush_timeout_s
        while True:
            try:
                producer.flush(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
                return
            except KafkaTimeoutError:
                if time.monotonic() >= deadline or self._stop.is_set():
                    raise
