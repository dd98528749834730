"""The detector on the REAL broker: end to end, kill -9 and restart, two detectors with a rebalance.

The oracle is the pure engine run over the same events: per patient the stream must produce exactly the
same alert transitions with the same ids (duplicates are allowed only as exact copies with the same id).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.partitioner.default import murmur2

from detector.adapters.kafka_stream import DetectorStream, StreamTopics
from detector.core.engine import DetectorEngine
from detector.core.escalation import STALE_TEXT
from detector.core.state import decode_state
from detector.core.window import event_seconds
from devstack.broker import free_port
from schemas import Alert, decode_event
from schemas.topics import ALL_TOPICS, Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.join_watch import JoinWatch
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord
from sepsis_alert.kafka.topics import create_topic
from tests.detector.builders import NORMAL, at, message

pytestmark = pytest.mark.integration

STATE_CONFIGS = next(t.configs for t in ALL_TOPICS if t.name == Topics.DETECTOR_STATE)
SICK = [{**NORMAL, "hr": 96, "rr": 21, "temp": 38.4},
        {**NORMAL, "hr": 112, "rr": 23, "temp": 38.6, "sbp": 98, "dbp": 60, "spo2": 94},
        {**NORMAL, "hr": 128, "rr": 28, "temp": 39.4, "sbp": 82, "dbp": 44, "spo2": 91, "acvpu": "V"}]


def _events(patients: int = 12) -> list:
    """Per patient: a few normal hours, deterioration, recovery (staggered so patients differ), in event-time
    order as a ward's feed sends them (patient by patient, a patient would look stale against the partition's
    watermark while the one before it is read, and the feed gap sweep would rightly say so)."""
    events = []
    for p in range(patients):
        key = f"pt-{p:03d}"
        rows = [NORMAL] * (1 + p % 3) + SICK[: 2 + p % 2] + [NORMAL] * 11
        for hour, values in enumerate(rows):
            events += message(key, at(hour + p * 0.1), **values)
    return sorted(events, key=lambda e: e.effective_at)  # stable: each message keeps its parts in order


def _expected(events: list) -> dict[str, Alert]:
    engine = DetectorEngine()
    out = {}
    for event in events:
        for alert in engine.process(event):
            out[alert.alert_id] = alert
    return out


def _comparable(alert: Alert) -> dict:
    data = alert.model_dump()
    data.pop("emitted_at")
    return data


@pytest.fixture
def topics(make_topic: Callable[..., str], kafka_settings: KafkaSettings) -> StreamTopics:
    names = StreamTopics(observations=make_topic(), patient_events=make_topic(), care_events=make_topic(),
                         alerts=make_topic(), state=make_topic(configs=STATE_CONFIGS), dead_letter=make_topic())
    _await_metadata(kafka_settings, [*names.inputs(), names.alerts, names.state, names.dead_letter])
    return names


def _await_metadata(settings: KafkaSettings, names: list[str], timeout_s: float = 60.0) -> None:
    """Wait until the broker's metadata shows every new topic with its 6 partitions: a consumer group that joins
    before that is assigned nothing and waits for the next metadata refresh (minutes), which on a busy machine
    made these tests time out."""
    consumer = KafkaConsumer(**settings.client_kwargs(), enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            consumer.topics()  # refreshes the metadata
            missing = [n for n in names if len(consumer.partitions_for_topic(n) or ()) != 6]
            if not missing:
                return
            assert time.monotonic() < deadline, f"no metadata for {missing} after {timeout_s} s"
            time.sleep(0.2)
    finally:
        consumer.close(autocommit=False)


def _produce(settings: KafkaSettings, topic: str, events: list) -> None:
    with EventProducer(settings) as producer:
        for start in range(0, len(events), 500):
            producer.send_all([OutboundRecord.from_event(topic, e) for e in events[start:start + 500]], 60)


def _committed_all(settings: KafkaSettings, group: str, topics: StreamTopics, timeout_s: float = 120.0,
                   fraction: float = 1.0) -> None:
    """Wait until the group committed `fraction` of every input partition's end offset (bounded)."""
    consumer = KafkaConsumer(**settings.client_kwargs(), group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics.inputs() for p in range(6)]
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while True:
            done = sum(consumer.committed(tp) or 0 for tp in tps)
            if done >= fraction * sum(end.values()):
                return
            assert time.monotonic() < deadline, f"detector committed {done} of {sum(end.values())} offsets"
            time.sleep(0.2)
    finally:
        consumer.close(autocommit=False)


