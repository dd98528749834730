"""Every score of one input set in one call: the function the `score` command and the engine share."""

from __future__ import annotations

from detector.core.scores.inputs import ScoreInputs, ScoreResult
from detector.core.scores.mews import mews
from detector.core.scores.news2 import news2
from detector.core.scores.qsofa import qsofa
from detector.core.scores.sepsis_defs import sep1_septic_shock, sep1_severe_sepsis
from detector.core.scores.shock_index import shock_index
from detector.core.scores.sirs import sirs_bone, sirs_sep1
from detector.core.scores.sofa import sofa

__all__ = ["SCORE_NAMES", "score_all"]

SCORE_NAMES: tuple[str, ...] = ("sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa", "shock_index")
"""Keys of `score_all`'s result without infection information."""


def score_all(inputs: ScoreInputs, *, infection_suspected: bool | None = None) -> dict[str, ScoreResult]:
    """All classic scores of one input set, keyed by `ScoreResult.name` (see `SCORE_NAMES`).

    With `infection_suspected` given (True or False), also "sep1_severe_sepsis" and "sep1_septic_shock".
    Sepsis-3 needs a SOFA baseline, so it is not here: call `sepsis3(...)` with the engine's baseline.
    """
    results = {
        "sirs": sirs_bone(inputs),
        "sirs_sep1": sirs_sep1(inputs),
        "qsofa": qsofa(inputs),
        "news2": news2(inputs),
        "mews": mews(inputs),
        "sofa": sofa(inputs),
        "shock_index": shock_index(inputs),
    }
    if infection_suspected is not None:
        results["sep1_severe_sepsis"] = sep1_severe_sepsis(inputs, infection_suspected)
        results["sep1_septic_shock"] = sep1_septic_shock(inputs, infection_suspected)
    return results
