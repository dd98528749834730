"""Detector configuration: the packaged YAML equals the model defaults; bad files fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.core.config import DEFAULT_CONFIG_PATH, DetectorConfig, load_config


def test_packaged_yaml_matches_the_defaults() -> None:
    assert load_config() == DetectorConfig()
    # §3.5: re-alert on escalation only; the detector sends no reminders by default.
    assert load_config(DEFAULT_CONFIG_PATH).escalation.repeat_minutes == {1: None, 2: None, 3: None, 4: None}


@pytest.mark.parametrize("text, message", [
    ("window:\n  lenght_hours: 24\n", "lenght_hours"),
    ("ladder:\n  news2_urgent: 7\n  news2_emergency: 5\n", "news2_emergency"),
    ("escalation:\n  repeat_minutes: {5: 10}\n", "levels must be 1-4"),
    ("timing:\n  vital_stale_hours: 30\n", "window.length_hours"),
    ("window:\n  baseline_hours: 73\n", "reach 97 h back; the hourly SOFA history holds 96 h"),
    ("window:\n  length_hours: 48\ntiming:\n  sofa_lab_window_hours: 48\n", "reach 120 h back"),
    ("- a list\n", "top level must be a mapping"),
    ("window: [unclosed\n", "not valid YAML"),
])
def test_invalid_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