def _restored_patients(port: int, timeout_s: float) -> float:
    """The detector's restored-patients counter, once its ops server answers and the counter is non-zero."""
    deadline = time.monotonic() + timeout_s
    restored = 0.0
    while time.monotonic() < deadline:
        try:
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        except httpx.TransportError:
            scraped = ""
        restored = next((float(line.split()[-1]) for line in scraped.splitlines()
                         if line.startswith("sepsis_detector_restored_patients_total")), 0.0)
        if restored > 0:
            break
        time.sleep(0.2)
    return restored


def _alerts(settings: KafkaSettings, topic: str) -> list[Alert]:
    return [decode_event(r.value) for r in read_all(settings, topic, timeout_s=60)]  # type: ignore[misc]


def _assert_same_alerts(actual: list[Alert], expected: dict[str, Alert]) -> None:
    got: dict[str, Alert] = {}
    for alert in actual:
        if alert.alert_id in got:  # a duplicate is only allowed as an exact copy (same id, same content)
            assert _comparable(got[alert.alert_id]) == _comparable(alert)
        got[alert.alert_id] = alert
    assert set(got) == set(expected), (sorted(set(expected) - set(got)), sorted(set(got) - set(expected)))
    for alert_id, alert in expected.items():
        assert _comparable(got[alert_id]) == _comparable(alert)


@contextmanager
def _detector(settings: KafkaSettings, topics: StreamTopics, group: str, **kwargs) -> Iterator[DetectorStream]:
    stream = DetectorStream(settings, group_id=group, topics=topics, poll_timeout_ms=100, **kwargs)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            stream.run(stop)
        except BaseException as exc:  # surfaced by the test below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"detector-{group}", daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stop.set()
        thread.join(60)
        stream.close()
    assert not errors, errors


def test_end_to_end_observations_to_alerts(kafka_settings: KafkaSettings, topics: StreamTopics) -> None:
    events = _events()
    expected = _expected(events)
    assert len(expected) >= 24
    _produce(kafka_settings, topics.observations, events)
    with EventProducer(kafka_settings) as producer:  # one malformed record: dead-lettered, the stream goes on
        producer.send_all([OutboundRecord(topics.observations, "pt-bad", b'{"kind": "observation"}')], 30)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with _detector(kafka_settings, topics, group) as stream:
        _committed_all(kafka_settings, group, topics)
        assert stream.engine.stats.observations == len(events)
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)
    dead = read_all(kafka_settings, topics.dead_letter, timeout_s=30)
    assert len(dead) == 1 and b"invalid_event" in dead[0].value
    states = read_all(kafka_settings, topics.state, timeout_s=30)
    assert {r.key.decode() for r in states} == {f"pt-{p:03d}" for p in range(12)}
    assert max(len(r.value) for r in states if r.value) < 4096


