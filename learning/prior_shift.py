"""Adapting the calibrated probability to a site whose prevalence differs from set A's (prior shift).

The model's isotonic map makes its probability honest for the prevalence it was calibrated on (set A: about
2.2 % of scored hours carry the label). If another hospital's case mix changes how often the label occurs but
not what a labelled or unlabelled hour looks like (the "prior shift" or "label shift" assumption), Bayes' rule
moves every probability by the same factor on the odds scale (Saerens, Latinne & Decaestecker, Neural Comput
2002;14:21-41):

    odds' = odds * r,   r = odds(target prevalence) / odds(training prevalence)
    p'    = p * r / (p * r + (1 - p))

The map is monotone, so ranking (AUROC) and the set of alerts at a correspondingly mapped threshold do not
change; what changes is the number shown to a clinician and the meaning of a fixed probability threshold.

How a site uses it (the detector's default behaviour and the shipped artifact are unchanged):
* estimate the share of labelled hours at the site (same Sepsis-3 labelling, from retrospective data) and
  compute `r = prevalence_odds_ratio(site, training)`, with the training prevalence stored by
  `python -m learning.transfer` or the model card;
* for displayed probabilities, map the isotonic knots' y values with `prior_shift(y, r)` and re-export the
  artifact (a new content hash, i.e. a site-specific model version), or map each served probability;
* for thresholds: a probability threshold t meant on the site's scale is `prior_shift(t, 1 / r)` on the
  shipped scale; keeping the shipped thresholds keeps the shipped alerts.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["prevalence_odds_ratio", "prior_shift"]


def prevalence_odds_ratio(target: float, source: float) -> float:
    """r = odds(target) / odds(source) for prevalences strictly between 0 and 1."""
    for name, value in (("target", target), ("source", source)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} prevalence must be strictly between 0 and 1, got {value}")
    return (target / (1.0 - target)) / (source / (1.0 - source))


def prior_shift(p: npt.ArrayLike, ratio: float) -> np.ndarray:
    """p' = p r / (p r + 1 - p) elementwise; NaN (no prediction yet) stays NaN, 0 and 1 stay put.

    `ratio` is the odds ratio r > 0 (see `prevalence_odds_ratio`); r = 1 is the identity.
    """
    if not (math.isfinite(ratio) and ratio > 0.0):
        raise ValueError(f"ratio must be a positive finite number, got {ratio}")
    q = np.asarray(p, dtype=np.float64)
    if np.any(q[np.isfinite(q)] < 0.0) or np.any(q[np.isfinite(q)] > 1.0):
        raise ValueError("probabilities must lie in [0, 1]")
    scaled = q * ratio
    # No division by zero: on [0, 1], p r + (1 - p) >= min(r, 1) > 0.
    return scaled / (scaled + (1.0 - q))
