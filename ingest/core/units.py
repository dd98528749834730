"""Explicit unit conversion to each measure's canonical UCUM unit (clinical-scores.md §1, §1.6).

Rules:
* A unit is recognised by its UCUM code or by a spelling real feeds use
  (`bpm`, `mm Hg`, `DEG F`, `K/uL`, ...). Anything else is rejected: a unit is
  never guessed from the size of the number. The one exception, from the spec,
  is FiO2: a bare value above 1.0 is a percentage.
* A converted value is rounded with round-half-up to 2 dp (§0); a value that
  arrives in the canonical unit (or a unit that only differs in spelling or an
  identity factor) is used as received.
* After conversion the value must be plausible (§1 ranges [ENG]) or it is rejected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest.core.errors import ImplausibleValueError, UnknownUnitError
from schemas.measures import MEASURES, Measure, is_plausible
from schemas.rounding import round2

__all__ = ["ALIASES", "CONVERSIONS", "MAX_ABS_MAGNITUDE", "canonical_unit_key", "to_canonical"]

MAX_ABS_MAGNITUDE = 1e9
"""No measure's plausible range (schemas.measures) comes anywhere near 1e9 in any accepted unit, so a
magnitude beyond it (or a NaN/inf) is rejected before conversion and rounding: decimal quantize of an
absurd number (1.8e26 degF) would otherwise overflow the rounding context instead of being refused."""

# Spelling -> UCUM code. Keys are folded: lower case, no white space, "µ" -> "u", "^" -> "*".
ALIASES: dict[str, str] = {}


def _alias(ucum: str, *spellings: str) -> None:
    for s in (ucum, *spellings):
        ALIASES[_fold(s)] = ucum


def _fold(unit: str) -> str:
    u = unit.strip().replace("µ", "u").replace("μ", "u").replace("^", "*").replace("°", "deg")
    return re.sub(r"\s+", "", u).lower()


_alias("/min", "1/min", "min-1", "per min", "/minute", "bpm", "{beats}/min", "{beat}/min", "beats/min",
       "beat/min", "beats per minute", "{breaths}/min", "{breath}/min", "breaths/min", "breath/min",
       "br/min", "breaths per minute", "{counts}/min", "{rate}/min")
_alias("Cel", "C", "degC", "deg C", "Celsius", "cel", "centigrade")
_alias("[degF]", "F", "degF", "deg F", "Fahrenheit", "[degf]")
_alias("mm[Hg]", "mmHg", "mm Hg", "mm(hg)", "millimeter of mercury")
_alias("kPa", "kilopascal")
_alias("%", "percent", "pct", "%{oxygen}", "{percent}")
_alias("1", "{fraction}", "fraction", "ratio{fraction}", "{ratio}")
_alias("L/min", "l/min", "lpm", "L/m", "liters/min", "litres/min", "[L]/min")
_alias("{score}", "score", "{points}", "points", "{total}", "{GCS}", "gcs")
_alias("mL", "ml", "cc", "cm3")
_alias("L", "l", "liter", "litre")
_alias("kg", "kilogram", "kgs")
_alias("g", "gram", "gm")
_alias("[lb_av]", "lb", "lbs", "[lb]", "pound", "pounds")
_alias("10*9/L", "10*9/l", "10.e9/L", "x10*9/L", "x10E9/L", "GI/L", "/nL", "10*3/uL", "x10*3/uL",
       "x10E3/uL", "10E3/uL", "K/uL", "k/ul", "K/mm3", "10*3/mm3", "thou/uL", "thou/mm3", "10*3/ul",
       "1000/uL", "x1000/uL", "10*3/microliter", "{thousands}/uL")
_alias("/uL", "/ul", "/mm3", "cells/uL", "{cells}/uL", "/microliter", "/cumm", "cells/mm3")
_alias("mmol/L", "mmol/l", "mM")
_alias("mg/dL", "mg/dl", "mg%", "mg/100mL")
_alias("umol/L", "umol/l", "micromol/L", "micromol/l", "umol")
_alias("mEq/L", "meq/l", "meq")
_alias("{INR}", "INR", "{ratio}INR", "{inr}")
_alias("s", "sec", "secs", "second", "seconds")
_alias("[pH]", "pH", "{pH}")
_alias("g/dL", "g/dl", "gm/dL", "gm/dl")
_alias("g/L", "g/l")
_alias("U/L", "IU/L", "iu/l", "u/l", "[IU]/L", "units/L")
_alias("ng/mL", "ng/ml", "ug/L", "ug/l")
_alias("ng/L", "ng/l", "pg/mL", "pg/ml")
_alias("{bool}", "{boolean}")
_alias("{scale}")
_alias("{ACVPU}")

Converter = Callable[[float], float]


@dataclass(frozen=True)
class _Conv:
    fn: Converter
    exact: bool  # identity: use the value as received, no rounding


_ID = _Conv(lambda v: v, True)


def _f(factor: float) -> _Conv:
    return _Conv(lambda v: v * factor, False)


def _div(divisor: float) -> _Conv:
    return _Conv(lambda v: v / divisor, False)


_KPA_TO_MMHG = 7.50062
_PRESSURE = {"mm[Hg]": _ID, "kPa": _f(_KPA_TO_MMHG)}
_RATE = {"/min": _ID}
_COUNT_E9 = {"10*9/L": _ID, "/uL": _div(1000.0)}

# measure -> {UCUM code -> conversion to the canonical unit}. No entry: not accepted.
CONVERSIONS: dict[Measure, dict[str, _Conv]] = {
    Measure.HEART_RATE: _RATE,
    Measure.RESPIRATORY_RATE: _RATE,
    Measure.TEMPERATURE: {"Cel": _ID, "[degF]": _Conv(lambda f: (f - 32.0) * 5.0 / 9.0, False)},
    Measure.SYSTOLIC_BP: _PRESSURE,
    Measure.DIASTOLIC_BP: _PRESSURE,
    Measure.MEAN_BP: _PRESSURE,
    Measure.SPO2: {"%": _ID, "1": _f(100.0)},
    Measure.FIO2: {"1": _ID, "%": _div(100.0)},
    Measure.O2_FLOW: {"L/min": _ID},
    Measure.GCS: {"{score}": _ID},
    Measure.GCS_EYE: {"{score}": _ID},
    Measure.GCS_VERBAL: {"{score}": _ID},
    Measure.GCS_MOTOR: {"{score}": _ID},
    Measure.SPO2_SCALE: {"{scale}": _ID},
    Measure.ON_OXYGEN: {"{bool}": _ID},
    Measure.RESP_SUPPORT: {"{bool}": _ID},
    Measure.URINE_OUTPUT: {"mL": _ID, "L": _f(1000.0)},
    Measure.WEIGHT: {"kg": _ID, "g": _div(1000.0), "[lb_av]": _f(0.45359237)},
    Measure.WBC: _COUNT_E9,
    Measure.PLATELETS: _COUNT_E9,
    Measure.BANDS: {"%": _ID},
    Measure.LACTATE: {"mmol/L": _ID, "mg/dL": _div(9.008)},
    Measure.CREATININE: {"mg/dL": _ID, "umol/L": _div(88.4)},
    Measure.BILIRUBIN: {"mg/dL": _ID, "umol/L": _div(17.1)},
    Measure.BILIRUBIN_DIRECT: {"mg/dL": _ID, "umol/L": _div(17.1)},
    Measure.PAO2: _PRESSURE,
    Measure.PACO2: _PRESSURE,
    Measure.ETCO2: _PRESSURE,
    Measure.INR: {"{INR}": _ID, "1": _ID},
    Measure.APTT: {"s": _ID},
    Measure.BUN: {"mg/dL": _ID},
    Measure.BICARBONATE: {"mmol/L": _ID, "mEq/L": _ID},
    Measure.PH: {"[pH]": _ID, "1": _ID},
    Measure.GLUCOSE: {"mg/dL": _ID, "mmol/L": _f(18.016)},
    Measure.HEMOGLOBIN: {"g/dL": _ID, "g/L": _div(10.0)},
    Measure.HEMATOCRIT: {"%": _ID},
    Measure.POTASSIUM: {"mmol/L": _ID, "mEq/L": _ID},
    Measure.CHLORIDE: {"mmol/L": _ID, "mEq/L": _ID},
    Measure.CALCIUM: {"mg/dL": _ID, "mmol/L": _f(4.008)},
    Measure.MAGNESIUM: {"mg/dL": _ID, "mmol/L": _f(2.431)},
    Measure.PHOSPHATE: {"mg/dL": _ID, "mmol/L": _f(3.097)},
    Measure.AST: {"U/L": _ID},
    Measure.ALKALINE_PHOSPHATASE: {"U/L": _ID},
    Measure.TROPONIN_I: {"ng/mL": _ID, "ng/L": _div(1000.0)},
    Measure.FIBRINOGEN: {"mg/dL": _ID, "g/L": _f(100.0)},
    Measure.BASE_EXCESS: {"mmol/L": _ID, "mEq/L": _ID},
}

# Measures whose value may arrive with no unit at all: dimensionless scores and ratios, and the two
# rates whose only possible unit is /min (no other unit exists to confuse them with, so this is
# not guessing a unit from the size of the number).
_UNITLESS_OK: dict[Measure, str] = {
    Measure.HEART_RATE: "/min", Measure.RESPIRATORY_RATE: "/min",
    Measure.GCS: "{score}", Measure.GCS_EYE: "{score}", Measure.GCS_VERBAL: "{score}",
    Measure.GCS_MOTOR: "{score}", Measure.INR: "{INR}", Measure.PH: "[pH]", Measure.FIO2: "1",
    Measure.SPO2_SCALE: "{scale}", Measure.ON_OXYGEN: "{bool}", Measure.RESP_SUPPORT: "{bool}",
}


def canonical_unit_key(unit: str | None) -> str | None:
    """The UCUM code for a unit spelling, or None if it is not one we know."""
    if unit is None:
        return None
    return ALIASES.get(_fold(unit))


def to_canonical(measure: Measure, value: float, unit: str | None, *, location: str = "") -> float:
    """Convert `value` in `unit` to `measure`'s canonical unit and check plausibility.

    Raises UnknownUnitError for a unit we do not convert for this measure and
    ImplausibleValueError for a value outside the plausible range after conversion.
    """
    spec = MEASURES[measure]
    table = CONVERSIONS.get(measure)
    if table is None:
        raise UnknownUnitError(f"{measure} takes no unit conversion", location=location)
    if unit is None or not unit.strip():
        key = _UNITLESS_OK.get(measure)
        if key is None:
            raise UnknownUnitError(f"{measure} needs a unit (expected {spec.unit})", location=location)
    else:
        key = canonical_unit_key(unit)
    conv = table.get(key) if key else None
    if conv is None:
        raise UnknownUnitError(f"unit {unit!r} is not accepted for {measure} (canonical {spec.unit})",
                               location=location)
    if measure is Measure.FIO2 and key == "1" and value > 1.0:
        conv = table["%"]  # §1.3: a bare FiO2 above 1.0 is a percentage
    _check_magnitude(measure, value, unit, location)
    raw = conv.fn(value)
    _check_magnitude(measure, raw, spec.unit, location)
    converted = raw if conv.exact else round2(raw)
    if not is_plausible(measure, converted):
        raise ImplausibleValueError(
            f"implausible {measure} {converted:g} {spec.unit} (plausible {spec.low:g}..{spec.high:g})",
            location=location,
        )
    return converted


def _check_magnitude(measure: Measure, value: float, unit: str | None, location: str) -> None:
    """Reject NaN, infinities and magnitudes above MAX_ABS_MAGNITUDE as implausible (before rounding)."""
    if not math.isfinite(value) or abs(value) > MAX_ABS_MAGNITUDE:
        raise ImplausibleValueError(
            f"implausible {measure} {value:g} {unit or ''} (non-finite or beyond {MAX_ABS_MAGNITUDE:g})".rstrip(),
            location=location,
        )
