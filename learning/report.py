"""The out-of-fold report of a training run: the model beside NEWS2 >= 5 on the same hours, with intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from detector.core.risk.features import feature_index
from evaluation.metrics import Cohort
from learning.assess import bootstrap_intervals
from learning.dataset import FeatureMatrix
from learning.train import TrainResult

__all__ = ["calibration_table", "oof_report"]


def _rule(cohort: Cohort, alerts: np.ndarray) -> dict[str, Any]:
    metrics = cohort.evaluate(alerts).as_dict()
    return {k: metrics[k] for k in ("utility", "sensitivity", "ppv", "alerts_per_patient_day", "alerted_share",
                                    "median_lead_h", "lead_iqr_h", "hour_positive_rate", "episodes")}


def oof_report(matrix: FeatureMatrix, result: TrainResult, *, resamples: int = 200, seed: int = 0) -> dict[str, Any]:
    """Metrics of the OOF predictions and of NEWS2 on the same hours; 95% bootstrap intervals over patients."""
    cohort = Cohort(matrix.per_patient(matrix.labels))
    news2_score = matrix.features[:, feature_index("score_news2")].astype(np.float64)
    pooled_alerts = np.nan_to_num(result.oof_risk, nan=-1.0) >= result.threshold.threshold
    rules = {
        "model (per-fold thresholds)": result.oof_alert,
        "model (pooled threshold)": pooled_alerts,
        "NEWS2 >= 5": result.news2_alerts,
    }
    auroc, auprc = cohort.hour_auc(result.oof_risk)
    news2_auroc, news2_auprc = cohort.hour_auc(news2_score)
    intervals = bootstrap_intervals(cohort, result.oof_risk, rules, {"model": result.oof_risk, "NEWS2": news2_score},
                                    resamples=resamples, auc_resamples=max(resamples // 2, 20), seed=seed)
    honest = _rule(cohort, result.oof_alert)
    news2 = _rule(cohort, result.news2_alerts)
    summary = {
        "oof_utility": honest["utility"],
        "oof_utility_ci95": [intervals["model (per-fold thresholds):utility"]["low"],
                             intervals["model (per-fold thresholds):utility"]["high"]],
        "oof_auroc": auroc,
        "oof_auroc_ci95": [intervals["model:auroc"]["low"], intervals["model:auroc"]["high"]],
        "oof_auprc": auprc,
        "oof_auprc_ci95": [intervals["model:auprc"]["low"], intervals["model:auprc"]["high"]],
        "oof_alerts_per_patient_day": honest["alerts_per_patient_day"],
        "oof_sensitivity": honest["sensitivity"],
        "news2_ge_5_utility": news2["utility"],
        "news2_ge_5_alerts_per_patient_day": news2["alerts_per_patient_day"],
        "news2_auroc": news2_auroc,
        "alert_threshold": result.threshold.threshold,
    }
    return {
        "summary": summary,
        "rules": {name: _rule(cohort, alerts) for name, alerts in rules.items()},
        "hour_auc": {"model": {"auroc": auroc, "auprc": auprc}, "NEWS2": {"auroc": news2_auroc, "auprc": news2_auprc}},
        "intervals_95": intervals,
        "bootstrap": {"resamples_utility": resamples, "resamples_auc": max(resamples // 2, 20),
                      "unit": "patients, with replacement"},
        "thresholds": {
            "per_fold": [{"threshold": c.threshold, "calibration_utility": c.utility,
                          "calibration_burden": c.alerts_per_patient_day, "burden_cap": c.burden_cap}
                         for c in result.fold_thresholds],
            "pooled": {"threshold": result.threshold.threshold, "utility": result.threshold.utility,
                       "burden": result.threshold.alerts_per_patient_day, "cap_news2_ge_5": result.news2_burden},
            "level3": {"threshold": result.level3_threshold.threshold, "utility": result.level3_threshold.utility,
                       "burden": result.level3_threshold.alerts_per_patient_day,
                       "rule": "alerts in no more hours than NEWS2 >= 7",
                       "news2_ge_7_burden": result.news2_7_burden},
        },
        "calibration": calibration_table(matrix.labels, result.oof_risk),
        "cohort": {"patients": cohort.n_patients, "septic_patients": int(cohort.septic.sum()),
                   "hours": cohort.n_rows, "hours_with_prediction": int(np.isfinite(result.oof_risk).sum())},
    }


def calibration_table(labels: np.ndarray, risk: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Reliability table: OOF risk deciles (of hours with a prediction) -> mean predicted vs observed rate."""
    finite = np.isfinite(risk)
    r, y = risk[finite], labels[finite]
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, len(edges) - 2)
    table = []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            table.append({"predicted": float(r[sel].mean()), "observed": float(y[sel].mean()), "hours": int(sel.sum())})
    return table
