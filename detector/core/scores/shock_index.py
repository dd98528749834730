"""Shock index: Allgöwer & Burri 1967 (clinical-scores.md §2.6).

SI = HR / SBP, reported to 2 dp with round-half-up (§0); None when HR or SBP is missing. HR and SBP must
come from the same observation set (within 15 min, §3.2): the caller pairs them. SI carries no points in any
other score; SI >= 1.0 (rules.tables.POSITIVE_AT["shock_index"]) is our default abnormal flag [ENG]; the
ladder's level 4 uses it with hypotension (§3.4).
"""

from __future__ import annotations

from detector.core.rules.tables import POSITIVE_AT
from detector.core.scores._rounding import round2_fast
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = ["shock_index", "shock_index_value"]


def shock_index_value(hr: float | None, sbp: float | None) -> float | None:
    """HR (/min) ÷ SBP (mmHg), rounded 2 dp half-up; None if either is missing (or SBP is not positive)."""
    if hr is None or sbp is None or sbp <= 0:
        return None
    return round2_fast(hr / sbp)


def shock_index(inputs: ScoreInputs) -> ScoreResult:
    """Shock index of one set; band "elevated" at >= 1.0, "normal" below, None when it cannot be computed."""
    hr, sbp = inputs.hr, inputs.sbp
    value = shock_index_value(hr, sbp)
    if value is None:
        missing = tuple(k for k, v in (("hr", hr), ("sbp", sbp)) if v is None) or ("sbp",)
        return make_result("shock_index", None, None, {}, (), missing,
                           with_missing("shock index not computable", missing))
    elevated = POSITIVE_AT["shock_index"].met(value)
    band = "elevated" if elevated else "normal"
    return make_result("shock_index", value, band, {"elevated": int(elevated)}, ("elevated",) if elevated else (),
                       (), (_explain, value, band, hr, sbp))


def _explain(value: float, band: str, hr: float | None, sbp: float | None) -> str:
    """The shock index reason text (built only when read)."""
    return f"shock index {value:.2f} ({band}): HR {num(hr)} / SBP {num(sbp)}"