def _spawn(settings: KafkaSettings, topics: StreamTopics, group: str, metrics_port: int | None = None
           ) -> subprocess.Popen:
    env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "SEPSIS_DETECTOR_GROUP_ID": group, "SEPSIS_DETECTOR_MAX_POLL_RECORDS": "40",
           "SEPSIS_DETECTOR_POLL_TIMEOUT_MS": "100",
           "SEPSIS_DETECTOR_OBSERVATIONS_TOPIC": topics.observations,
           "SEPSIS_DETECTOR_PATIENT_EVENTS_TOPIC": topics.patient_events,
           "SEPSIS_DETECTOR_CARE_EVENTS_TOPIC": topics.care_events,
           "SEPSIS_DETECTOR_ALERTS_TOPIC": topics.alerts, "SEPSIS_DETECTOR_STATE_TOPIC": topics.state,
           "SEPSIS_DETECTOR_DEAD_LETTER_TOPIC": topics.dead_letter}
    # the deprecated SEPSIS_DETECTOR_METRICS_PORT still sets the ops port; else any free port (never 9403 in tests)
    if metrics_port is not None:
        env["SEPSIS_DETECTOR_METRICS_PORT"] = str(metrics_port)
    else:
        env["SEPSIS_OPS_PORT"] = "0"
    return subprocess.Popen([sys.executable, "-m", "detector.app"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_kill_and_restart_mid_stream_gives_the_same_alerts(kafka_settings: KafkaSettings,
                                                           topics: StreamTopics) -> None:
    events = _events()
    expected = _expected(events)
    _produce(kafka_settings, topics.observations, events)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    first = _spawn(kafka_settings, topics, group)
    try:
        _committed_all(kafka_settings, group, topics, fraction=0.4)
    finally:
        first.send_signal(signal.SIGKILL)  # no clean shutdown: mid-batch, offsets partly committed
        first.wait(30)
    partial = _alerts(kafka_settings, topics.alerts)
    assert 0 < len(partial) < len(expected) + 10
    port = free_port()
    second = _spawn(kafka_settings, topics, group, metrics_port=port)
    try:
        _committed_all(kafka_settings, group, topics, timeout_s=180)
        # the restarted detector rebuilt its patients from the changelog (when the first one had committed
        # everything before the kill, the wait above returns before the second has started: poll, bounded)
        assert _restored_patients(port, timeout_s=120) > 0
    finally:
        second.terminate()
        second.wait(30)
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)


def test_two_detectors_and_a_rebalance_mid_stream(kafka_settings: KafkaSettings, topics: StreamTopics) -> None:
    events = _events()
    expected = _expected(events)
    third = len(events) // 3
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with _detector(kafka_settings, topics, group, max_poll_records=50) as first:
        _produce(kafka_settings, topics.observations, events[:third])
        _committed_all(kafka_settings, group, topics)
        with _detector(kafka_settings, topics, group, max_poll_records=50) as second:
            _produce(kafka_settings, topics.observations, events[third:2 * third])
            deadline = time.monotonic() + 60
            while not (first.owned and second.owned):  # the group rebalanced: both own partitions
                assert time.monotonic() < deadline, "no rebalance"
                time.sleep(0.2)
            _committed_all(kafka_settings, group, topics)
            restored = second.metrics.restored_patients._value.get()
        # the second detector left (the first restores its partitions); then a third joins: two more rebalances
        _produce(kafka_settings, topics.observations, events[2 * third:])
        with _detector(kafka_settings, topics, group, max_poll_records=50):
            _committed_all(kafka_settings, group, topics)
    assert restored > 0
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)


class _CrashBeforeCommit(DetectorStream):
    """Dies after publishing alerts and state but before committing offsets: the worst crash point."""

    def _commit(self, consumer, commits) -> None:
        raise _Crash


class _Crash(Exception):
    pass


def test_state_newer_than_the_committed_offsets_is_not_applied_twice(kafka_settings: KafkaSettings,
                                                                     topics: StreamTopics) -> None:
    events = _events(6)
    expected = _expected(events)
    _produce(kafka_settings, topics.observations, events)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    crashing = _CrashBeforeCommit(kafka_settings, group_id=group, topics=topics, poll_timeout_ms=200,
                                  max_poll_records=200)
    crashing.start()
    try:
        deadline = time.monotonic() + 60
        with pytest.raises(_Crash):
            while time.monotonic() < deadline:
                crashing.poll_once()
    finally:
        crashing.close()
    assert read_all(kafka_settings, topics.state, timeout_s=30)  # the state went out, the offsets did not
    with _detector(kafka_settings, topics, group) as stream:
        _committed_all(kafka_settings, group, topics)
        skipped = stream.metrics.skipped._value.get()
    assert skipped > 0  # re-delivered records that the restored state already reflected were skipped
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)


def _same_partition_keys(count: int, partitions: int = 6) -> list[str]:
    """Patient keys the default partitioner (murmur2, what the producer uses) puts in one partition."""
    by_partition: dict[int, list[str]] = {}
    for n in range(1000):
        key = f"gap-{n:03d}"
        keys = by_partition.setdefault((murmur2(key.encode()) & 0x7FFFFFFF) % partitions, [])
        keys.append(key)
        if len(keys) == count:
            return keys
    raise AssertionError("no partition got enough keys")


