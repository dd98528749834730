"""The worked examples E1-E16 of clinical-scores.md §4, as data shared by the score and command tests.

Each example has canonical §6 inputs and every value the spec lists. `news2_points` follow the spec's
order RR / SpO2 / O2 / SBP / HR / consciousness / temperature; `sofa_points` follow respiration,
coagulation, liver, cardiovascular, cns, renal. A key absent from `expected` is not stated by the spec.
E10 starts from the raw units of the spec and converts them with ingest's real `to_canonical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.core.units import to_canonical
from schemas.measures import Measure


@dataclass(frozen=True)
class WorkedExample:
    """One §4 example: id, canonical inputs, expected values."""

    id: str
    inputs: dict[str, Any]
    expected: dict[str, Any]
    infection_suspected: bool = True  # §4: SEP-1/Sepsis-3 lines assume documented or suspected infection
    notes: dict[str, Any] = field(default_factory=dict)


AIR = {"on_oxygen": False}

# E10 raw inputs converted exactly as ingest does (§0 rounding inside to_canonical).
E10_INPUTS: dict[str, Any] = {
    "temp_c": to_canonical(Measure.TEMPERATURE, 101.3, "[degF]"),
    "hr": 96, "rr": 19, "sbp": 112, "dbp": 64, "spo2": 94, "on_oxygen": True,
    "fio2": to_canonical(Measure.FIO2, 35, "%"),
    "consciousness": "A", "gcs": 15,
    "wbc": to_canonical(Measure.WBC, 3500, "/uL"),
    "lactate": to_canonical(Measure.LACTATE, 27, "mg/dL"),
    "creatinine": to_canonical(Measure.CREATININE, 221, "umol/L"),
    "bilirubin": to_canonical(Measure.BILIRUBIN, 34.2, "umol/L"),
    "platelets": to_canonical(Measure.PLATELETS, 140000, "/uL"),
    "pao2": to_canonical(Measure.PAO2, 9.0, "kPa"),
}

EXAMPLES: tuple[WorkedExample, ...] = (
    WorkedExample(
        "E1",
        {"hr": 72, "rr": 14, "temp_c": 36.8, "sbp": 124, "dbp": 78, "spo2": 98, **AIR, "consciousness": "A",
         "gcs": 15, "wbc": 7.5, "lactate": 1.0, "creatinine": 0.9, "bilirubin": 0.6, "platelets": 250},
        {"sirs": 0, "qsofa": 0, "news2": 0, "news2_band": "low", "news2_points": (0, 0, 0, 0, 0, 0, 0), "mews": 0,
         "sofa": 0, "sofa_points": (0, 0, 0, 0, 0, 0), "map": 93.33, "shock_index": 0.58},
    ),
    WorkedExample(
        "E2",
        {"hr": 90, "rr": 20, "temp_c": 38.0, "wbc": 12.0, "sbp": 120, "dbp": 80, "spo2": 96, **AIR,
         "consciousness": "A"},
        {"sirs": 0, "qsofa": 0, "news2": 0, "news2_band": "low", "mews": 1, "sofa": 0, "map": 93.33,
         "shock_index": 0.75},
    ),
    WorkedExample(
        "E3",
        {"hr": 91, "rr": 21, "temp_c": 38.1, "wbc": 12.1, "sbp": 118, "dbp": 70, "spo2": 95, **AIR,
         "consciousness": "A"},
        {"sirs": 4, "qsofa": 0, "news2": 5, "news2_band": "medium", "news2_points": (2, 1, 0, 0, 1, 0, 1),
         "mews": 2, "sofa": 0, "map": 86.00, "shock_index": 0.77, "sirs_sep1": 3, "sep1_severe_sepsis": False},
    ),
    WorkedExample(
        "E4",
        {"hr": 88, "rr": 22, "temp_c": 37.0, "sbp": 100, "dbp": 60, "spo2": 97, **AIR, "consciousness": "A",
         "gcs": 15},
        {"qsofa": 2, "sirs": 1, "news2": 4, "news2_band": "low", "news2_points": (2, 0, 0, 2, 0, 0, 0), "mews": 3,
         "sofa": 0, "map": 73.33, "shock_index": 0.88},
    ),
    WorkedExample(
        "E5",
        {"hr": 100, "rr": 21, "temp_c": 36.5, "sbp": 101, "dbp": 65, "spo2": 94, **AIR, "consciousness": "C",
         "gcs": 14},
        {"qsofa": 1, "sirs": 2, "news2": 8, "news2_band": "high", "news2_points": (2, 1, 0, 1, 1, 3, 0), "mews": 3,
         "sofa": 1, "sofa_points": (0, 0, 0, 0, 1, 0), "map": 77.00, "shock_index": 0.99, "sirs_sep1": 2,
         "sep1_severe_sepsis": False},
    ),
    WorkedExample(
        "E6a",
        {"hr": 84, "rr": 18, "temp_c": 36.9, "sbp": 135, "dbp": 80, "spo2": 90, **AIR, "consciousness": "A",
         "spo2_scale": 2},
        {"news2": 0, "news2_band": "low", "sirs": 0, "qsofa": 0, "mews": 1, "sofa": 0, "shock_index": 0.62},
    ),
    WorkedExample(
        "E6b",
        {"hr": 84, "rr": 18, "temp_c": 36.9, "sbp": 135, "dbp": 80, "spo2": 90, **AIR, "consciousness": "A",
         "spo2_scale": 1},
        {"news2": 3, "news2_band": "low-medium", "sirs": 0, "qsofa": 0, "mews": 1, "sofa": 0, "shock_index": 0.62},
    ),
    WorkedExample(
        "E7a",
        {"hr": 80, "rr": 19, "temp_c": 37.0, "sbp": 130, "dbp": 75, "consciousness": "A", "spo2_scale": 2,
         "spo2": 93, "on_oxygen": False},
        {"news2": 0, "news2_band": "low", "news2_points": (0, 0, 0, 0, 0, 0, 0), "sirs": 0, "qsofa": 0, "mews": 1,
         "sofa": 0, "shock_index": 0.62},
    ),
    WorkedExample(
        "E7b",
        {"hr": 80, "rr": 19, "temp_c": 37.0, "sbp": 130, "dbp": 75, "consciousness": "A", "spo2_scale": 2,
         "spo2": 93, "on_oxygen": True},
        {"news2": 3, "news2_band": "low", "news2_points": (0, 1, 2, 0, 0, 0, 0), "sirs": 0, "qsofa": 0, "mews": 1,
         "sofa": 0, "shock_index": 0.62},
    ),
    WorkedExample(
        "E7c",
        {"hr": 80, "rr": 19, "temp_c": 37.0, "sbp": 130, "dbp": 75, "consciousness": "A", "spo2_scale": 2,
         "spo2": 97, "on_oxygen": True},
        {"news2": 5, "news2_band": "medium", "news2_points": (0, 3, 2, 0, 0, 0, 0), "sirs": 0, "qsofa": 0,
         "mews": 1, "sofa": 0, "shock_index": 0.62},
    ),
    WorkedExample(
        "E8",
        {"hr": 72, "rr": 26, "temp_c": 37.0, "sbp": 125, "dbp": 80, "spo2": 97, **AIR, "consciousness": "A"},
        {"news2": 3, "news2_band": "low-medium", "news2_points": (3, 0, 0, 0, 0, 0, 0), "sirs": 1, "qsofa": 1,
         "mews": 2, "sofa": 0, "map": 95.00, "shock_index": 0.58},
    ),
    WorkedExample(
        "E9",
        {"hr": 128, "rr": 28, "temp_c": 39.4, "sbp": 82, "dbp": 44, "map": 56, "spo2": 91, "on_oxygen": True,
         "fio2": 0.40, "consciousness": "V", "gcs": 12, "wbc": 18.5, "bands_pct": 14, "lactate": 4.6,
         "creatinine": 2.4, "bilirubin": 2.1, "platelets": 85, "pao2": 68, "paco2": 30, "resp_support": False},
        {"sirs": 4, "qsofa": 3, "news2": 18, "news2_band": "high", "news2_points": (3, 3, 2, 3, 2, 3, 2),
         "mews": 8, "mews_points": (1, 2, 2, 2, 1), "sofa": 11, "sofa_points": (2, 2, 2, 1, 2, 2), "pf": 170.0,
         "shock_index": 1.56, "sirs_sep1": 4, "sep1_severe_sepsis": True, "sep1_septic_shock": True,
         "sepsis3": True, "sepsis3_septic_shock": None},
    ),
    WorkedExample(
        "E10",
        E10_INPUTS,
        {"converted": {"temp_c": 38.5, "fio2": 0.35, "wbc": 3.5, "lactate": 3.0, "creatinine": 2.5,
                       "bilirubin": 2.0, "platelets": 140, "pao2": 67.51},
         "sirs": 3, "qsofa": 0, "news2": 5, "news2_band": "medium", "news2_points": (0, 1, 2, 0, 1, 0, 1),
         "mews": 3, "sofa": 7, "sofa_points": (2, 1, 2, 0, 0, 2), "pf": 192.89, "map": 80.00, "shock_index": 0.86,
         "sirs_sep1": 3, "sep1_severe_sepsis": True, "sep1_septic_shock": False},
    ),
    WorkedExample(
        "E11",
        {"hr": 84, "rr": 18, "paco2": 30, "temp_c": 35.8, "wbc": 9.0, "bands_pct": 12, "sbp": 130, "dbp": 80,
         "spo2": 97, **AIR, "consciousness": "A"},
        {"sirs": 3, "sirs_sep1": 2, "qsofa": 0, "news2": 1, "news2_band": "low", "mews": 1, "sofa": 0,
         "shock_index": 0.65},
    ),
    WorkedExample(
        "E12",
        {"hr": 50, "rr": 11, "temp_c": 35.0, "sbp": 220, "dbp": 100, "spo2": 96, **AIR, "consciousness": "A"},
        {"news2": 8, "news2_band": "high", "news2_points": (1, 0, 0, 3, 1, 0, 3), "mews": 3, "sirs": 1, "qsofa": 0,
         "sofa": 0, "map": 140.00, "shock_index": 0.23},
    ),
    WorkedExample(
        "E13",
        {"hr": 110, "rr": 18, "temp_c": 37.6, "sbp": 95, "dbp": 55, "map": 68, "spo2": 96, "on_oxygen": True,
         "fio2": 0.5, "pao2": 75, "resp_support": True, "norepinephrine": 0.08, "consciousness": "P", "gcs": 7,
         "platelets": 45, "bilirubin": 1.1, "creatinine": 1.9, "lactate": 3.1},
        {"sofa": 13, "sofa_points": (3, 3, 0, 3, 3, 1), "pf": 150.0, "news2": 8, "news2_band": "high",
         "news2_points": (0, 0, 2, 2, 1, 3, 0), "mews": 5, "sirs": 1, "qsofa": 2, "shock_index": 1.16,
         "sepsis3_septic_shock": True, "sirs_sep1": 1, "sep1_severe_sepsis": False},
    ),
    WorkedExample(
        "E14",
        {"hr": 118, "sbp": 88},
        {"news2": 5, "news2_band": "medium", "news2_incomplete": True, "sirs": 1, "qsofa": 1, "mews": 3, "sofa": 0,
         "map": None, "shock_index": 1.34},
    ),
    WorkedExample(
        "E15",
        {"hr": 40, "rr": 9, "temp_c": 36.1, "sbp": 91, "dbp": 60, "spo2": 92, **AIR, "consciousness": "A"},
        {"news2": 8, "news2_band": "high", "news2_points": (1, 2, 0, 2, 3, 0, 0), "mews": 3, "sirs": 0, "qsofa": 1,
         "sofa": 0, "map": 70.33, "shock_index": 0.44},
    ),
    WorkedExample(
        "E16",
        {"hr": 76, "rr": 16, "temp_c": 36.6, "sbp": 128, "dbp": 76, "spo2": 96, "on_oxygen": True,
         "consciousness": "A"},
        {"news2": 2, "news2_band": "low", "news2_points": (0, 0, 2, 0, 0, 0, 0), "mews": 1, "sirs": 0, "qsofa": 0,
         "sofa": 0, "shock_index": 0.59},
    ),
)
