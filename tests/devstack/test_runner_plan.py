"""`sepsis-alert run`'s plan: only 127.0.0.1, missing workers reported, a notifier config the notifier accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from devstack.runner import WORKER_ORDER, available_commands, notifier_config, plan_workers, stop_outcome
from sepsis_alert.cli import build_parser


def test_missing_workers_are_reported_not_fatal(tmp_path: Path) -> None:
    commands = {"ingest-hl7": {"--host", "--port", "--ops-port"}, "notify": {"--config", "--metrics-port"}}
    plans, missing = plan_workers(commands, "127.0.0.1:9092", tmp_path)
    assert [p.name for p in plans] == ["ingest-hl7", "notify"]
    assert missing == ["ingest-fhir", "detect"]
    hl7, notify = plans
    assert hl7.probe_path == "/readyz" and "--ops-port" in hl7.argv
    assert notify.probe_path == "/metrics" and "--metrics-port" in notify.argv


def test_everything_points_at_loopback(tmp_path: Path) -> None:
    plans, missing = plan_workers({name: {"--ops-port", "--dev"} for name in WORKER_ORDER}, "127.0.0.1:9092",
                                  tmp_path)
    assert not missing
    for plan in plans:
        assert plan.env["SEPSIS_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
        assert plan.env["SEPSIS_OPS_HOST"] == "127.0.0.1"
        assert plan.ops_url is not None and plan.ops_url.startswith("http://127.0.0.1:")
        for value in plan.links.values():
            assert "127.0.0.1:" in value
        hosts = [plan.argv[i + 1] for i, arg in enumerate(plan.argv) if arg == "--host"]
        assert all(host == "127.0.0.1" for host in hosts)


def test_generated_notifier_config_is_valid_and_local() -> None:
    from notifier.config import parse_config

    text = notifier_config("http://127.0.0.1:8765", "s" * 32)
    config = parse_config(yaml.safe_load(text))
    assert {r.type for r in config.receivers} == {"slack", "teams", "pagerduty", "webhook"}
    urls = [line.split('"')[1] for line in text.splitlines() if "url:" in line]
    assert urls and all(url.startswith("http://127.0.0.1:8765/") for url in urls)


def test_run_and_local_receiver_are_registered() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = available_commands(subparsers)
    assert {"--duration", "--patients", "--speed", "--no-replay"} <= commands["run"]
    assert "local-receiver" in commands


def test_the_stop_summary_tells_a_clean_stop_from_a_kill() -> None:
    assert stop_outcome(0) == "stopped"
    assert stop_outcome(-15) == "stopped on SIGTERM"  # uvicorn re-raises the SIGTERM it handled
    assert stop_outcome(-9).startswith("killed")
    assert stop_outcome(None) == "still running after SIGKILL"
    assert stop_outcome(3) == "stopped with exit status 3"
