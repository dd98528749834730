"""The evaluation report: metrics per rule and ladder level (written by evaluation.report_files)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.metrics import Cohort, RuleMetrics
from evaluation.paging import paged_figures
from evaluation.series import CONTINUOUS_SCORES, LEVEL_NAMES, RULES, HourlySeries, Rule

__all__ = ["REFERENCE_POINTS", "EvalReport", "build_report"]

REFERENCE_POINTS: dict[str, dict[str, float]] = {
    # Issue #7: measured independently on set A with a simple implementation (last value carried
    # forward, vitals valid 4 h, labs 24 h; qSOFA from RR and SBP only).
    "NEWS2 >= 5": {"utility": 0.146, "auroc": 0.663, "sensitivity": 0.85, "alerts_per_patient_day": 2.0},
    "NEWS2 >= 7": {"utility": 0.095, "auroc": 0.663},
    "SIRS >= 2": {"utility": 0.085, "auroc": 0.619},
    "SIRS >= 3": {"utility": 0.075, "auroc": 0.619},
    "qSOFA >= 2": {"utility": 0.013, "auroc": 0.570},
}


@dataclass(slots=True)
class EvalReport:
    """Everything report.json holds, plus the lead times and curves the plots need."""

    data_label: str
    summary: dict[str, Any]
    rules: dict[str, dict[str, Any]]
    ladder: dict[str, dict[str, Any]]
    scores: dict[str, dict[str, Any]]
    ladder_assessed: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead_times: dict[str, tuple[float, ...]] = field(default_factory=dict)
    paged: dict[str, Any] = field(default_factory=dict)
    """What reaches a person: the notifier's paging policy and routing over the alerts (evaluation.paging)."""

    def as_json(self) -> dict[str, Any]:
        return {"paged": self.paged, "summary": self.summary, "rules": self.rules, "ladder": self.ladder,
                "ladder_assessed": self.ladder_assessed, "scores": self.scores,
                "reference_points": REFERENCE_POINTS}

    def summary_text(self) -> str:
        """A few lines for the terminal: wall time and the headline rules."""
        s = self.summary
        lines = [f"{s['patients']} patients, {s['hours']} hours, {s['septic_patients']} septic; "
                 f"detector {s['wall_s']:.1f} s wall on {s['workers']} workers ({s['engine_cpu_s']:.1f} s CPU), "
                 f"metrics {s.get('metrics_s', 0):.1f} s, total {s.get('total_wall_s', s['wall_s']):.1f} s "
                 f"(plots not included)"]
        p = self.paged
        if p:
            lines.append(f"  PAGED (what reaches a person): utility {_fmt(p['utility'])}  "
                         f"sens {_fmt(p['sensitivity'])}  lead {_fmt(p['median_lead_h'])} h  "
                         f"pages/pt-day {_fmt(p['pages_per_patient_day'])}  "
                         f"patients paged {_fmt(p['patients_paged_share'])}  pages/episode p95 "
                         f"{_fmt(p['pages_per_episode_p95'])} max {p['pages_per_episode_max']}  "
                         f"PPV of pages {_fmt(p['ppv_pages'])}")
        for name, m in [*self.rules.items(), *((f"ladder {k}", v) for k, v in self.ladder.items())]:
            lines.append(f"  {name:24s} utility {_fmt(m['utility'])}  auroc {_fmt(m.get('auroc'))}  "
                         f"sens {_fmt(m['sensitivity'])}  ppv {_fmt(m['ppv'])}  "
                         f"alerts/pt-day {_fmt(m['alerts_per_patient_day'])}")
        return "\n".join(lines)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rule_prediction(values: np.ndarray, threshold: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        predicted: np.ndarray = np.nan_to_num(values, nan=-np.inf) >= threshold
    return predicted


def _thresholds(values: np.ndarray, limit: int = 40) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([])
    unique = np.unique(finite)
    if unique.size <= limit:
        return unique
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, limit)))


