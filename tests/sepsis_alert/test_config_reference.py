"""docs/configuration.md is generated from the settings models and must match them."""

from __future__ import annotations

from pathlib import Path

from sepsis_alert.config_reference import BEGIN, END, REFERENCE, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_configuration_reference_is_current_and_linked() -> None:
    text = REFERENCE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == render(), (
        "docs/configuration.md is stale: regenerate it with `make docs` "
        "(python -m sepsis_alert.config_reference --write)"
    )
    assert "docs/configuration.md" in README.read_text()


def test_every_setting_is_documented() -> None:
    undocumented = [line for line in render().splitlines() if line.startswith("| `") and line.endswith("|  |")]
    assert undocumented == []
