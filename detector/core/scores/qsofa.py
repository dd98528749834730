"""qSOFA: Seymour et al. 2016 / Singer et al. 2016 (clinical-scores.md §2.2, §5).

One point per criterion; positive means >= 2. Altered mentation is GCS < 15 OR ACVPU other than A
(the task force's published definition, not the derivation model's GCS <= 13).
The engine counts a criterion if ANY valid value in the trailing 6 h meets it (§3.2).
"""

from __future__ import annotations

from itertools import compress

from detector.core.rules.tables import POSITIVE_AT, QSOFA
from detector.core.scores._text import num, with_missing
from detector.core.scores.inputs import ScoreInputs, ScoreResult, make_result

__all__ = ["CRITERIA", "consciousness_met", "gcs_met", "mentation_met", "qsofa", "rr_met", "sbp_met"]

CRITERIA: tuple[str, ...] = ("respiratory_rate", "systolic_bp", "mentation")
"""Criterion names, in table order (keys of `ScoreResult.points`)."""



def rr_met(rr: float | None) -> bool:
    """Respiratory rate (rules.tables.QSOFA: >= 22 /min, 22 counts)."""
    return QSOFA["respiratory_rate"].met(rr)


def sbp_met(sbp: float | None) -> bool:
    """Systolic BP (QSOFA: <= 100 mmHg, 100 counts)."""
    return QSOFA["systolic_bp"].met(sbp)


def gcs_met(gcs: int | None) -> bool:
    """GCS (QSOFA: below 15)."""
    return QSOFA["gcs"].met(gcs)


def consciousness_met(consciousness: str | None) -> bool:
    """ACVPU is C, V, P or U (anything recorded other than A)."""
    return consciousness is not None and consciousness != "A"


def mentation_met(gcs: int | None, consciousness: str | None) -> bool:
    """Altered mentation: GCS < 15 or ACVPU in C/V/P/U (counted once)."""
    return gcs_met(gcs) or consciousness_met(consciousness)


def qsofa(inputs: ScoreInputs) -> ScoreResult:
    """qSOFA 0-3 from one input set; band "positive" at >= 2. Missing items count as not met (§3.3)."""
    rr = rr_met(inputs.rr)
    sbp = sbp_met(inputs.sbp)
    ment = mentation_met(inputs.gcs, inputs.consciousness)
    value = rr + sbp + ment
    points = {"respiratory_rate": int(rr), "systolic_bp": int(sbp), "mentation": int(ment)}
    met = tuple(compress(CRITERIA, (rr, sbp, ment))) if value else ()
    missing: tuple[str, ...] = ()
    if value < 3:
        absent = []
        if not rr and inputs.rr is None:
            absent.append("rr")
        if not sbp and inputs.sbp is None:
            absent.append("sbp")
        if not ment and inputs.gcs is None and inputs.consciousness is None:
            absent.extend(("gcs", "consciousness"))  # either scale could show altered mentation
        missing = tuple(absent)
    band = "positive" if POSITIVE_AT["qsofa"].met(value) else "negative"

    return make_result("qsofa", value, band, points, met, missing,
                       (_explain, inputs, rr, sbp, ment, value, band, missing))


def _explain(inputs: ScoreInputs, rr: bool, sbp: bool, ment: bool, value: int, band: str,
             missing: tuple[str, ...]) -> str:
    """The qSOFA reason text (built only when read)."""
    shown = []
    if rr:
        shown.append(f"RR {num(inputs.rr)}")
    if sbp:
        shown.append(f"SBP {num(inputs.sbp)}")
    if ment:
        shown.append(f"GCS {inputs.gcs}" if gcs_met(inputs.gcs) else f"ACVPU {inputs.consciousness}")
    return with_missing(f"qSOFA {value} ({band})" + (": " + ", ".join(shown) if shown else ""), missing)
