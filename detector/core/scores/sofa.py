"""SOFA: Vincent et al. 1996, table as reprinted in Singer et al. 2016 (clinical-scores.md §2.5, §5).

Six systems scored 0-4 each (total 0-24), in the threshold form of §2.5 (no gaps between ranges); the bands are
detector/core/rules/tables.py's SOFA*.
Originally the worst value in each 24 h period is used: the engine picks the worst value per input
(see `worst.py`) and passes one `ScoreInputs`. Missing components score 0 (Sepsis-3 EHR practice,
§3.3) and set incomplete. Catecholamine doses are µg/kg/min that have run >= 1 h (the caller checks).
"""

from __future__ import annotations

from itertools import compress

from detector.core.rules.tables import OXYGEN, SOFA, SOFA_RESPIRATION_CAP_WITHOUT_SUPPORT
from detector.core.scores._rounding import round2_fast
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = [
    "SYSTEMS",
    "bilirubin_points",
    "cardiovascular_points",
    "creatinine_points",
    "gcs_points",
    "map_points",
    "platelet_points",
    "renal_points",
    "respiration_points",
    "sofa",
    "urine_points",
    "vasopressor_points",
]

SYSTEMS: tuple[str, ...] = ("respiration", "coagulation", "liver", "cardiovascular", "cns", "renal")
"""System names in table order; the keys of `ScoreResult.points`."""


def respiration_points(pf: float | None, resp_support: bool) -> int:
    """PaO2/FiO2 mmHg (rules.tables.SOFA["respiration"]); without respiratory support (invasive ventilation or
    NIV/CPAP) capped at SOFA_RESPIRATION_CAP_WITHOUT_SUPPORT (§5). Unknown P/F (no PaO2, or FiO2 unknown) → 0."""
    points = SOFA["respiration"].points(pf)
    if resp_support:
        return points
    return min(points, SOFA_RESPIRATION_CAP_WITHOUT_SUPPORT["points"])


def platelet_points(platelets: float | None) -> int:
    """Platelets 10^9/L (SOFA["platelets"]; missing → 0)."""
    return SOFA["platelets"].points(platelets)


def bilirubin_points(bilirubin: float | None) -> int:
    """Total bilirubin mg/dL (SOFA["bilirubin"]: 12.0 scores 4, §5; missing → 0)."""
    return SOFA["bilirubin"].points(bilirubin)


def map_points(map_mmhg: float | None) -> int:
    """MAP mmHg (SOFA["map"]: < 70 → 1; missing → 0)."""
    return SOFA["map"].points(map_mmhg)


def vasopressor_points(norepinephrine: float | None = None, epinephrine: float | None = None,
                       dopamine: float | None = None, dobutamine: float | None = None) -> int:
    """Catecholamines in µg/kg/min (run >= 1 h); 0 or None = not running. The largest of each drug's points in
    SOFA (dopamine exactly 5 scores 2, Vincent, §5; dobutamine any dose 2). Vasopressin is not in the table."""
    return max(SOFA["norepinephrine"].points(norepinephrine or 0.0), SOFA["epinephrine"].points(epinephrine or 0.0),
               SOFA["dopamine"].points(dopamine or 0.0), SOFA["dobutamine"].points(dobutamine or 0.0))


def cardiovascular_points(map_mmhg: float | None, norepinephrine: float | None = None,
                          epinephrine: float | None = None, dopamine: float | None = None,
                          dobutamine: float | None = None) -> int:
    """The larger of the MAP points and the vasopressor points."""
    return max(map_points(map_mmhg), vasopressor_points(norepinephrine, epinephrine, dopamine, dobutamine))


def gcs_points(gcs: int | None) -> int:
    """GCS (SOFA["gcs"]: 15 → 0 ... 3-5 → 4). ACVPU is never converted (missing → 0)."""
    return SOFA["gcs"].points(gcs)


def creatinine_points(creatinine: float | None) -> int:
    """Creatinine mg/dL (SOFA["creatinine"]; missing → 0)."""
    return SOFA["creatinine"].points(creatinine)


def urine_points(urine_ml_24h: float | None) -> int:
    """Urine output over 24 h (SOFA["urine_ml_24h"]: < 200 mL → 4; < 500 mL → 3; missing → 0)."""
    return SOFA["urine_ml_24h"].points(urine_ml_24h)


