"""MEWS: the original Subbe et al. 2001 table (QJM 94:521-6) (clinical-scores.md §2.4, §5).

Five parameters (SBP, HR, RR, temperature, AVPU), total 0-14; no oxygen and no urine parameter. The bands are
detector/core/rules/tables.py's MEWS*.
Decisions from §2.4: HR 40 scores 2 (some reproductions print "< 40", leaving 40 in no band);
ACVPU "C" (new confusion, absent from Subbe's AVPU) scores 1 like V [ENG].
Missing parameters score 0 and set incomplete (§3.3).
"""

from __future__ import annotations

from itertools import compress

from detector.core.rules.tables import MEWS, MEWS_AVPU, POSITIVE_AT
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = ["PARAMETERS", "avpu_points", "hr_points", "mews", "rr_points", "sbp_points", "temp_points"]

PARAMETERS: tuple[str, ...] = ("sbp", "hr", "rr", "temp_c", "consciousness")
"""Parameter names (input keys) in Subbe table order; the keys of `ScoreResult.points`."""

_LABELS = {"sbp": "SBP", "hr": "HR", "rr": "RR", "temp_c": "T", "consciousness": "AVPU"}


def sbp_points(sbp: float | None) -> int:
    """Systolic BP mmHg (rules.tables.MEWS["sbp"]; missing → 0)."""
    return MEWS["sbp"].points(sbp)


def hr_points(hr: float | None) -> int:
    """Heart rate /min (MEWS["hr"]; missing → 0)."""
    return MEWS["hr"].points(hr)


def rr_points(rr: float | None) -> int:
    """Respiratory rate /min (MEWS["rr"]; missing → 0)."""
    return MEWS["rr"].points(rr)


def temp_points(temp_c: float | None) -> int:
    """Temperature °C (MEWS["temp_c"]; missing → 0)."""
    return MEWS["temp_c"].points(temp_c)


def avpu_points(consciousness: str | None) -> int:
    """AVPU (MEWS_AVPU: A → 0; C → 1 [ENG]; V → 1; P → 2; U → 3); missing → 0."""
    if consciousness is None:
        return 0
    return MEWS_AVPU[consciousness]


def mews(inputs: ScoreInputs) -> ScoreResult:
    """MEWS 0-14 from one observation set; band "elevated" at POSITIVE_AT["mews"] (Subbe: >= 5), else "normal"."""
    sbp = sbp_points(inputs.sbp)
    hr = hr_points(inputs.hr)
    rr = rr_points(inputs.rr)
    temp = temp_points(inputs.temp_c)
    avpu = avpu_points(inputs.consciousness)
    points = {"sbp": sbp, "hr": hr, "rr": rr, "temp_c": temp, "consciousness": avpu}
    total = sbp + hr + rr + temp + avpu
    met = tuple(compress(PARAMETERS, (sbp, hr, rr, temp, avpu))) if total else ()
    absent = (inputs.sbp is None, inputs.hr is None, inputs.rr is None, inputs.temp_c is None,
              inputs.consciousness is None)
    missing = tuple(compress(PARAMETERS, absent)) if True in absent else ()
    band = "elevated" if POSITIVE_AT["mews"].met(total) else "normal"

    return make_result("mews", total, band, points, met, missing, (_explain, inputs, points, met, total, missing))


def _explain(inputs: ScoreInputs, points: dict[str, int], met: tuple[str, ...], total: int,
             missing: tuple[str, ...]) -> str:
    """The MEWS reason text (built only when read)."""
    shown = ", ".join(f"{_LABELS[k]} {_value_text(inputs, k)} ({points[k]})" for k in met)
    return with_missing(f"MEWS {total}" + (f": {shown}" if shown else ""), missing)


def _value_text(inputs: ScoreInputs, key: str) -> str:
    value = getattr(inputs, key)
    return value if isinstance(value, str) else num(value)
