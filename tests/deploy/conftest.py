"""Fixtures of the deployment tests: promtool (installed on first use) and every worker's real metrics.

`promtool` comes from Debian's `prometheus` package; deploy/scripts/ensure-promtool.sh installs it
when it is missing. If that fails, the tests that need it FAIL with the script's reason (never skip).
"""

from __future__ import annotations

import importlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"

# Each worker's metrics class: (worker, module, class name). The class takes `registry=`.
WORKER_METRICS: tuple[tuple[str, str, str], ...] = (
    ("ingest-hl7", "ingest.metrics_hl7", "Hl7Metrics"),
    ("ingest-fhir", "ingest.metrics_fhir", "FhirMetrics"),
    ("detect", "detector.metrics", "DetectorMetrics"),
    ("notify", "notifier.metrics", "NotifierMetrics"),
)


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, installing Debian's `prometheus` package if needed (fails the test if impossible)."""
    script = DEPLOY / "scripts" / "ensure-promtool.sh"
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{script} could not run: {exc}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"promtool is not available and could not be installed:\n{done.stdout}\n{done.stderr}",
                    pytrace=False)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class MetricsCatalogue:
    """Every worker's metrics registered on one registry, and the sample names they can produce."""

    registry: CollectorRegistry
    names: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)  # "worker: reason" for metrics classes not importable


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Sample names a registry can expose, including those of labelled metrics with no child yet."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "summary": ("_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",),
                "stateset": ("",), "unknown": ("",), "gaugehistogram": ("_bucket", "_gcount", "_gsum")}
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture(scope="session")
def metrics_catalogue() -> MetricsCatalogue:
    """The workers' real metrics classes plus the shared ops collectors, on a fresh registry."""
    from sepsis_alert.ops.feed_health import FeedActivity
    from sepsis_alert.ops.http import ReadinessCollector
    from sepsis_alert.ops.kafka_lag import ConsumerLag
    from sepsis_alert.ops.readiness import ReadinessRegistry

    registry = CollectorRegistry()
    catalogue = MetricsCatalogue(registry)
    for worker, module_name, class_name in WORKER_METRICS:
        try:
            metrics_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            catalogue.missing.append(f"{worker}: {module_name}.{class_name} not importable ({exc})")
            continue
        metrics_class(registry=registry)
    readiness = ReadinessRegistry()
    readiness.set("kafka_connected", True)
    registry.register(ReadinessCollector(readiness, "catalogue"))
    FeedActivity(registry).record("hl7v2", "LAB")
    ConsumerLag("sepsis-detector", registry).set({("sepsis.observations", 0): 3}, assigned=1)
    catalogue.names = sample_names(registry) | {"up"}
    return catalogue
