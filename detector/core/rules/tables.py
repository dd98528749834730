"""Every clinical score table, band and threshold the detector applies, in one place, with its source.

This is the file a clinical lead edits: each score function in detector/core/scores reads its table here at
every call (nothing is copied at import), and so do the engine's input selection (timing.py) and the
worst-value helpers (scores/worst.py). tests/detector/core/rules/test_threshold_edit.py proves that one edit
here changes every path. docs/clinical-rules.md says how to change a rule and which tests to update.

Values are in the canonical units of clinical-scores.md §1 (mmHg, /min, °C, mg/dL, 10^9/L, mmol/L, µg/kg/min).
Comparisons are written as the specification writes them (§0: `>` is strictly greater). Rows marked [ENG] are
engineering defaults that need clinical sign-off (clinical-scores.md, Status).

The escalation ladder (which score results raise which alert level, §3.4) and the timing windows (§3.2) are
deployment settings, not score tables: detector/core/config.py (`ladder`, `timing`), documented in
docs/configuration.md.
"""

from __future__ import annotations

from detector.core.rules.kinds import Cascade, Limit, Outside

__all__ = ["MEWS", "MEWS_AVPU", "NEWS2", "NEWS2_BANDS", "NEWS2_CONSCIOUSNESS", "NEWS2_OXYGEN_POINTS", "OXYGEN",
           "POSITIVE_AT", "QSOFA", "SEP1_ORGAN_DYSFUNCTION", "SEP1_SEPTIC_SHOCK", "SEPSIS3", "SIRS_BONE", "SIRS_SEP1",
           "SOFA", "SOFA_RESPIRATION_CAP_WITHOUT_SUPPORT", "SOURCES"]

SOURCES: dict[str, str] = {
    "NEWS2": "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017; Chart 1 "
             "(clinical-scores.md §2.3)",
    "MEWS": "Subbe CP et al. Validation of a modified Early Warning Score in medical admissions. QJM 2001;94:521-6 "
            "(clinical-scores.md §2.4)",
    "SIRS_BONE": "Bone RC et al. ACCP/SCCM Consensus Conference. Chest 1992;101:1644-55 (clinical-scores.md §2.1)",
    "SIRS_SEP1": "CMS/The Joint Commission, Specifications Manual for National Hospital Inpatient Quality Measures, "
                 "SEP-1 (clinical-scores.md §2.8)",
    "QSOFA": "Seymour CW et al. JAMA 2016;315:762-74; Singer M et al. JAMA 2016;315:801-10 (clinical-scores.md §2.2)",
    "SOFA": "Vincent JL et al. Intensive Care Med 1996;22:707-10, table as reprinted in Singer M et al. JAMA "
            "2016;315:801-10 (clinical-scores.md §2.5)",
    "SEP1": "CMS SEP-1 severe sepsis and septic shock (clinical-scores.md §2.8)",
    "SEPSIS3": "Singer M et al. The Third International Consensus Definitions for Sepsis and Septic Shock "
               "(Sepsis-3). JAMA 2016;315:801-10 (clinical-scores.md §2.7)",
    "SHOCK_INDEX": "Allgöwer M, Burri C. Dtsch Med Wochenschr 1967;92:1947-50; the 1.0 flag is [ENG] "
                   "(clinical-scores.md §2.6)",
    "OXYGEN": "clinical-scores.md §1.3 (room air FiO2 0.21; FiO2 above it means supplemental oxygen)",
}
"""Where each table below comes from."""

# ----------------------------------------------------------------------------------------------- NEWS2 (RCP 2017)
NEWS2: dict[str, Cascade] = {
    "rr": Cascade((("<=", 8, 3), ("<=", 11, 1), ("<=", 20, 0), ("<=", 24, 2)), otherwise=3),
    "spo2_scale1": Cascade((("<=", 91, 3), ("<=", 93, 2), ("<=", 95, 1)), otherwise=0),
    # Scale 2 (an explicit 88-92 % target order): above 92 scores only on oxygen (over-oxygenation), below.
    "spo2_scale2": Cascade((("<=", 83, 3), ("<=", 85, 2), ("<=", 87, 1), ("<=", 92, 0)), otherwise=0),
    "spo2_scale2_on_oxygen": Cascade((("<=", 94, 1), ("<=", 96, 2)), otherwise=3),
    "sbp": Cascade((("<=", 90, 3), ("<=", 100, 2), ("<=", 110, 1), ("<=", 219, 0)), otherwise=3),
    "hr": Cascade((("<=", 40, 3), ("<=", 50, 1), ("<=", 90, 0), ("<=", 110, 1), ("<=", 130, 2)), otherwise=3),
    "temp_c": Cascade((("<=", 35.0, 3), ("<=", 36.0, 1), ("<=", 38.0, 0), ("<=", 39.0, 1)), otherwise=2),
}
NEWS2_OXYGEN_POINTS: dict[bool, int] = {True: 2, False: 0}
"""Air or oxygen, added on top of the SpO2 points on both scales (not recorded = air)."""
NEWS2_CONSCIOUSNESS: dict[str, int] = {"A": 0, "C": 3, "V": 3, "P": 3, "U": 3}
"""ACVPU: C is NEW confusion, as serious as V, P or U."""
NEWS2_BANDS: dict[str, Limit] = {"high": Limit(">=", 7), "medium": Limit(">=", 5)}
"""Checked in this order; below both: "low-medium" when any single parameter scored 3 (a red score), else "low"."""

