"""SIRS: Bone et al. 1992 (ACCP/SCCM) and the CMS SEP-1 variant (clinical-scores.md §2.1, §2.8, §5).

One point per criterion met, each criterion at most once; positive means a count >= 2.
The two variants differ: SEP-1 uses temperature > 38.3 (not > 38.0) and has no PaCO2 alternative.
The limits are detector/core/rules/tables.py's SIRS_BONE and SIRS_SEP1.
Missing inputs never satisfy a criterion (§3.3). The per-criterion predicates are public because the
engine counts a criterion if ANY valid value in the trailing 6 h meets it (§3.2).

`missing` lists a primary input (temp_c, hr, rr, wbc) only when its criterion is not met by
another input; the alternatives paco2 and bands_pct are supplements and never make SIRS incomplete.
"""

from __future__ import annotations

from itertools import compress

from detector.core.rules.tables import POSITIVE_AT, SIRS_BONE, SIRS_SEP1
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = [
    "CRITERIA",
    "bands_met",
    "heart_rate_met",
    "heart_rate_met_sep1",
    "paco2_met",
    "respiration_met",
    "respiration_met_sep1",
    "rr_met",
    "sirs_bone",
    "sirs_sep1",
    "temperature_met",
    "temperature_met_sep1",
    "wbc_met",
    "white_cells_met",
    "white_cells_met_sep1",
]

CRITERIA: tuple[str, ...] = ("temperature", "heart_rate", "respiration", "white_cells")
"""Criterion names, in table order (keys of `ScoreResult.points`)."""


def temperature_met(temp_c: float | None) -> bool:
    """Bone (rules.tables.SIRS_BONE): temperature > 38.0 °C or < 36.0 °C (38.0 itself does not count)."""
    return SIRS_BONE["temperature"].met(temp_c)


def temperature_met_sep1(temp_c: float | None) -> bool:
    """CMS SEP-1 (SIRS_SEP1): temperature > 38.3 °C (> 100.9 °F) or < 36.0 °C."""
    return SIRS_SEP1["temperature"].met(temp_c)


def heart_rate_met(hr: float | None) -> bool:
    """Bone: heart rate > 90 /min."""
    return SIRS_BONE["heart_rate"].met(hr)


def heart_rate_met_sep1(hr: float | None) -> bool:
    """SEP-1: heart rate > 90 /min."""
    return SIRS_SEP1["heart_rate"].met(hr)


def rr_met(rr: float | None) -> bool:
    """Bone: respiratory rate > 20 /min."""
    return SIRS_BONE["respiratory_rate"].met(rr)


def paco2_met(paco2: float | None) -> bool:
    """Bone only: PaCO2 < 32 mmHg (4.27 kPa)."""
    return SIRS_BONE["paco2"].met(paco2)


def respiration_met(rr: float | None, paco2: float | None) -> bool:
    """Bone respiration criterion: RR > 20 or PaCO2 < 32 mmHg (counted once)."""
    return rr_met(rr) or paco2_met(paco2)


def respiration_met_sep1(rr: float | None) -> bool:
    """SEP-1 respiration criterion: RR > 20 only (PaCO2 is not used)."""
    return SIRS_SEP1["respiratory_rate"].met(rr)


def wbc_met(wbc: float | None) -> bool:
    """Bone: white cells > 12.0 or < 4.0 × 10^9/L (12.0 and 4.0 themselves do not count)."""
    return SIRS_BONE["wbc"].met(wbc)


def bands_met(bands_pct: float | None) -> bool:
    """Bone: band neutrophils > 10 %."""
    return SIRS_BONE["bands_pct"].met(bands_pct)


def white_cells_met(wbc: float | None, bands_pct: float | None) -> bool:
    """Bone white-cell criterion: WBC > 12 or < 4 × 10^9/L, or bands > 10 % (counted once)."""
    return wbc_met(wbc) or bands_met(bands_pct)


def white_cells_met_sep1(wbc: float | None, bands_pct: float | None) -> bool:
    """SEP-1 white-cell criterion (same limits as Bone unless the table says otherwise)."""
    return SIRS_SEP1["wbc"].met(wbc) or SIRS_SEP1["bands_pct"].met(bands_pct)


_NO_MISSING: tuple[str, ...] = ()


def _result(name: str, label: str, inputs: ScoreInputs, temp: bool, hr: bool, resp: bool,
            wcc: bool) -> ScoreResult:
    count = temp + hr + resp + wcc
    points = {"temperature": int(temp), "heart_rate": int(hr), "respiration": int(resp), "white_cells": int(wcc)}
    met = tuple(compress(CRITERIA, (temp, hr, resp, wcc))) if count else ()
    missing: tuple[str, ...] = _NO_MISSING
    if not (temp and hr and resp and wcc):
        absent = []
        if not temp and inputs.temp_c is None:
            absent.append("temp_c")
        if not hr and inputs.hr is None:
            absent.append("hr")
        if not resp and inputs.rr is None:
            absent.append("rr")
        if not wcc and inputs.wbc is None:
            absent.append("wbc")
        missing = tuple(absent)
    band = "positive" if POSITIVE_AT["sirs"].met(count) else "negative"

    return make_result(name, count, band, points, met, missing,
                       (_explain, label, inputs, temp, hr, resp, wcc, count, band, missing))


def _explain(label: str, inputs: ScoreInputs, temp: bool, hr: bool, resp: bool, wcc: bool, count: int, band: str,
             missing: tuple[str, ...]) -> str:
    """The SIRS reason text (built only when read)."""
    shown = []
    if temp:
        shown.append(f"T {num(inputs.temp_c)}")
    if hr:
        shown.append(f"HR {num(inputs.hr)}")
    if resp:
        shown.append(f"RR {num(inputs.rr)}" if rr_met(inputs.rr) else f"PaCO2 {num(inputs.paco2)}")
    if wcc:
        shown.append(f"WBC {num(inputs.wbc)}" if wbc_met(inputs.wbc) else f"bands {num(inputs.bands_pct)}%")
    return with_missing(f"{label} {count} ({band})" + (": " + ", ".join(shown) if shown else ""), missing)


def sirs_bone(inputs: ScoreInputs) -> ScoreResult:
    """SIRS count 0-4 with the Bone 1992 thresholds (the SIRS score of the service); band positive at >= 2."""
    return _result("sirs", "SIRS", inputs, temperature_met(inputs.temp_c), heart_rate_met(inputs.hr),
                   respiration_met(inputs.rr, inputs.paco2), white_cells_met(inputs.wbc, inputs.bands_pct))


def sirs_sep1(inputs: ScoreInputs) -> ScoreResult:
    """SIRS count 0-4 with the CMS SEP-1 thresholds (temperature > 38.3, RR only); used by SEP-1 severe sepsis."""
    return _result("sirs_sep1", "SEP-1 SIRS", inputs, temperature_met_sep1(inputs.temp_c),
                   heart_rate_met_sep1(inputs.hr), respiration_met_sep1(inputs.rr),
                   white_cells_met_sep1(inputs.wbc, inputs.bands_pct))
