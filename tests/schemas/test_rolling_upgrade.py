"""Rolling upgrade on the REAL broker: this release's consumers read what a producer one release ahead writes.

A "new producer" writes raw records the way a later release would: a minor version 1.1 with fields this
release does not know (top level and nested), and a major version 2.0. The consumers as shipped (the detector
worker process, the notifier's alert source) score / deliver the 1.1 events and refuse the 2.0 ones to the
dead-letter path with a reason naming the version.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from notifier.adapters.kafka_in import AlertSource
from schemas import MEASURES, Alert, AlertLevel, AlertTransition, Location, Measure, Observation, Source, decode_event
from schemas.topics import ALL_TOPICS, Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SEPTIC: dict[Measure, float | str] = {Measure.HEART_RATE: 128, Measure.RESPIRATORY_RATE: 28, Measure.TEMPERATURE: 39.4,
          Measure.SYSTOLIC_BP: 82, Measure.DIASTOLIC_BP: 44, Measure.SPO2: 91, Measure.CONSCIOUSNESS: "V",
          Measure.ON_OXYGEN: 0}
STATE_CONFIGS = next(t.configs for t in ALL_TOPICS if t.name == Topics.DETECTOR_STATE)


def _observations(key: str, hours: int = 3) -> list[Observation]:
    out = []
    for hour in range(hours):
        when = T0 + timedelta(hours=hour)
        for part, (measure, value) in enumerate(SEPTIC.items()):
            out.append(Observation(
                patient_key=key, measure=measure, code="upgrade-test", unit=MEASURES[measure].unit,
                value=None if isinstance(value, str) else float(value),
                value_code=value if isinstance(value, str) else None, effective_at=when,
                received_at=when + timedelta(minutes=1), source=Source.REPLAY, source_message_id=f"{key}-{hour}",
                source_id=f"{key}-{hour}-{measure.value}", part=part, parts=len(SEPTIC),
                location=Location(unit="4W", bed="7")))
    return out


def _as_written_by_a_later_release(event: Observation | Alert, version: str, **added: Any) -> bytes:
    data: dict[str, Any] = orjson.loads(event.to_json_bytes())
    data.update(schema_version=version, **added)
    if data.get("location") is not None:
        data["location"]["floor"] = "4"
    return orjson.dumps(data)


def _produce_raw(settings: KafkaSettings, topic: str, records: list[tuple[str, bytes]]) -> None:
    with EventProducer(settings) as producer:
        for key, value in records:
            producer.send(topic, key, value)
        producer.flush(30)


def test_the_detector_as_shipped_scores_a_newer_minor_and_dead_letters_a_newer_major(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str]) -> None:
    topics = {"OBSERVATIONS": make_topic(), "PATIENT_EVENTS": make_topic(), "CARE_EVENTS": make_topic(),
              "ALERTS": make_topic(), "STATE": make_topic(configs=STATE_CONFIGS), "DEAD_LETTER": make_topic()}
    minor, major = "pt-upgrade-minor", "pt-upgrade-major"
    records = [(minor, _as_written_by_a_later_release(o, "1.1", device_id="monitor-7"))
               for o in _observations(minor)]
    records += [(major, _as_written_by_a_later_release(o, "2.0")) for o in _observations(major, hours=1)]
    _produce_raw(kafka_settings, topics["OBSERVATIONS"], records)
    env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "SEPSIS_DETECTOR_GROUP_ID": f"upgrade-{uuid.uuid4().hex[:8]}", "SEPSIS_OPS_PORT": "0",
           "SEPSIS_DETECTOR_POLL_TIMEOUT_MS": "100",
           **{f"SEPSIS_DETECTOR_{name}_TOPIC": topic for name, topic in topics.items()}}
    detector = subprocess.Popen([sys.executable, "-m", "detector.app"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        dead = read_all(kafka_settings, topics["DEAD_LETTER"], timeout_s=90, expected=len(SEPTIC))
        alerts = read_all(kafka_settings, topics["ALERTS"], timeout_s=60, expected=1)
    finally:
        detector.terminate()
        detector.wait(30)
    decoded = [decode_event(r.value) for r in alerts]
    assert decoded and all(isinstance(a, Alert) and a.patient_key == minor for a in decoded)
    assert max(a.level for a in decoded if isinstance(a, Alert)) >= AlertLevel.EMERGENCY
    assert len(dead) == len(SEPTIC)  # every 2.0 record, and nothing of the 1.1 patient
    letters = [orjson.loads(r.value) for r in dead]
    assert {d["patient_key"] for d in letters} == {major}
    assert {d["error_code"] for d in letters} == {"unsupported_schema_version"}
    assert all("schema version 2.0 is not readable" in d["error_message"] for d in letters)


def _alert(key: str) -> Alert:
    return Alert(patient_key=key, alert_id=f"ep-{key}-0000", episode_id=f"ep-{key}", sequence=0,
                 level=AlertLevel.URGENT, transition=AlertTransition.OPENED, event_time=T0, emitted_at=T0,
                 reasons=["NEWS2 6"])


def test_the_notifier_alert_source_as_shipped_reads_a_newer_minor_and_refuses_a_newer_major(
        kafka_settings: KafkaSettings, make_topic: Callable[..., str]) -> None:
    topic = make_topic(1)
    _produce_raw(kafka_settings, topic, [
        ("pt-a", _as_written_by_a_later_release(_alert("pt-a"), "1.3", acuity_colour="amber")),
        ("pt-b", _as_written_by_a_later_release(_alert("pt-b"), "2.0"))])

    async def poll_both() -> list[Any]:
        source = AlertSource(kafka_settings, f"upgrade-{uuid.uuid4().hex[:8]}", topic=topic)
        try:
            got: list[Any] = []
            for _ in range(200):
                got += await source.poll(100)
                if len(got) >= 2:
                    break
            return got
        finally:
            source.close()

    first, second = sorted(asyncio.run(poll_both()), key=lambda r: r.offset)
    assert first.alert is not None and first.alert.patient_key == "pt-a" and first.error == ""
    assert second.alert is None
    assert second.error.startswith("schema version 2.0 is not readable by this worker, which reads 1.x")
