"""Which value of a window is the "worst" for a score (clinical-scores.md §3.2).

The engine keeps several valid values per input in a window and must hand ONE value per input to a score:
* SIRS / SEP-1 SIRS / qSOFA / SEP-1 organ signs: a criterion counts if ANY value in the trailing 6 h meets it,
  so the worst value is one that meets it (if any does);
* SOFA: the worst value in the trailing 24 h (lowest platelets, highest bilirubin, lowest MAP, ...);
* NEWS2 / MEWS: one observation set (the latest), but `worst_for` also answers "the worst of the hour".

`worst_for(score, key, values)` returns the value that scores the most points for that score's parameter.
Ties on points are broken towards the more extreme value in the parameter's bad direction (lower platelets,
higher heart rate); for two-sided parameters (temperature, WBC) the first value in iteration order wins,
so pass values newest-first to prefer the newest. None values are skipped; no values → None.
"""

from __future__ import annotations

# The package re-exports the score FUNCTIONS under the module names (qsofa, news2, ...), which hides the
# modules as package attributes; take the modules from sys.modules after importing them.
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

import detector.core.scores.mews
import detector.core.scores.news2
import detector.core.scores.qsofa
import detector.core.scores.sepsis_defs
import detector.core.scores.sirs
import detector.core.scores.sofa  # noqa: F401

_mews = sys.modules["detector.core.scores.mews"]
_news2 = sys.modules["detector.core.scores.news2"]
_qsofa = sys.modules["detector.core.scores.qsofa"]
_sep = sys.modules["detector.core.scores.sepsis_defs"]
_sirs = sys.modules["detector.core.scores.sirs"]
_sofa = sys.modules["detector.core.scores.sofa"]

__all__ = ["WORST_RULES", "points_for", "worst_for"]

V = TypeVar("V")

# (points function of one value, tie-break direction: +1 higher is worse, -1 lower is worse, 0 two-sided)
_Rule = tuple[Callable[..., int], int]


def _met(predicate: Callable[[object], bool]) -> Callable[[object], int]:
    return lambda value: int(predicate(value))


WORST_RULES: dict[str, dict[str, _Rule]] = {
    "sirs": {
        "temp_c": (_met(_sirs.temperature_met), 0), "hr": (_met(_sirs.heart_rate_met), 1),
        "rr": (_met(_sirs.rr_met), 1), "paco2": (_met(_sirs.paco2_met), -1),
        "wbc": (_met(_sirs.wbc_met), 0), "bands_pct": (_met(_sirs.bands_met), 1),
    },
    "sirs_sep1": {
        "temp_c": (_met(_sirs.temperature_met_sep1), 0), "hr": (_met(_sirs.heart_rate_met), 1),
        "rr": (_met(_sirs.rr_met), 1), "wbc": (_met(_sirs.wbc_met), 0), "bands_pct": (_met(_sirs.bands_met), 1),
    },
    "qsofa": {
        "rr": (_met(_qsofa.rr_met), 1), "sbp": (_met(_qsofa.sbp_met), -1), "gcs": (_met(_qsofa.gcs_met), -1),
        "consciousness": (_met(_qsofa.consciousness_met), 0),
    },
    "news2": {
        "rr": (_news2.rr_points, 0), "spo2": (_news2.spo2_points, 0), "on_oxygen": (_news2.oxygen_points, 0),
        "sbp": (_news2.sbp_points, 0), "hr": (_news2.hr_points, 0),
        "consciousness": (_news2.consciousness_points, 0), "temp_c": (_news2.temp_points, 0),
    },
    "mews": {
        "sbp": (_mews.sbp_points, 0), "hr": (_mews.hr_points, 0), "rr": (_mews.rr_points, 0),
        "temp_c": (_mews.temp_points, 0), "consciousness": (_mews.avpu_points, 0),
    },
    "sofa": {
        "pf": (_sofa.respiration_points, -1), "platelets": (_sofa.platelet_points, -1),
        "bilirubin": (_sofa.bilirubin_points, 1), "map": (_sofa.map_points, -1), "gcs": (_sofa.gcs_points, -1),
        "creatinine": (_sofa.creatinine_points, 1), "urine_ml_24h": (_sofa.urine_points, -1),
        "norepinephrine": (lambda v: _sofa.vasopressor_points(norepinephrine=v), 1),
        "epinephrine": (lambda v: _sofa.vasopressor_points(epinephrine=v), 1),
        "dopamine": (lambda v: _sofa.vasopressor_points(dopamine=v), 1),
        "dobutamine": (lambda v: _sofa.vasopressor_points(dobutamine=v), 1),
    },
    "sep1": {
        "sbp": (_met(_sep.sbp_met), -1), "map": (_met(_sep.map_met), -1),
        "creatinine": (_met(_sep.creatinine_met), 1), "bilirubin": (_met(_sep.bilirubin_met), 1),
        "platelets": (_met(_sep.platelets_met), -1), "inr": (_met(_sep.inr_met), 1),
        "aptt": (_met(_sep.aptt_met), 1), "lactate": (_met(_sep.lactate_met), 1),
    },
}
"""score -> input key -> (points of one value, tie-break direction). "pf" is the derived PaO2/FiO2 (mmHg)."""


def points_for(score: str, key: str, value: object, *, spo2_scale: int = 1, on_oxygen: bool | None = None,
               resp_support: bool = False) -> int:
    """Points (or 0/1 for a criterion) that one `value` of input `key` earns in `score`.

    Context keywords: NEWS2 `spo2` needs `spo2_scale` and `on_oxygen`; SOFA `pf` needs `resp_support`.
    Raises KeyError for a (score, key) pair that does not exist.
    """
    function, _direction = WORST_RULES[score][key]
    if value is None:
        return 0
    if score == "news2" and key == "spo2":
        return function(value, spo2_scale, on_oxygen)
    if score == "sofa" and key == "pf":
        return function(value, resp_support)
    return function(value)


def worst_for(score: str, key: str, values: Iterable[V | None], *, spo2_scale: int = 1,
              on_oxygen: bool | None = None, resp_support: bool = False) -> V | None:
    """The value among `values` that earns the most points for input `key` in `score` (None if no values).

    Ties go to the more extreme value in the bad direction, else to the earliest in iteration order.
    """
    _function, direction = WORST_RULES[score][key]
    best: V | None = None
    best_rank: tuple[int, float] | None = None
    for value in values:
        if value is None:
            continue
        pts = points_for(score, key, value, spo2_scale=spo2_scale, on_oxygen=on_oxygen, resp_support=resp_support)
        extremity = direction * value if direction and isinstance(value, int | float) else 0.0
        rank = (pts, extremity)
        if best_rank is None or rank > best_rank:
            best, best_rank = value, rank
    return best