def test_a_feed_that_stops_is_announced_stale_through_the_broker(kafka_settings: KafkaSettings,
                                                                 topics: StreamTopics) -> None:
    """One patient's feed stops while a neighbour's (same partition) goes on: the stream's watermark sweep
    announces the gap once ('cannot rule out', never a page), exactly as the pure engine's sweep at the
    partition's newest event time does, and the gap mark reaches the changelog."""
    stopped, going_on = _same_partition_keys(2)
    events = []
    for hour in range(14):
        if hour < 6:
            events += message(stopped, at(hour), **([NORMAL, NORMAL, *SICK, SICK[-1]][hour]))
        events += message(going_on, at(hour, 10), **NORMAL)
    oracle = DetectorEngine()
    expected: dict[str, Alert] = {}
    for alert in [a for event in events for a in oracle.process(event)] + oracle.sweep(event_seconds(at(13, 10))):
        expected[alert.alert_id] = alert
    notices = [a for a in expected.values() if a.cannot_rule_out and a.reasons == [STALE_TEXT]]
    assert len(notices) == 1 and notices[0].patient_key == stopped
    assert notices[0].event_time == at(9) + timedelta(seconds=1)
    _produce(kafka_settings, topics.observations, events)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with _detector(kafka_settings, topics, group, max_poll_records=40, feed_gaps=True) as stream:
        _committed_all(kafka_settings, group, topics)
        deadline = time.monotonic() + 30  # the sweep of the last batch is published with it
        while stream.engine.stats.stale_scorings < oracle.stats.stale_scorings:
            assert time.monotonic() < deadline, "no feed gap notice"
            time.sleep(0.2)
        assert stream.metrics.registry.get_sample_value("sepsis_detector_stale_scorings_total") == \
            oracle.stats.stale_scorings
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)
    states = {r.key.decode(): r.value for r in read_all(kafka_settings, topics.state, timeout_s=30)}
    mark = decode_state(states[stopped]).escalation.stale_mark_s
    assert mark == event_seconds(at(9)) + 1 - 4 * 3600


def _joined_ghost(settings: KafkaSettings, group: str, topics: list[str], timeout_s: float = 60.0) -> KafkaConsumer:
    """A group member that joins and then stops polling: a later member's join is held until the broker gives up
    on it (its rebalance timeout), which a worker sees as a join that never completes."""
    ghost = KafkaConsumer(**settings.client_kwargs(), group_id=group, enable_auto_commit=False,
                          max_poll_interval_ms=120_000, session_timeout_ms=60_000, heartbeat_interval_ms=3_000)
    ghost.subscribe(topics=topics)
    deadline = time.monotonic() + timeout_s
    while not ghost.assignment():
        assert time.monotonic() < deadline, "the ghost member was never assigned a partition"
        ghost.poll(timeout_ms=200)
    return ghost


def test_a_join_that_does_not_complete_restarts_the_clients_and_heals(kafka_settings: KafkaSettings,
                                                                      topics: StreamTopics) -> None:
    group = f"detector-{uuid.uuid4().hex[:8]}"
    ghost = _joined_ghost(kafka_settings, group, list(topics.inputs()))
    try:
        with _detector(kafka_settings, topics, group, join_watch=JoinWatch(limit_s=2, max_limit_s=4)) as stream:
            deadline = time.monotonic() + 60
            while stream.join_watch.rebuilds < 2:
                assert time.monotonic() < deadline, f"rebuilds: {stream.join_watch.rebuilds}"
                time.sleep(0.1)
            assert stream.failures >= 2 and not stream.owned
            ghost.close(autocommit=False)  # leaves the group: the held join completes
            deadline = time.monotonic() + 90
            while stream.owned != set(range(6)):
                assert time.monotonic() < deadline, f"partitions after the ghost left: {sorted(stream.owned)}"
                time.sleep(0.1)
            assert stream.readiness.is_ready(), stream.readiness.report()
    finally:
        ghost.close(autocommit=False)


