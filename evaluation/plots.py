"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from evaluation.report import EvalReport
from evaluation.series import MODEL_SCORE, HourlySeries

__all__ = ["calibration_bins", "write_plots"]

_LEAD_RULES = ("NEWS2 >= 5", "SIRS >= 2", "qSOFA >= 2", "ladder urgent")


def _legend(ax: Axes, **kwargs: Any) -> None:
    """A legend only when something was drawn (tiny cohorts may have no septic stay)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


CALIBRATION_BINS = 20


def calibration_bins(risk: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS
                     ) -> list[tuple[float, float, int]]:
    """(mean predicted risk, observed share of labelled hours, hours) per quantile bin of the scored hours."""
    scored = np.isfinite(risk)
    if not scored.any():
        return []
    order = np.argsort(risk[scored], kind="stable")
    predicted, observed = risk[scored][order], labels[scored][order].astype(np.float64)
    return [(float(p.mean()), float(o.mean()), int(p.size))
            for p, o in zip(np.array_split(predicted, bins), np.array_split(observed, bins), strict=True) if p.size]


def _calibration(series: HourlySeries, name: str, path: Path) -> Path:
    points = calibration_bins(series.scores[name].astype(np.float64), series.labels)
    fig, ax = plt.subplots(figsize=(6, 6))
    if points:
        predicted, observed, _ = zip(*points, strict=True)
        ax.plot(predicted, observed, marker="o", lw=1.2, label=f"{name} ({CALIBRATION_BINS} quantile bins)")
        top = max(max(predicted), max(observed)) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="perfect calibration")
    ax.set(xlabel="mean predicted risk (calibrated probability)", ylabel="observed share of SepsisLabel hours",
           title="Calibration of the learned risk score (hour level)")
    _legend(ax, fontsize=8, loc="upper left")
    return _save(fig, path)


def write_plots(report: EvalReport, series: HourlySeries, out_dir: Path) -> list[Path]:
    """roc.png, utility_vs_threshold.png, lead_time.png, burden_vs_sensitivity.png in `out_dir`, and
    calibration.png when the learned model was evaluated (--predictions or --in-stream-model)."""
    paths = [
        _roc(report, series, out_dir / "roc.png"),
        _utility(report, out_dir / "utility_vs_threshold.png"),
        _lead(report, out_dir / "lead_time.png"),
        _burden(report, out_dir / "burden_vs_sensitivity.png"),
    ]
    if MODEL_SCORE in series.scores:
        paths.append(_calibration(series, MODEL_SCORE, out_dir / "calibration.png"))
    return paths
