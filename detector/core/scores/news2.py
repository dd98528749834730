"""NEWS2: Royal College of Physicians 2017, Chart 1 (clinical-scores.md §2.3, §3.3).

Seven parameters, total 0-20, scored from one observation set (the engine picks the set, §3.2).
The point functions read the bands of detector/core/rules/tables.py (NEWS2*); each returns 0 for a
missing value, and the result is then flagged incomplete (§3.3: RCP expects a complete set).
"""

from __future__ import annotations

from itertools import compress

from detector.core.rules.tables import NEWS2, NEWS2_BANDS, NEWS2_CONSCIOUSNESS, NEWS2_OXYGEN_POINTS, OXYGEN
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

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
    """Respiration rate /min (rules.tables.NEWS2["rr"]; missing → 0)."""
    return NEWS2["rr"].points(rr)


def spo2_scale1_points(spo2: float | None) -> int:
    """SpO2 % on scale 1 (NEWS2["spo2_scale1"]; missing → 0)."""
    return NEWS2["spo2_scale1"].points(spo2)


def spo2_scale2_points(spo2: float | None, on_oxygen: bool | None) -> int:
    """SpO2 % on scale 2 (88-92 % target): NEWS2["spo2_scale2"]; above its last band, on air (or oxygen not
    recorded) → 0 and on oxygen NEWS2["spo2_scale2_on_oxygen"] (over-oxygenation of a CO2-retaining patient)."""
    if spo2 is None:
        return 0
    low = NEWS2["spo2_scale2"]
    if low.matched(spo2) or on_oxygen is not True:
        return low.points(spo2)
    return NEWS2["spo2_scale2_on_oxygen"].points(spo2)


def spo2_points(spo2: float | None, spo2_scale: int, on_oxygen: bool | None) -> int:
    """SpO2 points on the given scale (1 unless an explicit 88-92 % target order, §1.3)."""
    if spo2_scale == 2:
        return spo2_scale2_points(spo2, on_oxygen)
    return spo2_scale1_points(spo2)


def oxygen_points(on_oxygen: bool | None) -> int:
    """Air or oxygen (NEWS2_OXYGEN_POINTS; not recorded = air). Added on top of SpO2 points on both scales."""
    return NEWS2_OXYGEN_POINTS[on_oxygen is True]


def sbp_points(sbp: float | None) -> int:
    """Systolic BP mmHg (NEWS2["sbp"]; missing → 0)."""
    return NEWS2["sbp"].points(sbp)


def hr_points(hr: float | None) -> int:
    """Pulse /min (NEWS2["hr"]; missing → 0)."""
    return NEWS2["hr"].points(hr)


def consciousness_points(consciousness: str | None) -> int:
    """ACVPU (NEWS2_CONSCIOUSNESS: A → 0; C (new confusion), V, P or U → 3); missing → 0."""
    if consciousness is None:
        return 0
    return NEWS2_CONSCIOUSNESS[consciousness]


def temp_points(temp_c: float | None) -> int:
    """Temperature °C (NEWS2["temp_c"]; missing → 0)."""
    return NEWS2["temp_c"].points(temp_c)


def band_for(total: int, any_red: bool) -> str:
    """RCP risk band, checked in order (NEWS2_BANDS): high, medium, low-medium (a single 3), low."""
    if NEWS2_BANDS["high"].met(total):
        return "high"
    if NEWS2_BANDS["medium"].met(total):
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
    if on_oxygen is None and inputs.fio2 is not None and inputs.fio2 > OXYGEN["room_air_fio2"]:
        on_oxygen = True  # same as effective_on_oxygen, inlined for speed
    rr = rr_points(inputs.rr)
    spo2 = (spo2_scale2_points(inputs.spo2, on_oxygen) if inputs.spo2_scale == 2
            else spo2_scale1_points(inputs.spo2))
    oxygen = oxygen_points(on_oxygen)
    sbp = sbp_points(inputs.sbp)
    hr = hr_points(inputs.hr)
    consciousness = consciousness_points(inputs.consciousness)
    temp = temp_points(inputs.temp_c)
    points = {"rr": rr, "spo2": spo2, "on_oxygen": oxygen, "sbp": sbp, "hr": hr, "consciousness": consciousness,
              "temp_c": temp}
    total = rr + spo2 + oxygen + sbp + hr + consciousness + temp
    band = band_for(total, 3 in (rr, spo2, oxygen, sbp, hr, consciousness, temp))  # a red score: any single 3
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
