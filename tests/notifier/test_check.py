"""`notify --check`: every problem at once (missing secrets named, bad URLs), and a dry run of the routing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.check import dry_run, problems
from notifier.config import parse_config

REPO = Path(__file__).resolve().parents[2]


def _doc(url: str) -> dict:
    return {"receivers": [{"name": "pager", "type": "webhook", "url": {"value": url},
                           "secret": {"value": "whsec-0123456789"}},
                          {"name": "chat", "type": "slack", "url": {"env": "SEPSIS_TEST_MISSING_CHAT_URL"}}],
            "route": {"receiver": "pager", "routes": [{"match": {"treatment_started": True}, "receiver": "chat"}]}}


@pytest.mark.parametrize("url, message", [
    ("htp:/127.0.0.1/pager", "scheme 'htp' is not http or https"),
    ("http://127.0.0.1:99999/pager", "out of range"),
    ("http:///pager", "no host"),
])
def test_bad_urls_are_named_with_the_reason(url: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPSIS_TEST_MISSING_CHAT_URL", raising=False)
    found = problems(parse_config(_doc(url)))
    assert any(line.startswith("receivers.pager.url") and message in line for line in found), found
    # and every missing secret is named, not only the first
    assert any("SEPSIS_TEST_MISSING_CHAT_URL" in line for line in found), found


def test_a_good_configuration_has_no_problem_and_a_routing_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEPSIS_TEST_MISSING_CHAT_URL", "https://hooks.slack.com/services/T/B/X")
    config = parse_config(_doc("https://ehr.example/hook"))
    assert problems(config) == []
    lines = dry_run(config)
    assert "level 3 opened -> page: pager [route root]" in lines
    assert "level 3 opened, antibiotics started -> page: chat [route root.0]" in lines
    assert "level 2 opened -> update: nobody" in lines  # below the page level nobody is paged


def test_the_shipped_example_names_every_missing_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPSIS_")}
    result = subprocess.run([sys.executable, "-m", "sepsis_alert.cli", "notify", "--check", "--config",
                             "notifier/config/example.yaml"], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    for name in ("SEPSIS_SLACK_WEBHOOK_URL", "SEPSIS_TEAMS_WORKFLOW_URL", "SEPSIS_EHR_WEBHOOK_SECRET",
                 "/run/secrets/pagerduty_rrt_key"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert "level 3 opened -> page: rrt-pager -> intensivist-pager" in result.stdout
