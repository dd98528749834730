"""The `sepsis-alert detect` worker as operations sees it: a real subprocess on the session broker, its
/healthz, /readyz and /metrics, JSON logs naming records by coordinates, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from detector.adapters.kafka_stream import DetectorStream, StreamTopics
from devstack.broker import free_port
from schemas.topics import ALL_TOPICS, Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer, OutboundRecord
from sepsis_alert.ops.readiness import ReadinessRegistry
from tests.detector.adapters.test_kafka_stream import _committed_all, _events, _produce

pytestmark = pytest.mark.integration

STATE_CONFIGS = next(t.configs for t in ALL_TOPICS if t.name == Topics.DETECTOR_STATE)
MALFORMED = b'{"kind": "observation", "secret_body_marker": 1}'


@pytest.fixture
def topics(make_topic: Callable[..., str]) -> StreamTopics:
    return StreamTopics(observations=make_topic(), patient_events=make_topic(), care_events=make_topic(),
                        alerts=make_topic(), state=make_topic(configs=STATE_CONFIGS), dead_letter=make_topic())


def _wait_for(url: str, status: int, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status:
                return response
            last = response.text
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {timeout_s} s (last: {last!r})")


def _sample(metrics_text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines() if line.startswith(prefix))


def test_detect_subprocess_serves_ops_endpoints_and_stops_on_sigterm(kafka_settings: KafkaSettings,
                                                                     topics: StreamTopics, tmp_path: Path) -> None:
    events = _events(4)
    _produce(kafka_settings, topics.observations, events)
    with EventProducer(kafka_settings) as producer:
        producer.send_all([OutboundRecord(topics.observations, "pt-bad", MALFORMED)], 30)
    group = f"detector-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "SEPSIS_DETECTOR_POLL_TIMEOUT_MS": "100", "SEPSIS_LOG_LEVEL": "INFO",
           "SEPSIS_DETECTOR_OBSERVATIONS_TOPIC": topics.observations,
           "SEPSIS_DETECTOR_PATIENT_EVENTS_TOPIC": topics.patient_events,
           "SEPSIS_DETECTOR_CARE_EVENTS_TOPIC": topics.care_events,
           "SEPSIS_DETECTOR_ALERTS_TOPIC": topics.alerts, "SEPSIS_DETECTOR_STATE_TOPIC": topics.state,
           "SEPSIS_DETECTOR_DEAD_LETTER_TOPIC": topics.dead_letter}
    log_path = tmp_path / "detect.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen([sys.executable, "-m", "sepsis_alert.cli", "detect", "--ops-port", str(port),
                                   "--group-id", group], env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/healthz", 200, 60)
            ready = _wait_for(f"{base}/readyz", 200, 120).json()
            assert ready["ready"] and ready["failing"] == []
            assert set(ready["checks"]) == {"kafka_connected", "partitions_assigned", "state_restored"}
            assert ready["checks"]["partitions_assigned"]["detail"] == "6 partitions"
            _committed_all(kafka_settings, group, topics)
            scraped = httpx.get(f"{base}/metrics", timeout=10).text
            assert _sample(scraped, 'sepsis_detector_scorings_total{unit="unknown"}') > 0
            assert _sample(scraped, "sepsis_detector_alert_transitions_total{") > 0
            assert 'unit="unknown"' in next(line for line in scraped.splitlines()
                                            if line.startswith("sepsis_detector_alert_transitions_total{"))
            assert _sample(scraped, 'sepsis_detector_dead_letters_total{reason="invalid_event"}') == 1
            lag_lines = [line for line in scraped.splitlines() if line.startswith("sepsis_kafka_consumer_lag_records{")]
            assert any(f'group="{group}"' in line and f'topic="{topics.observations}"' in line for line in lag_lines)
            assert _sample(scraped, f'sepsis_kafka_consumer_assigned_partitions{{group="{group}"}}') == 18
            assert _sample(scraped, "sepsis_ready ") == 1
            assert 'worker="detect"' in next(line for line in scraped.splitlines()
                                             if line.startswith("sepsis_build_info{"))
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
    assert code == 0  # a clean exit: the loop stopped, the ops server and the Kafka clients closed
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all(line["worker"] == "detect" for line in lines)
    dead = [line for line in lines if line["msg"].startswith("detector dead-lettered")]
    assert len(dead) == 1
    assert dead[0]["topic"] == topics.observations and dead[0]["patient_key"] == "pt-bad"
    assert isinstance(dead[0]["partition"], int) and isinstance(dead[0]["offset"], int)
    assert "secret_body_marker" not in log_path.read_text()  # never a message body
    assert any(line["msg"] == "detector stopped" for line in lines)
    with pytest.raises(httpx.TransportError):  # the ops server is gone with the process
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


class _RecordingReadiness(ReadinessRegistry):
    """A real registry that also remembers every detail it was given (to see the restore progress)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[str, bool, str]] = []

    def set(self, name: str, ok: bool, detail: str = "") -> None:
        self.history.append((name, ok, detail))
        super().set(name, ok, detail)


def test_state_restored_is_false_while_restoring_then_true(kafka_settings: KafkaSettings,
                                                           topics: StreamTopics) -> None:
    readiness = _RecordingReadiness()
    stream = DetectorStream(kafka_settings, topics=topics, readiness=readiness)
    assert readiness.report().failing == ["kafka_connected", "partitions_assigned", "state_restored"]
    stream._assign({0, 1, 2})
    restoring = [detail for name, ok, detail in readiness.history if name == "state_restored" and not ok]
    assert restoring == ["restoring 0 of 3 partitions", "restoring 1 of 3 partitions", "restoring 2 of 3 partitions"]
    checks = {c.name: c for c in readiness.report().checks}
    assert checks["state_restored"].ok and checks["partitions_assigned"].ok
    assert checks["partitions_assigned"].detail == "3 partitions"
    stream._revoke({0, 1, 2})
    assert not {c.name: c for c in readiness.report().checks}["partitions_assigned"].ok
