"""Prometheus metrics of the detector worker (prometheus-client), fed from the engine's counters.

Every metric lives in the registry passed in (a fresh one by default), so several detectors can run in one
process (tests) and the ops server exposes only this worker's metrics.

`sepsis_detector_scorings_total` and `sepsis_detector_alert_transitions_total` carry a `unit` label
(Location.unit, "unknown" when not known). A hospital has tens of units, but the label comes from input
data, so its cardinality is capped: after `max_units` distinct values every new one is counted as "other".
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from detector.core.stats import EngineStats

__all__ = ["MAX_UNIT_LABELS", "OTHER_UNIT", "DetectorMetrics"]

_LEVEL_NAMES = {0: "none", 1: "review", 2: "urgent", 3: "emergency", 4: "critical"}

MAX_UNIT_LABELS = 64
"""Distinct `unit` label values per worker before new ones are folded into OTHER_UNIT."""

OTHER_UNIT = "other"


class DetectorMetrics:
    """Counters, gauges and histograms of one detector worker."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_units: int = MAX_UNIT_LABELS) -> None:
        self.registry = registry or CollectorRegistry()
        self.max_units = max_units
        self._units: set[str] = set()
        r = self.registry
        self.observations = Counter("sepsis_detector_observations", "observations consumed, by outcome "
                                    "(inserted, duplicate, late, future, retracted)", ["outcome"], registry=r)
        self.scored = Counter("sepsis_detector_scorings", "patient scorings (one per source message), by ward unit",
                              ["unit"], registry=r)
        self.stale = Counter("sepsis_detector_stale_scorings", "scorings whose heart rate, respiratory rate or "
                             "systolic BP was older than timing.cannot_rule_out_hours or missing: 'stale, cannot "
                             "rule out' (a feed gap or a patient off the monitor)", registry=r)
        self.events = Counter("sepsis_detector_events", "patient and care events consumed", ["kind"], registry=r)
        self.transitions = Counter("sepsis_detector_alert_transitions", "alert transitions emitted, by ward unit",
                                   ["level", "transition", "unit"], registry=r)
        self.dead_letters = Counter("sepsis_detector_dead_letters", "records dead-lettered", ["reason"], registry=r)
        self.skipped = Counter("sepsis_detector_replayed_records_skipped", "records skipped after a restore because "
                               "the restored state already reflected them", registry=r)
        self.patients = Gauge("sepsis_detector_patients", "patients held in state", registry=r)
        self.partitions = Gauge("sepsis_detector_partitions", "input partitions owned", registry=r)
        self.restore_seconds = Histogram("sepsis_detector_restore_seconds", "time to restore one partition's state "
                                         "from the changelog", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
                                         registry=r)
        self.restored_patients = Counter("sepsis_detector_restored_patients", "patient states restored", registry=r)
        self.event_time_lag = Gauge("sepsis_detector_event_time_lag_seconds", "processing time minus the newest "
                                    "event time of the last batch", registry=r)
        self.batch_seconds = Histogram("sepsis_detector_batch_seconds", "process + produce + commit time per batch",
                                       registry=r)
        self._seen = EngineStats()

    def update_from(self, stats: EngineStats) -> None:
        """Add the engine counters' growth since the previous call."""
        seen = self._seen
        for outcome, now, before in (("inserted", stats.inserted, seen.inserted),
                                     ("duplicate", stats.duplicates, seen.duplicates),
                                     ("late", stats.late_dropped, seen.late_dropped),
                                     ("future", stats.future_dropped, seen.future_dropped),
                                     ("retracted", stats.retracted, seen.retracted)):
            if now > before:
                self.observations.labels(outcome).inc(now - before)
        for unit, count in stats.scored_by_unit.items():
            grown = count - seen.scored_by_unit.get(unit, 0)
            if grown > 0:
                self.scored.labels(self.unit_label(unit)).inc(grown)
        if stats.stale_scorings > seen.stale_scorings:
            self.stale.inc(stats.stale_scorings - seen.stale_scorings)
        if stats.care_events > seen.care_events:
            self.events.labels("care_event").inc(stats.care_events - seen.care_events)
        if stats.patient_events > seen.patient_events:
            self.events.labels("patient_event").inc(stats.patient_events - seen.patient_events)
        for (level, transition, unit), count in stats.transitions_by_unit.items():
            grown = count - seen.transitions_by_unit.get((level, transition, unit), 0)
            if grown > 0:
                self.transitions.labels(_LEVEL_NAMES.get(level, str(level)), transition,
                                        self.unit_label(unit)).inc(grown)
        self._seen = stats.copy()

    def unit_label(self, unit: str) -> str:
        """`unit` itself while fewer than `max_units` distinct values were seen, else "other" for new ones."""
        units = self._units
        if unit in units:
            return unit
        if len(units) < self.max_units:
            units.add(unit)
            return unit
        return OTHER_UNIT

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics alone on host:port in a background thread (workers use the ops server instead)."""
        start_http_server(port, addr=host, registry=self.registry)
