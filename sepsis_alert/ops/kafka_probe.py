"""A background readiness check: can this worker reach the Kafka cluster?

Workers that only produce (the ingest endpoints) have no consumer-group signal
to tell them the broker is gone, so this thread asks the cluster for its topic
list every `interval_s` seconds (processing time) and flips the
`kafka_connected` readiness check. Workers also call `report(ok)` from their own
send paths so a failure shows up at once instead of at the next probe.
"""

from __future__ import annotations

import logging
import threading

from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.errors import KafkaPlumbingError
from sepsis_alert.kafka.topics import list_topics
from sepsis_alert.ops.readiness import ReadinessRegistry

__all__ = ["KafkaProbe"]

log = logging.getLogger(__name__)


class KafkaProbe:
    """Periodically sets readiness check `check` from a real metadata request."""

    def __init__(self, settings: KafkaSettings, readiness: ReadinessRegistry, *, check: str = "kafka_connected",
                 interval_s: float = 5.0) -> None:
        self._settings = settings
        self._readiness = readiness
        self._check = check
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kafka-probe", daemon=True)
        readiness.register(check)

    def start(self) -> KafkaProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 15)

    def report(self, ok: bool, detail: str = "") -> None:
        """Record what a real send just showed (True after an acknowledged write)."""
        self._readiness.set(self._check, ok, detail)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                list_topics(self._settings)
            except KafkaPlumbingError as exc:
                self.report(False, f"cannot reach {self._settings.bootstrap_servers}: {type(exc).__name__}")
            except Exception as exc:  # a probe must never kill the worker
                log.warning("kafka readiness probe failed unexpectedly: %s", type(exc).__name__)
                self.report(False, type(exc).__name__)
            else:
                self.report(True)
            self._stop.wait(self._interval_s)
