"""Pure clinical scores, exactly as ../shared/docs/clinical-scores.md specifies (§0-§2, §3.3, §5).

No time, no I/O: every function scores ONE `ScoreInputs` (canonical units, `None` = missing). The detector
engine owns the §3.2 timing rules and builds the inputs; this package tells it how to pick values:

* `ScoreInputs` (inputs.py): the §6 keys plus inr, aptt, urine_ml_24h and vasopressor doses. The plain
  constructor is the fast trusted path; `ScoreInputs.from_mapping(d)` validates untrusted JSON and raises
  `ScoreInputError(key, message)`.
* `ScoreResult`: name, value, band, points per component/criterion, met, missing, incomplete, reason.
* Scores: `sirs_bone`, `sirs_sep1`, `qsofa`, `news2`, `mews`, `sofa`, `shock_index`; definitions
  `sep1_severe_sepsis`, `sep1_septic_shock`, `sepsis3`, `sepsis3_septic_shock`; `score_all` runs the classic ones.
* Naming: the package attributes `qsofa`, `news2`, `mews`, `sofa` and `shock_index` are the score FUNCTIONS
  (they hide the same-named modules), so import the helpers from the module path:
  `from detector.core.scores.news2 import rr_points` (not `scores.news2.rr_points`).
* Per-criterion predicates and per-parameter point functions live in the score modules
  (`sirs.temperature_met`, `qsofa.rr_met`, `news2.rr_points`, `mews.hr_points`, `sofa.platelet_points`,
  `sepsis_defs.lactate_met`, ...). Use them to apply the window rules per criterion: a SIRS/qSOFA/SEP-1
  criterion counts if ANY valid value in the trailing 6 h meets it; SOFA labs use the worst value in 24 h.
* `worst_for(score, key, values)` / `points_for(score, key, value)` (worst.py) pick the value of a window
  that scores the most for a score's parameter (e.g. `worst_for("sofa", "platelets", [140, 85])` → 85;
  `worst_for("sirs", "temp_c", [37.0, 38.4, 35.5])` → 38.4, the first value meeting the criterion).
* Derived values, rounded per §0 exactly as `schemas.rounding.round2` does (through an exact fast path,
  _rounding.py): `derived_map(sbp, dbp)`, `pf_ratio`, `shock_index_value(hr, sbp)`; FiO2 defaults of §1.3
  in `effective_fio2`; `effective_map` (measured MAP wins) and `effective_on_oxygen` (FiO2 > 0.21 = oxygen).
* Speed: `score_all` costs ~12-16 µs per input set on the reference machine (benchmarks/bench_scores.py);
  `reason` texts are formatted only when read.
"""

from detector.core.scores.all import SCORE_NAMES, score_all
from detector.core.scores.inputs import (
    INPUT_KEYS,
    VASOPRESSOR_KEYS,
    ScoreInputError,
    ScoreInputs,
    ScoreResult,
    derived_map,
    effective_fio2,
    effective_map,
    effective_on_oxygen,
    pf_ratio,
)
from detector.core.scores.mews import mews
from detector.core.scores.news2 import news2
from detector.core.scores.qsofa import qsofa
from detector.core.scores.sepsis_defs import sep1_septic_shock, sep1_severe_sepsis, sepsis3, sepsis3_septic_shock
from detector.core.scores.shock_index import shock_index, shock_index_value
from detector.core.scores.sirs import sirs_bone, sirs_sep1
from detector.core.scores.sofa import sofa
from detector.core.scores.worst import points_for, worst_for

__all__ = [
    "INPUT_KEYS",
    "SCORE_NAMES",
    "VASOPRESSOR_KEYS",
    "ScoreInputError",
    "ScoreInputs",
    "ScoreResult",
    "derived_map",
    "effective_fio2",
    "effective_map",
    "effective_on_oxygen",
    "mews",
    "news2",
    "pf_ratio",
    "points_for",
    "qsofa",
    "score_all",
    "sep1_septic_shock",
    "sep1_severe_sepsis",
    "sepsis3",
    "sepsis3_septic_shock",
    "shock_index",
    "shock_index_value",
    "sirs_bone",
    "sirs_sep1",
    "sofa",
    "worst_for",
]
