"""Detector metrics: engine counters become Prometheus series, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx

from detector.core.engine import DetectorEngine
from detector.metrics import DetectorMetrics
from devstack.broker import free_port
from schemas import Measure
from schemas.base import Location
from tests.detector.builders import NORMAL, at, feed, message, obs
from tests.detector.core.test_engine import _deteriorating


def test_engine_counters_are_exported_as_deltas() -> None:
    engine = DetectorEngine()
    metrics = DetectorMetrics()
    feed(engine, _deteriorating())
    engine.process(obs("p1", Measure.HEART_RATE, 80, at(0, 1)))  # far behind: late, dropped
    metrics.update_from(engine.stats)
    metrics.update_from(engine.stats)  # no growth: nothing added twice
    value = metrics.registry.get_sample_value
    assert value("sepsis_detector_observations_total", {"outcome": "inserted"}) == engine.stats.inserted
    assert value("sepsis_detector_scorings_total", {"unit": "unknown"}) == engine.stats.scored
    assert value("sepsis_detector_alert_transitions_total",
                 {"level": "urgent", "transition": "opened", "unit": "unknown"}) == 1
    assert value("sepsis_detector_alert_transitions_total",
                 {"level": "none", "transition": "resolved", "unit": "unknown"}) == 1
    feed(engine, message("p2", at(0), **NORMAL))
    metrics.update_from(engine.stats)
    assert value("sepsis_detector_scorings_total", {"unit": "unknown"}) == engine.stats.scored


def test_unit_label_cardinality_is_capped() -> None:
    engine = DetectorEngine()
    metrics = DetectorMetrics(max_units=2)
    for n, unit in enumerate(("MICU", "4W", "5E", "6N")):
        events = [e.model_copy(update={"location": Location(unit=unit)}) for e in message(f"p{n}", at(0), **NORMAL)]
        feed(engine, events)
    metrics.update_from(engine.stats)
    value = metrics.registry.get_sample_value
    assert value("sepsis_detector_scorings_total", {"unit": "MICU"}) == 1
    assert value("sepsis_detector_scorings_total", {"unit": "4W"}) == 1
    assert value("sepsis_detector_scorings_total", {"unit": "other"}) == 2  # 5E and 6N folded together
    assert value("sepsis_detector_scorings_total", {"unit": "5E"}) is None


def test_metrics_endpoint_serves_prometheus_text() -> None:
    metrics = DetectorMetrics()
    metrics.patients.set(3)
    port = free_port()
    metrics.serve(port)
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "sepsis_detector_patients 3.0" in body
    assert "sepsis_detector_restore_seconds_bucket" in body