# ------------------------------------------------------------------------------------------ MEWS (Subbe et al. 2001)
MEWS: dict[str, Cascade] = {
    "sbp": Cascade((("<=", 70, 3), ("<=", 80, 2), ("<=", 100, 1), ("<", 200, 0)), otherwise=2),
    "hr": Cascade((("<=", 40, 2), ("<=", 50, 1), ("<=", 100, 0), ("<=", 110, 1), ("<", 130, 2)), otherwise=3),  # 40: 2
    "rr": Cascade((("<", 9, 2), ("<", 15, 0), ("<=", 20, 1), ("<", 30, 2)), otherwise=3),
    "temp_c": Cascade((("<", 35.0, 2), ("<", 38.5, 0)), otherwise=2),
}
MEWS_AVPU: dict[str, int] = {"A": 0, "C": 1, "V": 1, "P": 2, "U": 3}
"""Subbe's AVPU has no C (new confusion): scored 1 like V [ENG]."""

# ------------------------------------------------------------------------------------- SIRS: Bone 1992 and SEP-1
SIRS_BONE: dict[str, Limit | Outside] = {
    "temperature": Outside(below=36.0, above=38.0),
    "heart_rate": Limit(">", 90),
    "respiratory_rate": Limit(">", 20),
    "paco2": Limit("<", 32),  # mmHg (4.27 kPa), the respiration criterion's alternative
    "wbc": Outside(below=4.0, above=12.0),
    "bands_pct": Limit(">", 10),  # the white-cell criterion's alternative
}
SIRS_SEP1: dict[str, Limit | Outside] = {
    "temperature": Outside(below=36.0, above=38.3),  # > 100.9 °F
    "heart_rate": Limit(">", 90),
    "respiratory_rate": Limit(">", 20),  # no PaCO2 alternative in SEP-1
    "wbc": Outside(below=4.0, above=12.0),
    "bands_pct": Limit(">", 10),
}

# -------------------------------------------------------------------------------------------------- qSOFA (2016)
QSOFA: dict[str, Limit] = {
    "respiratory_rate": Limit(">=", 22),
    "systolic_bp": Limit("<=", 100),
    "gcs": Limit("<", 15),  # altered mentation: GCS < 15, or ACVPU other than A
}

POSITIVE_AT: dict[str, Limit] = {
    "sirs": Limit(">=", 2),  # both SIRS variants
    "qsofa": Limit(">=", 2),
    "mews": Limit(">=", 5),  # band "elevated" (Subbe: associated with death and ICU/HDU admission)
    "shock_index": Limit(">=", 1.0),  # band "elevated" [ENG]
}
"""The score value at which each score's band turns positive / elevated."""

# ------------------------------------------------------------------------------------- SOFA (Vincent 1996)
SOFA: dict[str, Cascade] = {
    "respiration": Cascade((("<", 100, 4), ("<", 200, 3), ("<", 300, 2), ("<", 400, 1)), otherwise=0),  # P/F mmHg
    "platelets": Cascade((("<", 20, 4), ("<", 50, 3), ("<", 100, 2), ("<", 150, 1)), otherwise=0),
    "bilirubin": Cascade(((">=", 12.0, 4), (">=", 6.0, 3), (">=", 2.0, 2), (">=", 1.2, 1)), otherwise=0),
    "map": Cascade((("<", 70, 1),), otherwise=0),
    # catecholamines in µg/kg/min that ran >= 1 h; the cardiovascular points are the largest of these and MAP's
    "norepinephrine": Cascade(((">", 0.1, 4), (">", 0, 3)), otherwise=0),
    "epinephrine": Cascade(((">", 0.1, 4), (">", 0, 3)), otherwise=0),
    "dopamine": Cascade(((">", 15, 4), (">", 5, 3), (">", 0, 2)), otherwise=0),  # exactly 5 scores 2
    "dobutamine": Cascade(((">", 0, 2),), otherwise=0),  # any dose
    "gcs": Cascade(((">=", 15, 0), (">=", 13, 1), (">=", 10, 2), (">=", 6, 3)), otherwise=4),
    "creatinine": Cascade(((">=", 5.0, 4), (">=", 3.5, 3), (">=", 2.0, 2), (">=", 1.2, 1)), otherwise=0),
    "urine_ml_24h": Cascade((("<", 200, 4), ("<", 500, 3)), otherwise=0),  # renal: the larger of this and creatinine
}
SOFA_RESPIRATION_CAP_WITHOUT_SUPPORT: dict[str, int] = {"points": 2}
"""Respiration 3 and 4 need respiratory support (invasive ventilation or NIV/CPAP); without it the cap is 2."""

# ------------------------------------------------------------------------------------ SEP-1 and Sepsis-3
SEP1_ORGAN_DYSFUNCTION: dict[str, Limit] = {
    "sbp": Limit("<", 90),
    "map": Limit("<", 65),
    "creatinine": Limit(">", 2.0),
    "bilirubin": Limit(">", 2.0),
    "platelets": Limit("<", 100),
    "inr": Limit(">", 1.5),
    "aptt": Limit(">", 60),
    "lactate": Limit(">", 2.0),
}
SEP1_SEPTIC_SHOCK: dict[str, Limit] = {"lactate": Limit(">=", 4.0)}
"""Initial lactate at or above which severe sepsis is septic shock."""
SEPSIS3: dict[str, Limit] = {
    "sofa_rise": Limit(">=", 2),  # points above the baseline, with suspected infection: sepsis
    "lactate": Limit(">", 2.0),  # septic shock: with a vasopressor running
}

# ----------------------------------------------------------------------------------- oxygen (clinical-scores §1.3)
OXYGEN: dict[str, float] = {"room_air_fio2": 0.21}
"""FiO2 of room air: assumed when no oxygen is recorded; a recorded FiO2 above it means supplemental oxygen."""
