"""Small helpers for the `reason` texts of score results (no patient identifiers, ever)."""

from __future__ import annotations

__all__ = ["num", "with_missing"]


def num(value: float | int | None) -> str:
    """A value as a clinician would write it: 72, 38.1, 0.4 (no trailing .0)."""
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def with_missing(text: str, missing: tuple[str, ...]) -> str:
    """Append the missing inputs, if any, to a reason text."""
    if not missing:
        return text
    return f"{text}; missing {', '.join(missing)}"
