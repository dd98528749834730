"""OpsSettings: loopback by default, a token is required off loopback unless anonymous scraping is allowed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings, add_ops_arguments, ops_settings_from_args


def test_defaults_bind_loopback_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEPSIS_OPS_HOST", "SEPSIS_OPS_PORT", "SEPSIS_OPS_METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = OpsSettings()
    assert settings.host == "127.0.0.1"
    assert settings.token() is None


def test_public_bind_requires_a_token() -> None:
    with pytest.raises(ValidationError, match="not a loopback address"):
        OpsSettings(host="0.0.0.0")
    assert OpsSettings(host="0.0.0.0", allow_anonymous_metrics=True).token() is None
    assert OpsSettings(host="0.0.0.0", metrics_token="s3cr3t-token").token().get_secret_value() == "s3cr3t-token"


def test_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-secret\n")
    settings = OpsSettings(host="0.0.0.0", metrics_token_file=token_file)
    assert settings.token().get_secret_value() == "from-a-secret"
    assert "from-a-secret" not in repr(settings)
    with pytest.raises(ValidationError, match=r"metrics_token_file: .*cannot be read"):
        OpsSettings(metrics_token_file=tmp_path / "missing")


def test_cli_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPSIS_OPS_PORT", raising=False)
    parser = argparse.ArgumentParser()
    add_ops_arguments(parser, "detect")
    assert ops_settings_from_args(parser.parse_args([])).port == DEFAULT_OPS_PORTS["detect"]
    monkeypatch.setenv("SEPSIS_OPS_PORT", "9999")
    assert ops_settings_from_args(parser.parse_args([])).port == 9999
    assert ops_settings_from_args(parser.parse_args(["--ops-port", "0"])).port == 0
