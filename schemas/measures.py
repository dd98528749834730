"""What the detector understands: measures, their canonical units, codes and plausible ranges.

Source: clinical-scores.md §1 (codes, canonical UCUM units, plausible ranges
marked [ENG]). Extra laboratory measures beyond §1 (BUN, bicarbonate, pH, ...)
are carried for the learned risk score; no classic score reads them.

The canonical unit is the only unit an `Observation` may carry: ingest converts
explicitly (ingest/core/units.py) and rejects anything it cannot convert.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CONSCIOUSNESS_LEVELS",
    "LOINC_TO_MEASURE",
    "MEASURES",
    "Measure",
    "MeasureSpec",
    "is_plausible",
]


class Measure(StrEnum):
    """A clinical quantity the detector knows how to use."""

    HEART_RATE = "heart_rate"
    RESPIRATORY_RATE = "respiratory_rate"
    TEMPERATURE = "temperature"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    MEAN_BP = "mean_bp"
    SPO2 = "spo2"
    ON_OXYGEN = "on_oxygen"
    O2_FLOW = "o2_flow"
    FIO2 = "fio2"
    SPO2_SCALE = "spo2_scale"
    CONSCIOUSNESS = "consciousness"
    GCS = "gcs"
    GCS_EYE = "gcs_eye"
    GCS_VERBAL = "gcs_verbal"
    GCS_MOTOR = "gcs_motor"
    RESP_SUPPORT = "resp_support"
    URINE_OUTPUT = "urine_output"
    WEIGHT = "weight"
    WBC = "wbc"
    BANDS = "bands"
    LACTATE = "lactate"
    CREATININE = "creatinine"
    BILIRUBIN = "bilirubin"
    PLATELETS = "platelets"
    PAO2 = "pao2"
    PACO2 = "paco2"
    INR = "inr"
    APTT = "aptt"
    # Extra labs for the learned risk score (not used by the classic scores).
    BUN = "bun"
    BICARBONATE = "bicarbonate"
    PH = "ph"
    GLUCOSE = "glucose"
    HEMOGLOBIN = "hemoglobin"
    HEMATOCRIT = "hematocrit"
    POTASSIUM = "potassium"
    CHLORIDE = "chloride"
    CALCIUM = "calcium"
    MAGNESIUM = "magnesium"
    PHOSPHATE = "phosphate"
    AST = "ast"
    ALKALINE_PHOSPHATASE = "alkaline_phosphatase"
    BILIRUBIN_DIRECT = "bilirubin_direct"
    TROPONIN_I = "troponin_i"
    FIBRINOGEN = "fibrinogen"
    BASE_EXCESS = "base_excess"
    ETCO2 = "etco2"


CONSCIOUSNESS_LEVELS = ("A", "C", "V", "P", "U")
"""ACVPU, carried as `value_code` on consciousness observations (value is None)."""


@dataclass(frozen=True)
class MeasureSpec:
    """Canonical unit (UCUM), plausible range (inclusive) and accepted LOINC codes."""

    measure: Measure
    unit: str
    low: float | None
    high: float | None
    loinc: tuple[str, ...]
    kind: str  # "vital", "lab", "setting", "categorical"
    integer: bool = False


def _spec(measure: Measure, unit: str, low: float | None, high: float | None, loinc: tuple[str, ...],
          kind: str, integer: bool = False) -> MeasureSpec:
    return MeasureSpec(measure, unit, low, high, loinc, kind, integer)


_SPECS = (
    _spec(Measure.HEART_RATE, "/min", 0, 300, ("8867-4", "8889-8"), "vital"),
    _spec(Measure.RESPIRATORY_RATE, "/min", 0, 80, ("9279-1",), "vital"),
    _spec(Measure.TEMPERATURE, "Cel", 25.0, 45.0, ("8310-5", "8331-1", "8332-9", "8333-7", "8328-7"), "vital"),
    _spec(Measure.SYSTOLIC_BP, "mm[Hg]", 20, 300, ("8480-6", "76215-5", "8459-0", "8460-8"), "vital"),
    _spec(Measure.DIASTOLIC_BP, "mm[Hg]", 10, 250, ("8462-4", "76213-0", "8453-3", "8454-1"), "vital"),
    _spec(Measure.MEAN_BP, "mm[Hg]", 15, 250, ("8478-0", "76214-8", "8448-3"), "vital"),
    _spec(Measure.SPO2, "%", 50, 100, ("59408-5", "2708-6", "20564-1", "59417-6"), "vital"),
    _spec(Measure.ON_OXYGEN, "{bool}", 0, 1, (), "setting"),
    _spec(Measure.O2_FLOW, "L/min", 0, 80, ("3151-8",), "setting"),
    _spec(Measure.FIO2, "1", 0.21, 1.0, ("3150-0", "19996-8", "19994-3"), "setting"),
    _spec(Measure.SPO2_SCALE, "{scale}", 1, 2, (), "setting", integer=True),
    _spec(Measure.CONSCIOUSNESS, "{ACVPU}", None, None, ("67775-7", "80288-4"), "categorical"),
    _spec(Measure.GCS, "{score}", 3, 15, ("9269-2",), "vital", integer=True),
    _spec(Measure.GCS_EYE, "{score}", 1, 4, ("9267-6",), "vital", integer=True),
    _spec(Measure.GCS_VERBAL, "{score}", 1, 5, ("9270-0",), "vital", integer=True),
    _spec(Measure.GCS_MOTOR, "{score}", 1, 6, ("9268-4",), "vital", integer=True),
    _spec(Measure.RESP_SUPPORT, "{bool}", 0, 1, (), "setting"),
    _spec(Measure.URINE_OUTPUT, "mL", 0, 5000, ("9187-6",), "vital"),
    _spec(Measure.WEIGHT, "kg", 0.3, 500, ("29463-7", "3141-9"), "vital"),
    _spec(Measure.WBC, "10*9/L", 0, 500, ("6690-2", "26464-8", "804-5"), "lab"),
    _spec(Measure.BANDS, "%", 0, 100, ("764-1", "26508-2"), "lab"),
    _spec(Measure.LACTATE, "mmol/L", 0, 30, ("2524-7", "32693-4", "59032-3", "2518-9", "19239-5"), "lab"),
    _spec(Measure.CREATININE, "mg/dL", 0.05, 30, ("2160-0", "38483-4", "14682-9"), "lab"),
    _spec(Measure.BILIRUBIN, "mg/dL", 0, 70, ("1975-2", "14631-6", "42719-5"), "lab"),
    _spec(Measure.PLATELETS, "10*9/L", 0, 2000, ("777-3", "26515-7"), "lab"),
    _spec(Measure.PAO2, "mm[Hg]", 10, 800, ("2703-7",), "lab"),
    _spec(Measure.PACO2, "mm[Hg]", 5, 200, ("2019-8",), "lab"),
    _spec(Measure.INR, "{INR}", 0.5, 20, ("6301-6", "34714-6"), "lab"),
    _spec(Measure.APTT, "s", 10, 200, ("3173-2", "14979-9"), "lab"),
    _spec(Measure.BUN, "mg/dL", 0, 300, ("3094-0", "6299-2"), "lab"),
    _spec(Measure.BICARBONATE, "mmol/L", 0, 60, ("1963-8", "1959-6", "2028-9", "14627-4"), "lab"),
    _spec(Measure.PH, "[pH]", 6.5, 8.0, ("2744-1", "11558-4"), "lab"),
    _spec(Measure.GLUCOSE, "mg/dL", 10, 2000, ("2345-7", "2339-0", "41653-7"), "lab"),
    _spec(Measure.HEMOGLOBIN, "g/dL", 1, 25, ("718-7", "20509-6"), "lab"),
    _spec(Measure.HEMATOCRIT, "%", 5, 75, ("4544-3", "20570-8"), "lab"),
    _spec(Measure.POTASSIUM, "mmol/L", 1, 10, ("2823-3", "6298-4"), "lab"),
    _spec(Measure.CHLORIDE, "mmol/L", 50, 150, ("2075-0", "2069-3"), "lab"),
    _spec(Measure.CALCIUM, "mg/dL", 2, 20, ("17861-6", "49765-1"), "lab"),
    _spec(Measure.MAGNESIUM, "mg/dL", 0.3, 10, ("19123-9", "2601-3"), "lab"),
    _spec(Measure.PHOSPHATE, "mg/dL", 0.3, 20, ("2777-1",), "lab"),
    _spec(Measure.AST, "U/L", 0, 20000, ("1920-8",), "lab"),
    _spec(Measure.ALKALINE_PHOSPHATASE, "U/L", 0, 5000, ("6768-6",), "lab"),
    _spec(Measure.BILIRUBIN_DIRECT, "mg/dL", 0, 50, ("1968-7",), "lab"),
    _spec(Measure.TROPONIN_I, "ng/mL", 0, 500, ("10839-9", "42757-5"), "lab"),
    _spec(Measure.FIBRINOGEN, "mg/dL", 20, 2000, ("3255-7",), "lab"),
    _spec(Measure.BASE_EXCESS, "mmol/L", -40, 40, ("1925-7", "11555-0"), "lab"),
    _spec(Measure.ETCO2, "mm[Hg]", 0, 150, ("19889-5",), "vital"),
)

MEASURES: dict[Measure, MeasureSpec] = {s.measure: s for s in _SPECS}
"""Spec of every measure, keyed by measure."""

LOINC_TO_MEASURE: dict[str, Measure] = {code: s.measure for s in _SPECS for code in s.loinc}
"""Accepted LOINC code -> measure (preferred and alternative codes of §1)."""


def is_plausible(measure: Measure, value: float) -> bool:
    """True when `value` (already in the canonical unit) lies in the plausible range [ENG]."""
    spec = MEASURES[measure]
    if spec.low is not None and value < spec.low:
        return False
    return not (spec.high is not None and value > spec.high)
