"""`sepsis-alert notify` as a real process: ops endpoints, JSON delivery logs with the correlation id, SIGTERM.

The worker runs on the session broker's default topics in its own consumer group, pages a loopback
receiver, and is checked from outside as an operator would: /healthz, /readyz (the three checks),
/metrics (renamed notifier metrics and consumer lag), its stderr log lines, then a clean stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.broker import free_port
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.producer import EventProducer
from tests.notifier.helpers import make_alert, running_receiver

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec-worker-test-0123456789"
LINK_SECRET = "link-secret-worker-test-0123456789"
API_TOKEN = "api-token-worker-test-0123456789"
HOOK_TOKEN = "hooktoken0123456789abcdef"


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name]


def _wait(predicate, timeout_s: float, what: str, proc: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert proc.poll() is None, f"notify exited early ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.2)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def test_notify_process_serves_ops_endpoints_logs_correlation_ids_and_stops_on_sigterm(
        kafka_settings: KafkaSettings, kafka_topics: dict, tmp_path: Path) -> None:
    alert = make_alert(patient=f"P-{uuid.uuid4().hex[:8]}", level=3, correlation_id="hl7:LAB:CTRL-4242")
    ops_port, api_port = free_port(), free_port()
    with running_receiver() as rx:
        hook = rx.url(f"/hook/{HOOK_TOKEN}")
        config = tmp_path / "notifier.yaml"
        config.write_text(f"""receivers:
  - name: ward
    type: webhook
    url: {{value: "{hook}"}}
    secret: {{value: "{WEBHOOK_SECRET}"}}
route: {{receiver: ward}}
""")
        env = {**os.environ, "SEPSIS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
               "SEPSIS_NOTIFIER_CONSUMER_GROUP": f"notify-worker-{uuid.uuid4().hex[:8]}",
               "SEPSIS_NOTIFIER_LINK_SECRET": LINK_SECRET, "SEPSIS_NOTIFIER_API_TOKEN": API_TOKEN,
               "SEPSIS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
        env.pop("SEPSIS_OPS_PORT", None)
        log_path = tmp_path / "notify.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sepsis_alert.cli", "notify", "--config", str(config), "--api-port",
                 str(api_port), "--metrics-port", str(ops_port)],  # the deprecated alias still works
                cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{ops_port}"
        try:
            _wait(lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 200, 120, "/readyz 200",
                  proc)
            ready = httpx.get(f"{base}/readyz", timeout=5).json()
            assert set(ready["checks"]) == {"kafka_connected", "partitions_assigned", "state_loaded"}
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200

            with EventProducer(kafka_settings) as producer:
                producer.send_event(Topics.ALERTS, alert)
                producer.flush(30)
            path = f"/hook/{HOOK_TOKEN}"
            _wait(lambda: any(json.loads(r.body)["alert_id"] == alert.alert_id for r in rx.at(path)), 60,
                  "the page", proc)

            scrape = httpx.get(f"{base}/metrics", timeout=5).text
            delivered = _samples(scrape, "sepsis_notifier_deliveries_total")
            assert any(labels == {"receiver": "ward", "outcome": "delivered"} and value >= 1
                       for labels, value in delivered), delivered
            assert _samples(scrape, "sepsis_notifier_delivery_latency_seconds_count")
            assert _samples(scrape, "sepsis_kafka_consumer_assigned_partitions")[0][1] >= 1
            assert _samples(scrape, "sepsis_ready") == [({}, 1.0)]
            assert "\nnotifier_" not in scrape  # the old, unprefixed names are gone

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    text = log_path.read_text()
    assert "--metrics-port is deprecated" in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    delivery = [line for line in lines if line.get("alert_id") == alert.alert_id and line.get("outcome")]
    assert delivery, text[-3000:]
    assert delivery[0]["correlation_id"] == "hl7:LAB:CTRL-4242"
    assert delivery[0]["receiver"] == "ward" and delivery[0]["worker"] == "notify"
    assert any(line["msg"] == "notifier stopped" for line in lines)
    for secret in (WEBHOOK_SECRET, LINK_SECRET, API_TOKEN, HOOK_TOKEN):
        assert secret not in text
    for phi in (alert.patient_key, "NEWS2 7 (RR 26", "MICU"):  # no body, no reasons, no patient key
        assert phi not in json.dumps(delivery)
