"""Slow consumer: the detector process is paused (SIGSTOP) while a large backlog builds up on its input, then
resumed. Back-pressure means it pulls the backlog in bounded batches: its memory grows by far less than
holding the backlog would cost, and it catches up without dying.

The backlog is deep rather than wide (few patients, many days), so the detector's own state stays small
(its windows are 24-72 h) and any growth comes from how it reads. The reference, measured in the same
run, is what holding the backlog as decoded Observations would take.
"""

from __future__ import annotations

import os
import signal
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.base import Source
from schemas.measures import MEASURES, Measure
from schemas.observation import Observation
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord
from tests.conftest import TopicFactory
from tests.faults.procs import WorkerProcess, group_lag, wait_until

pytestmark = pytest.mark.integration

PATIENTS = 40
HOURS = 24 * 30
VITALS = {Measure.HEART_RATE: (80.0, 40.0), Measure.RESPIRATORY_RATE: (16.0, 14.0), Measure.TEMPERATURE: (37.0, 2.0),
          Measure.SPO2: (97.0, -10.0), Measure.SYSTOLIC_BP: (120.0, -40.0), Measure.MEAN_BP: (85.0, -25.0)}
"""measure -> (start value, change over the stay): every patient drifts towards sepsis-like vitals."""


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _backlog(topic: str, tag: str) -> list[OutboundRecord]:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    received = datetime.now(UTC)
    records = []
    for p in range(PATIENTS):
        patient = f"{tag}-p{p:04d}"
        for hour in range(HOURS):
            for measure, (base, drift) in VITALS.items():
                value = round(base + drift * hour / HOURS)
                obs = Observation(patient_key=patient, measure=measure, code=MEASURES[measure].loinc[0],
                                  value=value, unit=MEASURES[measure].unit,
                                  effective_at=start + timedelta(hours=hour), received_at=received,
                                  source=Source.REPLAY, source_message_id=f"{patient}-{hour}",
                                  source_id=f"{patient}-{hour}-{measure.value}")
                records.append(OutboundRecord.from_event(topic, obs))
    return records


def test_paused_detector_catches_up_a_backlog_with_bounded_memory(kafka_settings: KafkaSettings,
                                                                  make_topic: TopicFactory, tmp_path: Path) -> None:
    topics = {name: make_topic() for name in ("obs", "pe", "care", "alerts", "dl")}
    state = make_topic(configs={"cleanup.policy": "compact"})
    group = f"faults-slow-{tmp_path.name}"
    inputs = [topics["obs"], topics["pe"], topics["care"]]
    env = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "SEPSIS_DETECTOR_GROUP_ID": group,
           "SEPSIS_DETECTOR_OBSERVATIONS_TOPIC": topics["obs"], "SEPSIS_DETECTOR_PATIENT_EVENTS_TOPIC": topics["pe"],
           "SEPSIS_DETECTOR_CARE_EVENTS_TOPIC": topics["care"], "SEPSIS_DETECTOR_ALERTS_TOPIC": topics["alerts"],
           "SEPSIS_DETECTOR_STATE_TOPIC": state, "SEPSIS_DETECTOR_DEAD_LETTER_TOPIC": topics["dl"]}
    detector = WorkerProcess("detector-slow", ["detect"], env, tmp_path)
    backlog = _backlog(topics["obs"], tmp_path.name[-8:])
    backlog_bytes = sum(len(r.value or b"") for r in backlog)
    with EventProducer(kafka_settings) as producer:
        try:
            detector.start()
            producer.send_all(backlog[:600], timeout_s=60)  # warm-up: the detector is assigned and consuming
            wait_until(lambda: group_lag(kafka_settings, group, inputs) == 0 or not detector.alive, 120,
                       f"the warm-up batch\n{detector.log_tail()}")
            assert detector.alive, detector.log_tail()
            assert detector.proc is not None
            pid = detector.proc.pid
            baseline = _rss_bytes(pid)
            os.kill(pid, signal.SIGSTOP)
            try:
                for start in range(600, len(backlog), 5000):
                    producer.send_all(backlog[start:start + 5000], timeout_s=120)
            finally:
                os.kill(pid, signal.SIGCONT)
            peak = baseline
            deadline = time.monotonic() + 300
            while group_lag(kafka_settings, group, inputs) > 0:
                assert detector.alive, f"the detector died catching up\n{detector.log_tail()}"
                assert time.monotonic() < deadline, f"no catch-up in 300 s\n{detector.log_tail()}"
                peak = max(peak, _rss_bytes(pid))
                time.sleep(0.2)
            peak = max(peak, _rss_bytes(pid))
        finally:
            detector.stop()
    growth = peak - baseline
    holding = _decoded_cost(backlog)
    assert growth < holding // 2, (
        f"detector RSS grew {growth / 2**20:.0f} MiB working through a backlog of {len(backlog)} records "
        f"({backlog_bytes / 2**20:.0f} MiB JSON); holding it decoded would take {holding / 2**20:.0f} MiB")


def _decoded_cost(records: list[OutboundRecord], sample: int = 5000) -> int:
    """Bytes that holding every record as a decoded Observation would take (extrapolated from a sample)."""
    step = max(1, len(records) // sample)
    chosen = records[::step]
    tracemalloc.start()
    try:
        kept = [Observation.model_validate_json(r.value or b"") for r in chosen]
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return int(used / max(1, len(kept)) * len(records))
