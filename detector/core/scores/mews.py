"""MEWS: the original Subbe et al. 2001 table (QJM 94:521-6) (clinical-scores.md §2.4, §5).

Five parameters (SBP, HR, RR, temperature, AVPU), total 0-14; no oxygen and no urine parameter.
Decisions from §2.4: HR 40 scores 2 (some reproductions print "< 40", leaving 40 in no band);
ACVPU "C" (new confusion, absent from Subbe's AVPU) scores 1 like V [ENG].
Missing parameters score 0 and set incomplete (§3.3).
"""

from __future__ import annotations

from itertools import compress

from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = ["PARAMETERS", "avpu_points", "hr_points", "mews", "rr_points", "sbp_points", "temp_points"]

PARAMETERS: tuple[str, ...] = ("sbp", "hr", "rr", "temp_c", "consciousness")
"""Parameter names (input keys) in Subbe table order; the keys of `ScoreResult.points`."""

TRIGGER_AT = 5  # Subbe 2001: MEWS >= 5 was associated with death and ICU/HDU admission

_AVPU_POINTS = {"A": 0, "C": 1, "V": 1, "P": 2, "U": 3}
_LABELS = {"sbp": "SBP", "hr": "HR", "rr": "RR", "temp_c": "T", "consciousness": "AVPU"}


def sbp_points(sbp: float | None) -> int:
    """Systolic BP mmHg: <=70 → 3; <=80 → 2; <=100 → 1; <200 → 0; else 2."""
    if sbp is None:
        return 0
    if sbp <= 70:
        return 3
    if sbp <= 80:
        return 2
    if sbp <= 100:
        return 1
    if sbp < 200:
        return 0
    return 2


def hr_points(hr: float | None) -> int:
    """Heart rate /min: <=40 → 2; <=50 → 1; <=100 → 0; <=110 → 1; <130 → 2; else 3."""
    if hr is None:
        return 0
    if hr <= 40:
        return 2
    if hr <= 50:
        return 1
    if hr <= 100:
        return 0
    if hr <= 110:
        return 1
    if hr < 130:
        return 2
    return 3


def rr_points(rr: float | None) -> int:
    """Respiratory rate /min: <9 → 2; <15 → 0; <=20 → 1; <30 → 2; else 3."""
    if rr is None:
        return 0
    if rr < 9:
        return 2
    if rr < 15:
        return 0
    if rr <= 20:
        return 1
    if rr < 30:
        return 2
    return 3


def temp_points(temp_c: float | None) -> int:
    """Temperature °C: <35.0 → 2; <38.5 → 0; else 2."""
    if temp_c is None:
        return 0
    if temp_c < 35.0:
        return 2
    if temp_c < 38.5:
        return 0
    return 2


def avpu_points(consciousness: str | None) -> int:
    """AVPU: A → 0; C → 1 [ENG]; V → 1; P → 2; U → 3; missing → 0."""
    if consciousness is None:
        return 0
    return _AVPU_POINTS[consciousness]


def mews(inputs: ScoreInputs) -> ScoreResult:
    """MEWS 0-14 from one observation set; band "elevated" at >= 5 (Subbe), else "normal"."""
    sbp = sbp_points(inputs.sbp)
    hr = hr_points(inputs.hr)
    rr = rr_points(inputs.rr)
    temp = temp_points(inputs.temp_c)
    avpu = 0 if inputs.consciousness is None else _AVPU_POINTS[inputs.consciousness]
    points = {"sbp": sbp, "hr": hr, "rr": rr, "temp_c": temp, "consciousness": avpu}
    total = sbp + hr + rr + temp + avpu
    met = tuple(compress(PARAMETERS, (sbp, hr, rr, temp, avpu))) if total else ()
    absent = (inputs.sbp is None, inputs.hr is None, inputs.rr is None, inputs.temp_c is None,
              inputs.consciousness is None)
    missing = tuple(compress(PARAMETERS, absent)) if True in absent else ()
    band = "elevated" if total >= TRIGGER_AT else "normal"

    return make_result("mews", total, band, points, met, missing, (_explain, inputs, points, met, total, missing))


def _explain(inputs: ScoreInputs, points: dict[str, int], met: tuple[str, ...], total: int,
             missing: tuple[str, ...]) -> str:
    """The MEWS reason text (built only when read)."""
    shown = ", ".join(f"{_LABELS[k]} {_value_text(inputs, k)} ({points[k]})" for k in met)
    return with_missing(f"MEWS {total}" + (f": {shown}" if shown else ""), missing)


def _value_text(inputs: ScoreInputs, key: str) -> str:
    value = getattr(inputs, key)
    return value if isinstance(value, str) else num(value)
