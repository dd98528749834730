"""Which ops port `sepsis-alert notify` uses: flags, SEPSIS_OPS_PORT, the deprecated metrics port, the default."""

from __future__ import annotations

import argparse

import pytest

from notifier.cli import register
from notifier.config import NotifierSettings
from notifier.worker import ops_settings_for
from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings


def test_default_is_the_notifier_ops_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPSIS_OPS_PORT", raising=False)
    assert ops_settings_for(NotifierSettings(), None).port == DEFAULT_OPS_PORTS["notify"] == 9404


def test_deprecated_metrics_port_applies_only_without_sepsis_ops_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPSIS_OPS_PORT", raising=False)
    assert ops_settings_for(NotifierSettings(metrics_port=9999), None).port == 9999
    monkeypatch.setenv("SEPSIS_OPS_PORT", "9500")
    assert ops_settings_for(NotifierSettings(metrics_port=9999), None).port == 9500


def test_explicit_ops_settings_win() -> None:
    assert ops_settings_for(NotifierSettings(metrics_port=9999), OpsSettings(port=0)).port == 0


def test_notify_has_the_ops_flags_and_the_deprecated_alias() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["notify", "--ops-port", "9410", "--ops-host", "127.0.0.1", "--metrics-port", "1"])
    assert (args.ops_port, args.ops_host, args.metrics_port, args.ops_worker) == (9410, "127.0.0.1", 1, "notify")
