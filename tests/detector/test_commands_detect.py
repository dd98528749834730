"""`sepsis-alert detect` command line: options, and a clear failure on a bad rules file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sepsis_alert.cli import build_parser


def test_detect_options_are_parsed() -> None:
    args = build_parser().parse_args(["detect", "--config", "rules.yaml", "--metrics-port", "9311"])
    assert args.config == Path("rules.yaml") and args.metrics_port == 9311 and callable(args.func)


def test_invalid_rules_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("ladder:\n  news2_urgent: 9\n  news2_emergency: 7\n")
    done = subprocess.run([sys.executable, "-m", "sepsis_alert.cli", "detect", "--config", str(rules)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "news2_emergency" in done.stdout + done.stderr
