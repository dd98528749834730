"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from evaluation.evaluate import HourlySeries

if TYPE_CHECKING:
    from evaluation.report import EvalReport

__all__ = ["write_plots"]

_LEAD_RULES = ("NEWS2 >= 5", "SIRS >= 2", "qSOFA >= 2", "ladder urgent")


def _legend(ax: plt.Axes, **kwargs: object) -> None:
    """A legend only when something was drawn (tiny cohorts may have no septic stay)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)  # type: ignore[arg-type]


def _roc(report: EvalReport, series: HourlySeries, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 6))
    labels = series.labels
    for name, entry in report.scores.items():
        values = series.level.astype(np.float64) if name == "ladder_announced" else series.scores.get(name)
        if values is None or entry.get("auroc") is None:
            continue
        finite = np.isfinite(values)
        filled = np.where(finite, values, np.nanmin(values[finite]) - 1.0) if finite.any() else values
        fpr, tpr, _ = roc_curve(labels, filled)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {entry['auroc']:.3f})", lw=1.4)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false-positive rate (hours)", ylabel="true-positive rate (hours)",
           title="Hour-level ROC against SepsisLabel")
    _legend(ax, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _utility(report: EvalReport, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, entry in report.scores.items():
        sweep = [p for p in entry.get("sweep", []) if p["utility"] is not None]
        if not sweep:
            continue
        ax.plot([p["threshold"] for p in sweep], [p["utility"] for p in sweep], marker=".", lw=1.2, label=name)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="threshold (alert when score >= threshold)", ylabel="normalised utility",
           title="Challenge utility against threshold")
    ax.set_xscale("symlog", linthresh=1.0)
    _legend(ax, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _lead(report: EvalReport, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bins = [float(b) for b in np.arange(-3.5, 13.5, 1.0)]
    for name in _LEAD_RULES:
        leads = report.lead_times.get(name)
        if leads:
            ax.hist(leads, bins=bins, histtype="step", lw=1.6, label=f"{name} (n={len(leads)})")
    ax.set(xlabel="lead time before onset (h); first alert hour in [onset-12 h, onset+3 h]",
           ylabel="septic patients", title="Lead time of detected septic patients")
    _legend(ax, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _burden(report: EvalReport, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, entry in report.scores.items():
        sweep = [p for p in entry.get("sweep", []) if p["sensitivity"] is not None]
        if sweep:
            ax.plot([p["alerts_per_patient_day"] for p in sweep], [p["sensitivity"] for p in sweep],
                    marker=".", lw=1.0, label=name)
    for name, row in report.ladder.items():
        if row["sensitivity"] is not None:
            ax.scatter([row["alerts_per_patient_day"]], [row["sensitivity"]], marker="s", s=40, zorder=3)
            ax.annotate(f"ladder {name}", (row["alerts_per_patient_day"], row["sensitivity"]), fontsize=7,
                        xytext=(4, -8), textcoords="offset points")
    ax.set(xlabel="alert episodes per patient-day", ylabel="patient-level sensitivity",
           title="Alert burden against sensitivity (threshold sweep)")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_ylim(0, 1.02)
    _legend(ax, fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(report: EvalReport, series: HourlySeries, out_dir: Path) -> list[Path]:
    """roc.png, utility_vs_threshold.png, lead_time.png, burden_vs_sensitivity.png in `out_dir`."""
    return [
        _roc(report, series, out_dir / "roc.png"),
        _utility(report, out_dir / "utility_vs_threshold.png"),
        _lead(report, out_dir / "lead_time.png"),
        _burden(report, out_dir / "burden_vs_sensitivity.png"),
    ]
