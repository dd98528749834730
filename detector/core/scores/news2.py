"""NEWS2: Royal College of Physicians 2017, Chart 1 (clinical-scores.md §2.3, §3.3).

Seven parameters, total 0-20, scored from one observation set (the engine picks the set, §3.2).
The point functions implement the spec's cascading comparisons exactly; each returns 0 for a
missing value, and the result is then flagged incomplete (§3.3: RCP expects a complete set).
"""

from __future__ import annotations

from itertools import compress

from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ROOM_AIR_FIO2, ScoreInputs, ScoreResult, make_result

__all__ = [
    "PARAMETERS",
    "band_for",
    "consciousness_points",
    "hr_points",
    "news2",
    "oxygen_points",
    "rr_points",
    "sbp_points",
    "spo2_points",
    "spo2_scale1_points",
    "spo2_scale2_points",
    "temp_points",
]

PARAMETERS: tuple[str, ...] = ("rr", "spo2", "on_oxygen", "sbp", "hr", "consciousness", "temp_c")
"""Parameter names (input keys) in RCP chart order; the keys of `ScoreResult.points`."""

_LABELS = {"rr": "RR", "spo2": "SpO2", "on_oxygen": "O2", "sbp": "SBP", "hr": "HR",
           "consciousness": "ACVPU", "temp_c": "T"}


def rr_points(rr: float | None) -> int:
    """Respiration rate /min: <=8 → 3; <=11 → 1; <=20 → 0; <=24 → 2; else 3."""
    if rr is None:
        return 0
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


def spo2_scale1_points(spo2: float | None) -> int:
    """SpO2 % on scale 1: <=91 → 3; <=93 → 2; <=95 → 1; else 0."""
    if spo2 is None:
        return 0
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def spo2_scale2_points(spo2: float | None, on_oxygen: bool | None) -> int:
    """SpO2 % on scale 2 (88-92 % target): <=83 → 3; <=85 → 2; <=87 → 1; <=92 → 0.

    Above 92: on air (or oxygen not recorded) → 0; on oxygen <=94 → 1, <=96 → 2, else 3
    (over-oxygenation of a CO2-retaining patient).
    """
    if spo2 is None:
        return 0
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or on_oxygen is not True:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def spo2_points(spo2: float | None, spo2_scale: int, on_oxygen: bool | None) -> int:
    """SpO2 points on the given scale (1 unless an explicit 88-92 % target order, §1.3)."""
    if spo2_scale == 2:
        return spo2_scale2_points(spo2, on_oxygen)
    return spo2_scale1_points(spo2)


def oxygen_points(on_oxygen: bool | None) -> int:
    """Air or oxygen: oxygen → 2, air or not recorded → 0. Added on top of SpO2 points on both scales."""
    return 2 if on_oxygen is True else 0


def sbp_points(sbp: float | None) -> int:
    """Systolic BP mmHg: <=90 → 3; <=100 → 2; <=110 → 1; <=219 → 0; else 3."""
    if sbp is None:
        return 0
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def hr_points(hr: float | None) -> int:
    """Pulse /min: <=40 → 3; <=50 → 1; <=90 → 0; <=110 → 1; <=130 → 2; else 3."""
    if hr is None:
        return 0
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3


def consciousness_points(consciousness: str | None) -> int:
    """ACVPU: A → 0; C (new confusion), V, P or U → 3; missing → 0."""
    if consciousness is None or consciousness == "A":
        return 0
    return 3


def temp_points(temp_c: float | None) -> int:
    """Temperature °C: <=35.0 → 3; <=36.0 → 1; <=38.0 → 0; <=39.0 → 1; else 2."""
    if temp_c is None:
        return 0
    if temp_c <= 35.0:
        return 3
    if temp_c <= 36.0:
        return 1
    if temp_c <= 38.0:
        return 0
    if temp_c <= 39.0:
        return 1
    return 2


def band_for(total: int, any_red: bool) -> str:
    """RCP risk band, checked in order: high (>= 7), medium (5-6), low-medium (<= 4 with a single 3), low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any_red:
        return "low-medium"
    return "low"


def news2(inputs: ScoreInputs) -> ScoreResult:
    """NEWS2 total 0-20 with its band from one observation set; missing parameters score 0 and set incomplete.

    Oxygen: `on_oxygen` if recorded, else a recorded FiO2 > 0.21 means oxygen (§1.3); when neither says,
    the patient is scored as on air and `on_oxygen` is listed as missing.
    """
    on_oxygen = inputs.on_oxygen
    if on_oxygen is None and inputs.fio2 is not None and inputs.fio2 > ROOM_AIR_FIO2:
        on_oxygen = True  # same as effective_on_oxygen, inlined for speed
    rr = rr_points(inputs.rr)
    spo2 = (spo2_scale2_points(inputs.spo2, on_oxygen) if inputs.spo2_scale == 2
            else spo2_scale1_points(inputs.spo2))
    oxygen = 2 if on_oxygen is True else 0
    sbp = sbp_points(inputs.sbp)
    hr = hr_points(inputs.hr)
    consciousness = consciousness_points(inputs.consciousness)
    temp = temp_points(inputs.temp_c)
    points = {"rr": rr, "spo2": spo2, "on_oxygen": oxygen, "sbp": sbp, "hr": hr, "consciousness": consciousness,
              "temp_c": temp}
    total = rr + spo2 + oxygen + sbp + hr + consciousness + temp
    band = band_for(total, 3 in (rr, spo2, sbp, hr, consciousness, temp))  # O2 is worth at most 2
    met = tuple(compress(PARAMETERS, (rr, spo2, oxygen, sbp, hr, consciousness, temp))) if total else ()
    absent = (inputs.rr is None, inputs.spo2 is None, on_oxygen is None, inputs.sbp is None, inputs.hr is None,
              inputs.consciousness is None, inputs.temp_c is None)
    missing = tuple(compress(PARAMETERS, absent)) if True in absent else ()

    return make_result("news2", total, band, points, met, missing,
                       (_explain, inputs, points, met, total, band, missing))


def _explain(inputs: ScoreInputs, points: dict[str, int], met: tuple[str, ...], total: int, band: str,
             missing: tuple[str, ...]) -> str:
    """The NEWS2 reason text (built only when read)."""
    shown = ", ".join(f"{_LABELS[k]} {'on' if k == 'on_oxygen' else _value_text(inputs, k)} ({points[k]})"
                      for k in met)
    return with_missing(f"NEWS2 {total} ({band})" + (f": {shown}" if shown else ""), missing)


def _value_text(inputs: ScoreInputs, key: str) -> str:
    value = getattr(inputs, key)
    return value if isinstance(value, str) else num(value)
