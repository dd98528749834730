"""The README's configuration reference is generated from the settings models and must match them."""

from __future__ import annotations

from pathlib import Path

from sepsis_alert.config_reference import BEGIN, END, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_reference_is_current() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == render(), (
        "README configuration reference is stale: regenerate it with "
        "`python -m sepsis_alert.config_reference` and paste it between the markers"
    )


def test_every_setting_is_documented() -> None:
    undocumented = [line for line in render().splitlines() if line.startswith("| `") and line.endswith("|  |")]
    assert undocumented == []
