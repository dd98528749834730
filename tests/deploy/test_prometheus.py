"""Alert rules, scrape config and dashboard queries: valid for promtool, and naming metrics the workers export."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client import generate_latest

from sepsis_alert.ops.http import start_ops_server
from tests.deploy.conftest import DEPLOY, MetricsCatalogue

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "sepsis-alert-dashboard.json"
_METRIC_PREFIXES = ("sepsis_", "notifier_", "detector_", "ingest_")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _promtool(promtool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _alert_exprs() -> dict[str, str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def _dashboard_exprs() -> dict[str, str]:
    doc = json.loads(DASHBOARD.read_text())
    return {f"{panel['title']} [{target['refId']}]": target["expr"]
            for panel in doc["panels"] for target in panel.get("targets", [])}


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label values and regexes in quotes are ignored)."""
    without_strings = _STRING.sub('""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    return {name for name in _IDENT.findall(without_labels) if name.startswith(_METRIC_PREFIXES)}


def test_alert_rules_pass_promtool(promtool: str) -> None:
    done = _promtool(promtool, "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_severity_summary_and_runbook() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert "runbook" not in rule["annotations"], f"{rule['alert']}: use runbook_url, not runbook"
            url = rule["annotations"]["runbook_url"]
            # Alertmanager and Grafana only link absolute URLs: the base comes from the external label.
            assert url.startswith("{{ $externalLabels.runbook_base }}/operations.md#"), rule["alert"]
            anchor = url.split("#", 1)[1]
            docs = (DEPLOY.parent / "docs" / "operations.md").read_text().lower()
            assert f'<a id="{anchor}"></a>' in docs, f"{rule['alert']}: runbook anchor #{anchor} missing"


def test_runbook_base_is_an_absolute_url_in_the_scrape_config() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"]["runbook_base"].startswith("https://")


def test_scrape_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    token = tmp_path / "metrics-token"
    token.write_text("token\n")
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text().replace(
        "/etc/prometheus/secrets/metrics-token", str(token))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    done = _promtool(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    # promtool has no "check expression": wrap each panel query in a recording rule and check those.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, expr in enumerate(_dashboard_exprs().values())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = _promtool(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_current() -> None:
    spec = importlib.util.spec_from_file_location("build_dashboard", DEPLOY / "scripts" / "build_dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert json.loads(DASHBOARD.read_text()) == json.loads(json.dumps(module.build())), (
        "the dashboard JSON is stale: run .venv/bin/python deploy/scripts/build_dashboard.py")


def test_rules_and_dashboard_name_metrics_the_workers_export(metrics_catalogue: MetricsCatalogue) -> None:
    unknown: dict[str, set[str]] = {}
    for where, expr in {**_alert_exprs(), **_dashboard_exprs()}.items():
        names = _metric_names(expr) - metrics_catalogue.names
        if names:
            unknown[where] = names
    listing = json.dumps({k: sorted(v) for k, v in unknown.items()}, indent=1)
    assert not metrics_catalogue.missing and not unknown, (
        f"metrics classes missing: {metrics_catalogue.missing}\n"
        f"rules / panels naming metrics no worker exports: {listing}")


def test_promtool_check_metrics_on_a_scrape_of_every_worker_metric(promtool: str,
                                                                    metrics_catalogue: MetricsCatalogue) -> None:
    with start_ops_server(0, registry=metrics_catalogue.registry, worker="catalogue") as server:
        scrape = httpx.get(f"{server.url}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert "sepsis_ready" in scrape.text
    done = _promtool(promtool, "check", "metrics", stdin=scrape.text)
    assert done.returncode == 0, f"promtool check metrics:\n{done.stdout}{done.stderr}"
    assert not metrics_catalogue.missing, f"not every worker's metrics could be checked: {metrics_catalogue.missing}"


def test_promtool_catches_a_badly_named_metric(promtool: str) -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge

    registry = CollectorRegistry()
    Gauge("sepsis_bad_total", "a gauge must not end in _total", registry=registry).set(1)
    Counter("sepsis_latency_milliseconds", "not base units", registry=registry).inc()
    done = _promtool(promtool, "check", "metrics", stdin=generate_latest(registry).decode())
    assert done.returncode != 0
