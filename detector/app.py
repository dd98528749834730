"""Wiring of the `detect` worker: settings -> config -> metrics -> DetectorStream -> run until a signal.

Run as `sepsis-alert detect` (detector/commands_detect.py) or `python -m detector.app`.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from detector.adapters.kafka_stream import DetectorStream, StreamTopics
from detector.core.config import load_config
from detector.metrics import DetectorMetrics
from sepsis_alert.kafka.config import KafkaSettings

__all__ = ["DetectorSettings", "main", "run_detector"]

log = logging.getLogger("detector")


class DetectorSettings(BaseSettings):
    """Settings of the detector worker (environment prefix `SEPSIS_DETECTOR_`)."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_DETECTOR_", extra="ignore")

    config_path: Path | None = Field(default=None, description="detector rules YAML; None = the packaged "
                                     "detector/config/default.yaml")
    group_id: str = Field(default="sepsis-detector", min_length=1, description="Kafka consumer group shared "
                          "by every detector process")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="serve Prometheus /metrics on "
                                     "this port (None = do not serve)")
    metrics_host: str = Field(default="127.0.0.1", description="address the metrics endpoint binds to")
    max_poll_records: int = Field(default=5000, ge=1, le=100_000, description="records per processing batch")
    poll_timeout_ms: int = Field(default=200, ge=1, le=60_000, description="how long one poll waits for input")
    observations_topic: str = Field(default=StreamTopics.observations, description="input: observations")
    patient_events_topic: str = Field(default=StreamTopics.patient_events, description="input: patient events")
    care_events_topic: str = Field(default=StreamTopics.care_events, description="input: care events")
    alerts_topic: str = Field(default=StreamTopics.alerts, description="output: alert transitions")
    state_topic: str = Field(default=StreamTopics.state, description="output: compacted state changelog")
    dead_letter_topic: str = Field(default=StreamTopics.dead_letter, description="output: rejected records")

    def topics(self) -> StreamTopics:
        return StreamTopics(self.observations_topic, self.patient_events_topic, self.care_events_topic,
                            self.alerts_topic, self.state_topic, self.dead_letter_topic)


def run_detector(settings: DetectorSettings, kafka: KafkaSettings, stop: threading.Event | None = None) -> int:
    """Run one detector worker until `stop` is set (or SIGTERM/SIGINT in the main thread); returns 0."""
    config = load_config(settings.config_path)
    metrics = DetectorMetrics()
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    stream = DetectorStream(kafka, config, group_id=settings.group_id, topics=settings.topics(), metrics=metrics,
                            max_poll_records=settings.max_poll_records, poll_timeout_ms=settings.poll_timeout_ms)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    log.info("detector starting (group %s, rules version %s)", settings.group_id, config.rules_version)
    try:
        stream.run(stop)
    finally:
        stream.close()
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return run_detector(DetectorSettings(), KafkaSettings())


if __name__ == "__main__":
    raise SystemExit(main())
