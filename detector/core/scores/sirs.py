"""SIRS: Bone et al. 1992 (ACCP/SCCM) and the CMS SEP-1 variant (clinical-scores.md §2.1, §2.8, §5).

One point per criterion met, each criterion at most once; positive means a count >= 2.
The two variants differ: SEP-1 uses temperature > 38.3 (not > 38.0) and has no PaCO2 alternative.
Missing inputs never satisfy a criterion (§3.3). The per-criterion predicates are public because the
engine counts a criterion if ANY valid value in the trailing 6 h meets it (§3.2).

`missing` lists a primary input (temp_c, hr, rr, wbc) only when its criterion is not met by
another input; the alternatives paco2 and bands_pct are supplements and never make SIRS incomplete.
"""

from __future__ import annotations

from itertools import compress

from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = [
    "CRITERIA",
    "bands_met",
    "heart_rate_met",
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
]

CRITERIA: tuple[str, ...] = ("temperature", "heart_rate", "respiration", "white_cells")
"""Criterion names, in table order (keys of `ScoreResult.points`)."""

POSITIVE_AT = 2  # Bone 1992: SIRS is present with two or more criteria


def temperature_met(temp_c: float | None) -> bool:
    """Bone: temperature > 38.0 °C or < 36.0 °C (38.0 itself does not count)."""
    return temp_c is not None and (temp_c > 38.0 or temp_c < 36.0)


def temperature_met_sep1(temp_c: float | None) -> bool:
    """CMS SEP-1: temperature > 38.3 °C (> 100.9 °F) or < 36.0 °C."""
    return temp_c is not None and (temp_c > 38.3 or temp_c < 36.0)


def heart_rate_met(hr: float | None) -> bool:
    """Both variants: heart rate > 90 /min."""
    return hr is not None and hr > 90


def rr_met(rr: float | None) -> bool:
    """Both variants: respiratory rate > 20 /min."""
    return rr is not None and rr > 20


def paco2_met(paco2: float | None) -> bool:
    """Bone only: PaCO2 < 32 mmHg (4.27 kPa)."""
    return paco2 is not None and paco2 < 32


def respiration_met(rr: float | None, paco2: float | None) -> bool:
    """Bone respiration criterion: RR > 20 or PaCO2 < 32 mmHg (counted once)."""
    return rr_met(rr) or paco2_met(paco2)


def respiration_met_sep1(rr: float | None) -> bool:
    """SEP-1 respiration criterion: RR > 20 only (PaCO2 is not used)."""
    return rr_met(rr)


def wbc_met(wbc: float | None) -> bool:
    """White cells > 12.0 or < 4.0 × 10^9/L (12.0 and 4.0 themselves do not count)."""
    return wbc is not None and (wbc > 12.0 or wbc < 4.0)


def bands_met(bands_pct: float | None) -> bool:
    """Band neutrophils > 10 %."""
    return bands_pct is not None and bands_pct > 10


def white_cells_met(wbc: float | None, bands_pct: float | None) -> bool:
    """White-cell criterion (both variants): WBC > 12 or < 4 × 10^9/L, or bands > 10 % (counted once)."""
    return wbc_met(wbc) or bands_met(bands_pct)


_NO_MISSING: tuple[str, ...] = ()


def _result(name: str, label: str, inputs: ScoreInputs, temp: bool, resp: bool) -> ScoreResult:
    hr = inputs.hr is not None and inputs.hr > 90
    wcc = white_cells_met(inputs.wbc, inputs.bands_pct)
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
    band = "positive" if count >= POSITIVE_AT else "negative"

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
    temp_c, rr, paco2 = inputs.temp_c, inputs.rr, inputs.paco2
    temp = temp_c is not None and (temp_c > 38.0 or temp_c < 36.0)  # same as temperature_met, inlined for speed
    resp = (rr is not None and rr > 20) or (paco2 is not None and paco2 < 32)
    return _result("sirs", "SIRS", inputs, temp, resp)


def sirs_sep1(inputs: ScoreInputs) -> ScoreResult:
    """SIRS count 0-4 with the CMS SEP-1 thresholds (temperature > 38.3, RR only); used by SEP-1 severe sepsis."""
    temp_c, rr = inputs.temp_c, inputs.rr
    temp = temp_c is not None and (temp_c > 38.3 or temp_c < 36.0)  # same as temperature_met_sep1
    return _result("sirs_sep1", "SEP-1 SIRS", inputs, temp, rr is not None and rr > 20)
