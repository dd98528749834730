"""What an evaluation measures and produces: the single rules, the scores with hour-level AUROC, and the per-hour
series of every stay (evaluation.evaluate fills it; evaluation.report, plots and paging_study read it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from evaluation.paging import StayPaging
from evaluation.physionet import ConversionCounts

__all__ = ["CONTINUOUS_SCORES", "LEVEL_NAMES", "MODEL_SCORE", "RULES", "HourlySeries", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A single-rule alert: `score >= threshold` (booleans count as 1 when true)."""

    name: str
    score: str
    threshold: float


RULES: tuple[Rule, ...] = (
    Rule("SIRS >= 2", "sirs", 2),  # Bone 1992: SIRS-positive
    Rule("SIRS >= 3", "sirs", 3),
    Rule("qSOFA >= 2", "qsofa", 2),  # Seymour/Singer 2016
    Rule("NEWS2 >= 5", "news2", 5),  # RCP 2017 urgent response threshold
    Rule("NEWS2 >= 7", "news2", 7),  # RCP 2017 emergency response threshold
    Rule("MEWS >= 5", "mews", 5),  # Subbe 2001
    Rule("SOFA rise >= 2", "sofa_delta", 2),  # Sepsis-3 organ dysfunction (here without the infection part)
    Rule("SI >= 1.0", "shock_index", 1.0),  # shock index flag [ENG]
    Rule("SEP-1 SIRS >= 2", "sirs_sep1", 2),  # CMS SEP-1 SIRS thresholds
    Rule("SOFA >= 2", "sofa", 2),
)
"""The single rules reported; any other score the detector emits is added as `<score> >= 1`."""

CONTINUOUS_SCORES: tuple[str, ...] = ("sirs", "sirs_sep1", "qsofa", "news2", "mews", "sofa", "sofa_delta",
                                      "shock_index")
"""Scores with hour-level AUROC/AUPRC (plus `ladder_level` and any extra score given)."""

LEVEL_NAMES = {1: "review", 2: "urgent", 3: "emergency", 4: "critical"}


MODEL_SCORE = "risk_model"
"""Name of the learned model's score in the engine's scorings (and of --predictions in the report)."""


@dataclass(slots=True)
class HourlySeries:
    """Every stay's per-hour labels, ladder level and score values (NaN: nothing scored yet)."""

    patient_keys: list[str]
    lengths: list[int]
    labels: np.ndarray
    level: np.ndarray
    scores: dict[str, np.ndarray]
    counts: ConversionCounts
    transitions: Counter[str]
    scorings: int
    wall_s: float
    engine_cpu_s: float
    paging: list[StayPaging] = field(default_factory=list)
    """What the notifier's paging policy and routing made of each stay's alerts (evaluation.paging)."""

    def per_patient(self, values: np.ndarray) -> Iterator[np.ndarray]:
        start = 0
        for n in self.lengths:
            yield values[start:start + n]
            start += n