def renal_points(creatinine: float | None, urine_ml_24h: float | None = None) -> int:
    """The larger of the creatinine points and the urine-output points."""
    return max(creatinine_points(creatinine), urine_points(urine_ml_24h))


def sofa(inputs: ScoreInputs) -> ScoreResult:
    """SOFA total 0-24 with per-system points from one input set (worst values chosen by the caller).

    Respiration uses P/F = pao2 / FiO2 rounded 2 dp (§0), FiO2 per §1.3: the recorded value; 0.21 when
    absent and `on_oxygen` is not True; unknown (respiration 0, `fio2` listed missing) when on oxygen
    without a recorded FiO2. Cardiovascular uses the measured MAP, else MAP derived from sbp/dbp.
    """
    fio2 = inputs.fio2
    if fio2 is None and inputs.on_oxygen is not True:
        fio2 = OXYGEN["room_air_fio2"]  # same as effective_fio2, inlined for speed
    pao2 = inputs.pao2
    pf = round2_fast(pao2 / fio2) if pao2 is not None and fio2 else None
    mean_bp = inputs.map
    if mean_bp is None and inputs.sbp is not None and inputs.dbp is not None:
        mean_bp = round2_fast((inputs.sbp + 2 * inputs.dbp) / 3)  # same as derived_map
    if inputs.has_vasopressor_data:
        vaso = vasopressor_points(inputs.norepinephrine, inputs.epinephrine, inputs.dopamine, inputs.dobutamine)
    else:
        vaso = 0
    urine = urine_points(inputs.urine_ml_24h)
    respiration = respiration_points(pf, inputs.resp_support)
    coagulation = platelet_points(inputs.platelets)
    liver = bilirubin_points(inputs.bilirubin)
    cardiovascular = max(map_points(mean_bp), vaso)
    cns = gcs_points(inputs.gcs)
    renal = creatinine_points(inputs.creatinine)
    if urine > renal:
        renal = urine
    points = {"respiration": respiration, "coagulation": coagulation, "liver": liver,
              "cardiovascular": cardiovascular, "cns": cns, "renal": renal}
    total = respiration + coagulation + liver + cardiovascular + cns + renal
    absent = []
    if pao2 is None:
        absent.append("pao2")
    elif fio2 is None:
        absent.append("fio2")
    if inputs.platelets is None:
        absent.append("platelets")
    if inputs.bilirubin is None:
        absent.append("bilirubin")
    if mean_bp is None and vaso == 0:
        absent.append("map")
    if inputs.gcs is None:
        absent.append("gcs")
    if inputs.creatinine is None and urine < 4:
        absent.append("creatinine")
    missing = tuple(absent)
    met = tuple(compress(SYSTEMS, (respiration, coagulation, liver, cardiovascular, cns, renal))) if total else ()

    return make_result("sofa", total, None, points, met, missing,
                       (_explain, inputs, points, met, total, missing, pf, mean_bp, vaso))


def _explain(inputs: ScoreInputs, points: dict[str, int], met: tuple[str, ...], total: int,
             missing: tuple[str, ...], pf: float | None, mean_bp: float | None, vaso: int) -> str:
    """The SOFA reason text (built only when read)."""
    shown = ", ".join(f"{s} {points[s]} ({_evidence(s, inputs, pf, mean_bp, vaso)})" for s in met)
    return with_missing(f"SOFA {total}" + (f": {shown}" if shown else ""), missing)


def _evidence(system: str, inputs: ScoreInputs, pf: float | None, mean_bp: float | None, vaso: int) -> str:
    if system == "respiration":
        return f"P/F {num(pf)}" + (", support" if inputs.resp_support else "")
    if system == "coagulation":
        return f"platelets {num(inputs.platelets)}"
    if system == "liver":
        return f"bilirubin {num(inputs.bilirubin)}"
    if system == "cardiovascular":
        return "vasopressor" if vaso else f"MAP {num(mean_bp)}"
    if system == "cns":
        return f"GCS {inputs.gcs}"
    if urine_points(inputs.urine_ml_24h) > creatinine_points(inputs.creatinine):
        return f"urine {num(inputs.urine_ml_24h)} mL/24 h"
    return f"creatinine {num(inputs.creatinine)}"
