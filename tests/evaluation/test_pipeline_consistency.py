"""The whole running pipeline gives the offline evaluation's alerts: MLLP -> Kafka -> detector -> alerts.

Real stays are replayed as HL7 v2.5 (ADT^A01 + one ORU^R01 per patient-hour) into the running HL7
worker (real MLLP socket, ACK after Kafka has the records); a DetectorStream consumes the shared input
topics and writes alert transitions to a throwaway topic. The oracle is the offline replay of the same
stays into the in-process DetectorEngine: the alert transitions (ids, levels, event times, content)
must be the same, apart from the processing time `emitted_at` and the inbound message's `correlation_id`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from detector.adapters.kafka_stream import DetectorStream, StreamTopics
from detector.core.engine import DetectorEngine
from evaluation.replay import ReplayOptions, run_replay
from evaluation.sinks import MllpSink, OfflineSink
from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import MllpSettings
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from schemas import Alert, decode_event
from schemas.topics import ALL_TOPICS, Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import WorkerThread

pytestmark = pytest.mark.integration

REAL = Path(__file__).parent / "data" / "physionet_sample"
STAYS = ("p000001.psv", "p000011.psv", "p000015.psv", "p000018.psv", "p000022.psv", "p000028.psv")
STATE_CONFIGS = next(t.configs for t in ALL_TOPICS if t.name == Topics.DETECTOR_STATE)
WAIT_S = 180.0


@pytest.fixture
def hl7_listener(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[WorkerThread]:
    producer = EventProducer(kafka_settings)
    ingest = IngestSettings(send_timeout_s=30)
    settings = Hl7WorkerSettings(mllp=MllpSettings(port=0, idle_timeout_s=120), load_dedup_on_start=False)

    def make() -> Hl7Worker:
        sink = KafkaEventSink(producer, raw_topic=settings.raw_topic, timeout_s=ingest.send_timeout_s)
        return Hl7Worker(ingest, settings, sink)

    thread = WorkerThread(make)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
        producer.close()


@pytest.fixture
def detector(kafka_settings: KafkaSettings, kafka_topics: dict[str, str],
             make_topic: Callable[..., str]) -> Iterator[DetectorStream]:
    topics = StreamTopics(alerts=make_topic(), state=make_topic(configs=STATE_CONFIGS), dead_letter=make_topic())
    # Stays replayed one after another are not one clock: feed-gap notices (docs/paging.md section 5) would
    # judge a patient against another's event times, and the offline engine has no stream to sweep.
    stream = DetectorStream(kafka_settings, group_id=f"consistency-{uuid.uuid4().hex[:8]}", topics=topics,
                            poll_timeout_ms=100, feed_gaps=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            stream.run(stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, name="consistency-detector", daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stop.set()
        thread.join(60)
        stream.close()
    assert not errors, errors


def _comparable(alert: Alert) -> dict[str, object]:
    data = alert.model_dump()
    # Allowed to differ: the processing time, and the id of the inbound message that caused the alert
    # (the live path traces it back to the HL7 message; the offline replay has no inbound message).
    data.pop("emitted_at")
    data.pop("correlation_id", None)
    return data


def _stream_alerts(settings: KafkaSettings, topic: str, prefix: str) -> list[Alert]:
    alerts = [decode_event(r.value) for r in read_all(settings, topic, timeout_s=60)]
    return [a for a in alerts if isinstance(a, Alert) and a.patient_key.startswith(prefix)]


def test_mllp_kafka_detector_alerts_equal_the_offline_evaluation(
        kafka_settings: KafkaSettings, hl7_listener: WorkerThread, detector: DetectorStream) -> None:
    prefix = f"cons-{uuid.uuid4().hex[:6]}-"
    files = [REAL / name for name in STAYS]
    options = ReplayOptions(order="time", key_prefix=prefix)

    expected: dict[str, Alert] = {}
    offline = OfflineSink(engine=DetectorEngine(), on_alert=lambda a: expected.__setitem__(a.alert_id, a))
    run_replay(files, offline, options, progress=False)
    assert len(expected) >= 6, "the sample must produce alert transitions to compare"

    assert hl7_listener.worker is not None
    sink = MllpSink(f"127.0.0.1:{hl7_listener.worker.port}", timeout_s=60)
    stats = run_replay(files, sink, options, progress=False)
    assert stats.extra["acks_rejected"] == 0
    assert stats.extra["acks_accepted"] == stats.messages + len(files)

    deadline = time.monotonic() + WAIT_S
    got: list[Alert] = []
    while time.monotonic() < deadline:
        got = _stream_alerts(kafka_settings, detector.topics.alerts, prefix)
        if len({a.alert_id for a in got}) >= len(expected):
            break
        time.sleep(2.0)
    time.sleep(3.0)  # anything extra (a divergence) would arrive right behind the last expected transition
    got = _stream_alerts(kafka_settings, detector.topics.alerts, prefix)

    by_id: dict[str, Alert] = {}
    for alert in got:  # at-least-once: a duplicate may only be an exact copy
        if alert.alert_id in by_id:
            assert _comparable(by_id[alert.alert_id]) == _comparable(alert)
        by_id[alert.alert_id] = alert
    assert sorted(by_id) == sorted(expected)
    for alert_id, alert in expected.items():
        assert _comparable(by_id[alert_id]) == _comparable(alert), alert_id