def build_report(series: HourlySeries, *, extra_rules: list[Rule] | None = None, data_label: str = "",
                 workers: int = 2) -> EvalReport:
    """Metrics of every rule, ladder level and continuous score over the cohort of `series`."""
    cohort = Cohort(list(series.per_patient(series.labels)))
    known = {r.score for r in RULES}
    rules = list(RULES)
    for name in sorted(series.scores):
        if (name not in known and name not in CONTINUOUS_SCORES and name != "ladder_level"
                and not any(r.score == name for r in extra_rules or [])):
            rules.append(Rule(f"{name} >= 1", name, 1.0))  # any other signal the detector emits
    rules += extra_rules or []
    continuous = [s for s in (*CONTINUOUS_SCORES, "ladder_level", *(r.score for r in extra_rules or []))
                  if s in series.scores]

    scores: dict[str, dict[str, Any]] = {}
    for name in continuous:
        auroc, auprc = cohort.hour_auc(series.scores[name])
        sweep = []
        for th in _thresholds(series.scores[name]):
            utility, sensitivity, burden = cohort.sweep_point(_rule_prediction(series.scores[name], float(th)))
            sweep.append({"threshold": float(th), "utility": utility, "sensitivity": sensitivity,
                          "alerts_per_patient_day": burden})
        scores[name] = {"auroc": auroc, "auprc": auprc, "sweep": sweep}
    level_auroc, level_auprc = cohort.hour_auc(series.level.astype(np.float64))
    scores["ladder_announced"] = {"auroc": level_auroc, "auprc": level_auprc, "sweep": []}

    lead_times: dict[str, tuple[float, ...]] = {}
    rule_rows: dict[str, dict[str, Any]] = {}
    for rule in rules:
        values = series.scores.get(rule.score)
        if values is None:
            continue
        m = cohort.evaluate(_rule_prediction(values, rule.threshold), keep_lead_times=True)
        lead_times[rule.name] = m.lead_times_h
        auc = scores.get(rule.score, {})
        rule_rows[rule.name] = _row(m, auc.get("auroc"), auc.get("auprc"), score=rule.score,
                                    threshold=rule.threshold)
    # `ladder`: the alert the engine announces (episode open at >= level, with its hysteresis: what a
    # clinician is paged with). `ladder_assessed`: the level each scoring assessed, before hysteresis.
    ladder_rows: dict[str, dict[str, Any]] = {}
    assessed_rows: dict[str, dict[str, Any]] = {}
    assessed = np.nan_to_num(series.scores.get("ladder_level", np.zeros(cohort.n_rows)), nan=0.0)
    for level, name in LEVEL_NAMES.items():
        m = cohort.evaluate(series.level >= level, keep_lead_times=True)
        lead_times[f"ladder {name}"] = m.lead_times_h
        ladder_rows[name] = _row(m, level_auroc, level_auprc, level=level)
        assessed_rows[name] = _row(cohort.evaluate(assessed >= level), scores.get("ladder_level", {}).get("auroc"),
                                   scores.get("ladder_level", {}).get("auprc"), level=level)

    paged: dict[str, Any] = {}
    if series.paging:
        paged, lead_times["paged"] = paged_figures(list(series.per_patient(series.labels)), series.paging)
    summary = {
        "data": data_label,
        "patients": cohort.n_patients,
        "hours": cohort.n_rows,
        "septic_patients": int(cohort.septic.sum()),
        "labelled_hours": int(cohort.labels.sum()),
        "observations": series.counts.accepted,
        "rejected_values": series.counts.rejected_total,
        "rejected_by_reason": {f"{m}:{c}": n for (m, c), n in sorted(series.counts.rejected.items())},
        "scorings": series.scorings,
        "alert_transitions": dict(series.transitions),
        "wall_s": round(series.wall_s, 2),
        "engine_cpu_s": round(series.engine_cpu_s, 2),
        "workers": workers,
        "python": platform.python_version(),
    }
    return EvalReport(data_label, summary, rule_rows, ladder_rows, scores, assessed_rows, lead_times, paged)


def _row(m: RuleMetrics, auroc: float | None, auprc: float | None, **extra: Any) -> dict[str, Any]:
    row = {**extra, **m.as_dict()}
    row["auroc"] = auroc
    row["auprc"] = auprc
    return row
