"""Write deploy/grafana/sepsis-alert-dashboard.json (run from the repository root after editing the panels).

    .venv/bin/python deploy/scripts/build_dashboard.py

The panels are listed here as (title, unit, PromQL, legend) so that a change is a one-line diff;
tests/deploy checks that every expression parses (promtool) and names metrics the workers export.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "grafana" / "sepsis-alert-dashboard.json"

Panel = tuple[str, str, list[tuple[str, str]]]  # title, unit, [(expr, legend)]

ROWS: list[tuple[str, list[Panel]]] = [
    ("Is it running?", [
        ("Workers up", "short", [("sum by (job) (up{job=~\"sepsis-.*\"})", "{{job}}")]),
        ("Ready instances", "short", [("sum by (job) (sepsis_ready)", "{{job}}")]),
        ("Failing readiness checks", "short",
         [("sum by (job, check) (1 - sepsis_readiness_check_passing)", "{{job}} {{check}}")]),
    ]),
    ("Ingest: are feeds flowing?", [
        ("Seconds since last message per feed", "s",
         [("max by (sender) (sepsis_hl7_last_message_age_seconds)", "HL7 {{sender}}"),
          ("max by (source, feed) (sepsis_ingest_feed_last_message_age_seconds)", "{{source}} {{feed}}")]),
        ("HL7 v2 messages / s by outcome", "ops",
         [("sum by (outcome) (rate(sepsis_hl7_messages_total[5m]))", "{{outcome}}")]),
        ("FHIR requests / s by outcome", "ops",
         [("sum by (outcome) (rate(sepsis_fhir_requests_total[5m]))", "{{outcome}}")]),
        ("HL7 ACK latency (p50, p95)", "s",
         [("histogram_quantile(0.5, sum by (le) (rate(sepsis_hl7_ack_latency_seconds_bucket[5m])))", "p50"),
          ("histogram_quantile(0.95, sum by (le) (rate(sepsis_hl7_ack_latency_seconds_bucket[5m])))", "p95")]),
        ("Events produced / s", "ops",
         [("sum by (kind) (rate(sepsis_hl7_events_total[5m]))", "HL7 {{kind}}"),
          ("sum by (kind) (rate(sepsis_fhir_events_total[5m]))", "FHIR {{kind}}")]),
        ("Dead letters / min by worker", "short",
         [("sum by (job) (rate({__name__=~\"(sepsis|notifier|detector|ingest)_.*dead_letters_total\"}[5m])) * 60",
           "{{job}}")]),
        ("Open MLLP connections", "short", [("sum(sepsis_hl7_mllp_connections)", "connections")]),
    ]),
    ("Kafka", [
        ("Consumer lag (records) by group", "short",
         [("sum by (group) (sepsis_kafka_consumer_lag_records)", "{{group}}")]),
        ("Assigned partitions by group", "short",
         [("sum by (group) (sepsis_kafka_consumer_assigned_partitions)", "{{group}}")]),
    ]),
    ("Detector: are alerts being computed?", [
        ("Observations / s by outcome", "ops",
         [("sum by (outcome) (rate(sepsis_detector_observations_total[5m]))", "{{outcome}}")]),
        ("Scorings / s", "ops", [("sum by (instance) (rate(sepsis_detector_scorings_total[5m]))", "{{instance}}")]),
        ("Event-time lag", "s", [("max by (instance) (sepsis_detector_event_time_lag_seconds)", "{{instance}}")]),
        ("Alert transitions / h by level and kind", "short",
         [("sum by (level, transition) (rate(sepsis_detector_alert_transitions_total[1h])) * 3600",
           "L{{level}} {{transition}}")]),
        ("Patients in state", "short", [("sum by (instance) (sepsis_detector_patients)", "{{instance}}")]),
        ("Partition restore time (p50, max bucket)", "s",
         [("histogram_quantile(0.5, sum by (le) (rate(sepsis_detector_restore_seconds_bucket[1h])))", "p50"),
          ("histogram_quantile(1, sum by (le) (rate(sepsis_detector_restore_seconds_bucket[1h])))", "max")]),
        ("Detector batch time p95", "s",
         [("histogram_quantile(0.95, sum by (le) (rate(sepsis_detector_batch_seconds_bucket[5m])))", "p95")]),
    ]),
    ("Notifier: are pages delivered?", [
        ("Deliveries / min by receiver and outcome", "short",
         [("sum by (receiver, outcome) (rate(sepsis_notifier_deliveries_total[5m])) * 60",
           "{{receiver}} {{outcome}}")]),
        ("Delivery latency p95 by receiver", "s",
         [("histogram_quantile(0.95, sum by (le, receiver) "
           "(rate(sepsis_notifier_delivery_latency_seconds_bucket[5m])))", "{{receiver}}")]),
        ("Retries / min by receiver", "short",
         [("sum by (receiver) (rate(sepsis_notifier_retries_total[5m])) * 60", "{{receiver}}")]),
        ("Escalations / h by reason", "short",
         [("sum by (reason) (rate(sepsis_notifier_escalations_total[1h])) * 3600", "{{reason}}")]),
        ("Time to acknowledge (p50, p90)", "s",
         [("histogram_quantile(0.5, sum by (le) (rate(sepsis_notifier_time_to_acknowledge_seconds_bucket[1h])))",
           "p50"),
          ("histogram_quantile(0.9, sum by (le) (rate(sepsis_notifier_time_to_acknowledge_seconds_bucket[1h])))",
           "p90")]),
        ("Silenced / deduplicated per hour", "short",
         [("sum(rate(sepsis_notifier_silenced_total[1h])) * 3600", "silenced"),
          ("sum by (reason) (rate(sepsis_notifier_deduplicated_total[1h])) * 3600", "dedup {{reason}}")]),
        ("Notifications dead-lettered (24 h)", "short",
         [("sum by (receiver) (increase(sepsis_notifier_dead_letters_total[24h]))", "{{receiver}}")]),
    ]),
]


def build() -> dict[str, object]:
    """The dashboard document (Grafana schema 39, a Prometheus data source chosen at import)."""
    panels: list[dict[str, object]] = []
    panel_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append({"type": "row", "id": panel_id, "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id += 1
        y += 1
        for index, (title, unit, queries) in enumerate(row_panels):
            panels.append({
                "type": "timeseries", "id": panel_id, "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": y + (index // 3) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [{"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend,
                             "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                            for n, (expr, legend) in enumerate(queries)],
            })
            panel_id += 1
        y += 8 * ((len(row_panels) + 2) // 3)
    return {
        "title": "Sepsis alert service",
        "uid": "sepsis-alert-service",
        "description": "Feeds, scoring and paging of the sepsis alert service (deploy/prometheus/alerts.yml "
                       "has the matching alert rules; docs/operations.md explains each panel).",
        "tags": ["sepsis-alert"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")
