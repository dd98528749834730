"""The detect worker and the risk model: refuse to start (exit 2) or run without it, visibly."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from detector.app import check_risk_model, report_risk_model
from detector.core.config import DetectorConfig, RiskModelConfig
from detector.core.engine import DetectorEngine
from detector.core.risk import RiskModelError
from detector.metrics import DetectorMetrics
from sepsis_alert.ops.readiness import ReadinessRegistry


def _gauge(metrics: DetectorMetrics) -> float | None:
    return metrics.registry.get_sample_value("sepsis_detector_risk_model_active")


def test_detect_exits_2_naming_the_missing_model(tmp_path: Path) -> None:
    missing = tmp_path / "gone.json"
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"risk_model:\n  path: {missing}\n")
    # No broker is needed: the model is checked before anything connects.
    done = subprocess.run([sys.executable, "-m", "sepsis_alert.cli", "detect", "--config", str(rules)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"risk model file {missing} does not exist" in done.stderr
    assert "risk_model.required" in done.stderr


def test_check_refuses_a_required_model_and_accepts_an_optional_one(tmp_path: Path) -> None:
    with pytest.raises(RiskModelError, match="cannot start: risk model file"):
        check_risk_model(DetectorConfig(risk_model=RiskModelConfig(path=tmp_path / "x.json")))
    check_risk_model(DetectorConfig(risk_model=RiskModelConfig(path=tmp_path / "x.json", required=False)))
    check_risk_model(DetectorConfig())


def test_running_without_the_model_is_logged_exported_and_shown_on_readyz(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = DetectorEngine(DetectorConfig(risk_model=RiskModelConfig(path=tmp_path / "x.json", required=False)))
    metrics, readiness = DetectorMetrics(), ReadinessRegistry()
    with caplog.at_level(logging.WARNING, logger="detector"):
        detail = report_risk_model(engine, metrics, readiness)
    assert "WITHOUT the risk model" in detail and "does not exist" in detail
    assert any("running without it" in r.getMessage() for r in caplog.records)
    assert _gauge(metrics) == 0.0
    check = next(c for c in readiness if c.name == "risk_model")
    assert check.ok and check.detail.startswith("running WITHOUT the risk model") and detail.startswith(check.detail)


def test_loaded_and_disabled_models_are_reported() -> None:
    metrics, readiness = DetectorMetrics(), ReadinessRegistry()
    detail = report_risk_model(DetectorEngine(), metrics, readiness)
    assert detail.startswith("model risk-") and "level 2 at" in detail and _gauge(metrics) == 1.0
    metrics = DetectorMetrics()
    detail = report_risk_model(DetectorEngine(DetectorConfig(risk_model=RiskModelConfig(enabled=False))), metrics,
                               readiness)
    assert "disabled" in detail and _gauge(metrics) == 0.0
    assert [c.name for c in readiness] == [], "the readiness check only appears when running degraded"