def test_alerts_the_broker_refuses_are_never_committed_past(kafka_settings: KafkaSettings,
                                                            make_topic: Callable[..., str]) -> None:
    """A flush returns when records are decided, failed ones too (a delivery timeout through a long outage, a
    record the broker refuses). Here the alerts topic refuses every alert (max.message.bytes too small): the
    detector must not commit its input past them, so once the topic takes them every alert arrives. One record
    per batch makes each alert a batch of its own, the silent case (a batch of several is split and retried by
    kafka-python, which happens to raise)."""
    topics = StreamTopics(observations=make_topic(), patient_events=make_topic(), care_events=make_topic(),
                          alerts=make_topic(configs={"max.message.bytes": "256"}),
                          state=make_topic(configs=STATE_CONFIGS), dead_letter=make_topic())
    _await_metadata(kafka_settings, [*topics.inputs(), topics.alerts, topics.state, topics.dead_letter])
    events = _events(4)
    expected = _expected(events)
    _produce(kafka_settings, topics.observations, events)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with _detector(kafka_settings, topics, group, max_poll_records=1) as stream:
        deadline = time.monotonic() + 60
        while stream.failures < 2 and stream.engine.stats.observations < len(events):
            assert time.monotonic() < deadline, "the detector neither failed nor read its input"
            time.sleep(0.1)
        assert not _alerts(kafka_settings, topics.alerts)
        admin = KafkaAdminClient(**kafka_settings.client_kwargs())
        try:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topics.alerts,
                                                configs={"max.message.bytes": "1048588"})])
        finally:
            admin.close()
        _committed_all(kafka_settings, group, topics)
        failures = stream.failures
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), expected)
    assert failures >= 2, "refused alerts went unnoticed"


def test_a_missing_input_topic_is_named_and_the_detector_reads_it_once_it_exists(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str], caplog: pytest.LogCaptureFixture) -> None:
    """A topic name set wrong (or a topic not created yet) is not a silent empty assignment: readiness and the
    log name the topic, the detector retries, and once the topic exists it reads it from the start."""
    missing = f"t.missing-observations.{uuid.uuid4().hex[:8]}"
    topics = StreamTopics(observations=missing, patient_events=make_topic(), care_events=make_topic(),
                          alerts=make_topic(), state=make_topic(configs=STATE_CONFIGS), dead_letter=make_topic())
    _await_metadata(kafka_settings, [topics.patient_events, topics.care_events, topics.alerts, topics.state,
                                     topics.dead_letter])
    events = _events(4)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with caplog.at_level("WARNING", logger="detector.adapters.kafka_stream"), \
            _detector(kafka_settings, topics, group) as stream:
        deadline = time.monotonic() + 90
        while stream.failures < 1:
            assert time.monotonic() < deadline, "the detector never gave up waiting for the missing topic"
            time.sleep(0.2)
        assert missing in stream.readiness.report().as_dict()["checks"]["kafka_connected"]["detail"]
        assert not stream.readiness.is_ready()
        assert any(missing in r.getMessage() for r in caplog.records)
        create_topic(kafka_settings, missing, 6)
        _await_metadata(kafka_settings, [missing])
        _produce(kafka_settings, missing, events)
        _committed_all(kafka_settings, group, topics)
        assert stream.engine.stats.observations == len(events)
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), _expected(events))


def test_a_restore_longer_than_the_session_timeout_keeps_the_member_in_the_group(
        kafka_settings: KafkaSettings, topics: StreamTopics, monkeypatch: pytest.MonkeyPatch) -> None:
    """Restoring six partitions takes 15 s here (each changelog read slowed by 2.5 s), longer than the 10 s
    session timeout. Heartbeats must go on meanwhile: the member keeps its partitions, restores each once, and
    reads its input. (A restore inside the rebalance callback blocked kafka-python's network thread, so the
    member was evicted and every rejoin restored again: nothing was ever committed.)"""
    from detector.adapters import kafka_stream

    real_restore = kafka_stream.restore_partition
    restores: list[int] = []

    def slow_restore(settings: KafkaSettings, state_topic: str, partition: int) -> dict[str, bytes | None]:
        restores.append(partition)
        time.sleep(2.5)
        return real_restore(settings, state_topic, partition)

    monkeypatch.setattr(kafka_stream, "restore_partition", slow_restore)
    events = _events(6)
    _produce(kafka_settings, topics.observations, events)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    with _detector(kafka_settings, topics, group) as stream:
        _committed_all(kafka_settings, group, topics, timeout_s=120)
        assert stream.readiness.is_ready()
        failures = stream.failures
    assert sorted(restores) == list(range(6)), restores
    assert failures == 0
    _assert_same_alerts(_alerts(kafka_settings, topics.alerts), _expected(events))
