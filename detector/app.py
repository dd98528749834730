"""Wiring of the `detect` worker: settings -> config -> metrics + ops server -> DetectorStream -> run.

Run as `sepsis-alert detect` (detector/commands_detect.py) or `python -m detector.app`. The ops server
(/metrics, /healthz, /readyz; sepsis_alert.ops) serves the detector's own metrics registry, consumer lag and
the readiness checks `kafka_connected`, `partitions_assigned` and `state_restored`. SIGTERM / SIGINT stop
the poll loop after the current batch; then the ops server stops and the Kafka clients close.

The learned risk model (config `risk_model`) is loaded and checked before anything connects: a missing or
mismatched artifact stops the start with RiskModelError (`sepsis-alert detect` exits 2 with its text), unless
`risk_model.required` is false; then the worker runs without it, logs a warning, exports
`sepsis_detector_risk_model_active 0` and says why in a readiness check `risk_model` (which passes: running
without the model is what the configuration asked for). That check appears only in this degraded mode; when
the model is served (or disabled on purpose) the gauge and the start-up log say so.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from prometheus_client import Gauge
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from detector.adapters.kafka_stream import DetectorStream, StreamTopics
from detector.core.config import DetectorConfig, load_config
from detector.core.engine import DetectorEngine
from detector.core.risk import RiskModelError
from detector.metrics import DetectorMetrics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.ops.http import start_ops_server_from_settings
from sepsis_alert.ops.kafka_probe import KafkaProbe
from sepsis_alert.ops.logging import configure_logging
from sepsis_alert.ops.readiness import ReadinessRegistry
from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings

__all__ = ["DetectorSettings", "check_risk_model", "kafka_secrets", "main", "report_risk_model", "run_detector"]

log = logging.getLogger("detector")

KAFKA_PROBE_INTERVAL_S = 2.0
"""Seconds between readiness probes of the cluster (the `kafka_connected` check)."""


class DetectorSettings(BaseSettings):
    """Settings of the detector worker (environment prefix `SEPSIS_DETECTOR_`)."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_DETECTOR_", extra="ignore")

    config_path: Path | None = Field(default=None, description="detector rules YAML; None = the packaged "
                                     "detector/config/default.yaml")
    group_id: str = Field(default="sepsis-detector", min_length=1, description="Kafka consumer group shared "
                          "by every detector process")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="DEPRECATED alias of "
                                     "SEPSIS_OPS_PORT: the ops server (/metrics, /healthz, /readyz) port")
    metrics_host: str | None = Field(default=None, description="DEPRECATED alias of SEPSIS_OPS_HOST")
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


def kafka_secrets(kafka: KafkaSettings) -> list[str]:
    """Secret values of the Kafka settings, for the log redactor (the SASL password when set)."""
    return [kafka.sasl_password.get_secret_value()] if kafka.sasl_password is not None else []


def _ops_settings(settings: DetectorSettings, ops: OpsSettings | None) -> OpsSettings:
    """`ops` as given, else SEPSIS_OPS_* with the deprecated SEPSIS_DETECTOR_METRICS_* as overrides."""
    if ops is not None:
        return ops
    overrides: dict[str, object] = {}
    if settings.metrics_port is not None:
        overrides["port"] = settings.metrics_port
    elif "SEPSIS_OPS_PORT" not in os.environ:
        overrides["port"] = DEFAULT_OPS_PORTS["detect"]
    if settings.metrics_host is not None:
        overrides["host"] = settings.metrics_host
    return OpsSettings(**overrides)  # type: ignore[arg-type]


def report_risk_model(engine: DetectorEngine, metrics: DetectorMetrics, readiness: ReadinessRegistry) -> str:
    """Log and export (gauge `sepsis_detector_risk_model_active`) whether the risk model is served, and add the
    passing readiness check `risk_model` with the reason when an enabled model is NOT served; returns the
    status text. Never logs patient data (only the artifact path and version)."""
    active = Gauge("sepsis_detector_risk_model_active", "1 when the learned risk model is loaded and scores every "
                   "patient, 0 when disabled or unavailable (see /readyz check risk_model)", registry=metrics.registry)
    risk_config = engine.config.risk_model
    if engine.risk is not None:
        model = engine.risk.scorer.model
        levels = ", ".join(f"level {level} at {threshold:.3f}" for level, threshold in sorted(engine.risk.levels))
        detail = f"model {model.version} (hash {model.content_hash}) loaded: {levels}"
        log.info("risk model %s loaded from %s (%s)", model.version, engine.risk_model_path, levels)
        active.set(1)
    elif not risk_config.enabled:
        detail = "disabled by configuration (risk_model.enabled: false)"
        active.set(0)
    else:
        detail = f"running WITHOUT the risk model (risk_model.required: false): {engine.risk_unavailable}"
        log.warning("risk model unavailable, running without it (risk_model.required is false): %s",
                    engine.risk_unavailable)
        active.set(0)
        readiness.set("risk_model", True, detail)
    return detail


def check_risk_model(config: DetectorConfig) -> None:
    """Raise RiskModelError naming the config setting when a required model cannot be served."""
    try:
        DetectorEngine(config)  # loads and checks the artifact (cached for the stream's own engine)
    except RiskModelError as exc:
        raise RiskModelError(f"cannot start: {exc} (risk_model.required is true; set it to false to run without "
                             "the model)") from exc


def run_detector(settings: DetectorSettings, kafka: KafkaSettings, stop: threading.Event | None = None, *,
                 ops: OpsSettings | None = None) -> int:
    """Run one detector worker until `stop` is set (or SIGTERM/SIGINT in the main thread); returns 0.

    `ops` defaults to the SEPSIS_OPS_* settings (port 9403 unless set). Raises RiskModelError (a ValueError)
    when a required risk model is missing or does not match the code, before connecting anywhere;
    OpsServerError when the ops port is taken. An unreachable cluster does not end it: the stream retries
    with back-off and /readyz says not-ready meanwhile (issue #20).
    """
    config = load_config(settings.config_path)
    check_risk_model(config)
    metrics = DetectorMetrics()
    readiness = ReadinessRegistry()
    stream = DetectorStream(kafka, config, group_id=settings.group_id, topics=settings.topics(), metrics=metrics,
                            max_poll_records=settings.max_poll_records, poll_timeout_ms=settings.poll_timeout_ms,
                            readiness=readiness)
    report_risk_model(stream.engine, metrics, readiness)
    ops_server = start_ops_server_from_settings(_ops_settings(settings, ops), readiness=readiness,
                                                registry=metrics.registry, worker="detect")
    # A poll during a broker outage just returns nothing: only a real request tells (issue #20).
    probe = KafkaProbe(kafka, readiness, interval_s=KAFKA_PROBE_INTERVAL_S).start()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    log.info("detector starting (group %s, rules version %s)", settings.group_id, config.rules_version,
             extra={"ops_url": ops_server.url if ops_server is not None else None})
    try:
        stream.run(stop)
    finally:
        probe.stop()
        if ops_server is not None:
            ops_server.stop()
        stream.close()
        log.info("detector stopped")
    return 0


def main() -> int:
    """`python -m detector.app`: settings from the environment only; JSON logs at $SEPSIS_LOG_LEVEL."""
    kafka = KafkaSettings()
    configure_logging("detect", os.environ.get("SEPSIS_LOG_LEVEL", "INFO"), secrets=kafka_secrets(kafka))
    return run_detector(DetectorSettings(), kafka)


if __name__ == "__main__":
    raise SystemExit(main())
