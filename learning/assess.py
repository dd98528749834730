"""Judging hourly risks the challenge's way: utility at a threshold, alert burden, bootstrap intervals.

All metrics come from evaluation/metrics.py (`Cohort`: the PhysioNet 2019 normalised utility of Reyna et al.
2020, hour-level AUROC/AUPRC, episodes per patient-day), so the model is measured exactly as
`sepsis-alert eval` measures the classic rules. Rows where the model has no prediction (NaN: before the
first scoring) never alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.metrics import Cohort

__all__ = ["ThresholdChoice", "bootstrap_intervals", "choose_threshold", "patient_utility_parts"]


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The chosen probability threshold and what it gives on the rows it was chosen on."""

    threshold: float
    utility: float
    alerts_per_patient_day: float
    burden_cap: float | None


def candidate_thresholds(risk: np.ndarray, count: int = 200) -> np.ndarray:
    """Distinct quantiles of the finite risks from the 80th to the 99.9th percentile (alerting is rare)."""
    finite = risk[np.isfinite(risk)]
    if finite.size == 0:
        return np.array([1.0])
    return np.unique(np.quantile(finite, np.linspace(0.80, 0.999, count)))


def choose_threshold(cohort: Cohort, risk: np.ndarray, burden_cap: float | None = None) -> ThresholdChoice:
    """The threshold with the best normalised utility whose alert episodes per patient-day stay <= burden_cap."""
    risk = np.asarray(risk, dtype=np.float64)
    best: ThresholdChoice | None = None
    for threshold in candidate_thresholds(risk):
        metrics = cohort.evaluate(np.nan_to_num(risk, nan=-1.0) >= threshold)
        if metrics.utility is None:
            continue
        if burden_cap is not None and metrics.alerts_per_patient_day > burden_cap:
            continue
        if best is None or metrics.utility > best.utility:
            best = ThresholdChoice(float(threshold), metrics.utility, metrics.alerts_per_patient_day, burden_cap)
    if best is None:  # nothing meets the cap: the strictest threshold
        threshold = float(np.nanmax(risk))
        metrics = cohort.evaluate(np.nan_to_num(risk, nan=-1.0) >= threshold)
        best = ThresholdChoice(threshold, metrics.utility or 0.0, metrics.alerts_per_patient_day, burden_cap)
    return best


def patient_utility_parts(cohort: Cohort, alerts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: observed, inaction and best utility sums (the parts of the normalised utility)."""
    observed = np.where(alerts, cohort.u_alert, cohort.u_silent)
    best = np.where(cohort.in_window, cohort.u_alert, cohort.u_silent)
    starts = cohort.starts
    return (np.add.reduceat(observed, starts), np.add.reduceat(cohort.u_silent, starts),
            np.add.reduceat(best, starts))


def bootstrap_intervals(cohort: Cohort, risk: np.ndarray, alerts_by_rule: dict[str, np.ndarray],
                        scores_by_name: dict[str, np.ndarray], *, resamples: int = 200, auc_resamples: int = 100,
                        seed: int = 0) -> dict[str, dict[str, float]]:
    """95% percentile intervals, resampling PATIENTS with replacement (rows of a stay stay together).

    `alerts_by_rule`: 0/1 hourly alerts per rule -> normalised utility interval;
    `scores_by_name`: continuous hourly scores -> AUROC and AUPRC intervals (fewer resamples: they cost more).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    n = cohort.n_patients
    out: dict[str, dict[str, float]] = {}
    draws = rng.integers(0, n, size=(resamples, n))
    for name, alerts in alerts_by_rule.items():
        observed, inaction, best = patient_utility_parts(cohort, np.asarray(alerts, dtype=bool))
        values = []
        for idx in draws:
            denom = best[idx].sum() - inaction[idx].sum()
            if denom > 0:
                values.append((observed[idx].sum() - inaction[idx].sum()) / denom)
        lo, hi = np.percentile(values, [2.5, 97.5])
        out[f"{name}:utility"] = {"low": float(lo), "high": float(hi)}
    auc_draws = draws[:auc_resamples]
    labels = cohort.labels
    for name, scores in scores_by_name.items():
        values_arr = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(values_arr)
        filled = np.where(finite, values_arr, np.nanmin(values_arr[finite]) - 1.0)
        aucs, aps = [], []
        for idx in auc_draws:
            rows = _rows_of(cohort, idx)
            y = labels[rows]
            if y.min() == y.max():
                continue
            aucs.append(roc_auc_score(y, filled[rows]))
            aps.append(average_precision_score(y, filled[rows]))
        out[f"{name}:auroc"] = dict(zip(("low", "high"), map(float, np.percentile(aucs, [2.5, 97.5])), strict=True))
        out[f"{name}:auprc"] = dict(zip(("low", "high"), map(float, np.percentile(aps, [2.5, 97.5])), strict=True))
    return out


def _rows_of(cohort: Cohort, patients: Sequence[int] | np.ndarray) -> np.ndarray:
    """Row indices of the given patients (with repeats), concatenated."""
    patients = np.asarray(patients)
    starts, lengths = cohort.starts[patients], cohort.lengths[patients]
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    rows: np.ndarray = np.arange(total) + offsets
    return rows
