"""Does the learned model travel? Train on one part of set A, test on a disjoint part that differs like a site.

`python -m learning.transfer DIR --out FILE.json [--markdown FILE.md]`

Splits (learning/transfer_splits.py): ICU unit both ways, care pathway (HospAdmTime) both ways, patient-id
order, and random patient-grouped references of the same pools and sizes; plus within-unit references (2-fold
inside each unit, pooled) that score the cross-unit test patients with models that saw their own unit, because
a random reference's test part mixes both units and is easier to rank. Every part is fitted exactly like
one cross-validation fold of learning/train.py (`fit_part`: fixed hyper-parameters, 80 % booster, 20 %
isotonic calibration and the threshold with the best utility under that share's NEWS2 >= 5 burden), then the
test part is scored with evaluation/metrics.py. Nothing here is tuned on set A: the threshold is the training
part's, and the prevalence correction (learning/prior_shift.py) uses only the two parts' prevalences, as a
site would use its own.

The ablation refits chosen splits with the measurement-timing features (`*_hours_since`, `*_count_6h`) set to
missing in both parts, which LightGBM can then never split on: how much of the model, and of its loss under
shift, rides on how often a site measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from detector.core.risk.features import FEATURE_NAMES
from evaluation.metrics import Cohort
from learning.dataset import FeatureMatrix
from learning.prior_shift import prevalence_odds_ratio, prior_shift
from learning.report import calibration_table
from learning.train import TrainConfig, assign_folds, config_dict, fit_part, news2_alerts, predict_rows
from learning.transfer_splits import (
    Split,
    StayInfo,
    id_order_split,
    pathway_splits,
    random_reference,
    read_stay_info,
    unit_splits,
)

__all__ = ["TIMING_FEATURES", "calibration_summary", "evaluate_split", "evaluate_within_unit", "main",
           "run_transfer", "timing_columns"]

TIMING_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n.endswith(("_hours_since", "_count_6h")))
"""Features that measure when and how often something was charted, not what it showed."""

Log = Callable[[str], None]


def timing_columns() -> np.ndarray:
    """Column indices of TIMING_FEATURES in FEATURE_NAMES order."""
    return np.array([FEATURE_NAMES.index(n) for n in TIMING_FEATURES], dtype=np.int64)


def calibration_summary(labels: np.ndarray, risk: np.ndarray) -> dict[str, Any]:
    """Deciles (learning/report.py) plus one-number summaries, over the hours that have a prediction."""
    finite = np.isfinite(risk)
    y, p = labels[finite].astype(np.float64), np.clip(risk[finite], 1e-6, 1 - 1e-6)
    table = calibration_table(labels, risk)
    total = sum(b["hours"] for b in table)
    # Weighted mean |predicted - observed| over the deciles (expected calibration error); a constant prediction
    # has no deciles (their edges collapse), and its error is the one of the mean.
    ece = (sum(b["hours"] * abs(b["predicted"] - b["observed"]) for b in table) / total if total
           else abs(float(p.mean()) - float(y.mean())))
    return {
        "mean_predicted": float(p.mean()), "observed": float(y.mean()), "ece": float(ece),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "deciles": table,
    }


def _part_facts(matrix: FeatureMatrix, patients: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    labels = matrix.per_patient(matrix.labels)
    septic = np.array([bool(labels[p].any()) for p in patients])
    scored = rows & matrix.scored
    return {"patients": int(patients.size), "septic_share": float(septic.mean()), "hours": int(rows.sum()),
            "hour_prevalence": float(matrix.labels[scored].mean())}


def _rule(cohort: Cohort, alerts: np.ndarray) -> dict[str, Any]:
    m = cohort.evaluate(alerts)
    return {"utility": m.utility, "sensitivity": m.sensitivity, "ppv": m.ppv,
            "alerts_per_patient_day": m.alerts_per_patient_day, "alerted_share": m.alerted_share}


def evaluate_split(matrix: FeatureMatrix, split: Split, config: TrainConfig, news2: np.ndarray,
                   seed: int) -> dict[str, Any]:
    """Fit on split.train like one CV fold, score split.test; see the module docstring for what is reported."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    model = fit_part(matrix, split.train, config, rng, news2)
    fit_s = time.perf_counter() - started
    groups = matrix.groups
    train_rows, test_rows = np.isin(groups, split.train), np.isin(groups, split.test)
    _, risk = predict_rows(model, matrix, test_rows)
    labels = matrix.per_patient(matrix.labels)
    cohort = Cohort([labels[p] for p in split.test])
    test_labels = matrix.labels[test_rows]
    auroc, auprc = cohort.hour_auc(risk)
    filled = np.nan_to_num(risk, nan=-1.0)
    threshold = model.threshold.threshold
    train_facts, test_facts = _part_facts(matrix, split.train, train_rows), _part_facts(matrix, split.test, test_rows)
    ratio = prevalence_odds_ratio(test_facts["hour_prevalence"], train_facts["hour_prevalence"])
    shifted = prior_shift(risk, ratio)
    gain = model.booster.feature_importance(importance_type="gain")
    return {
        "name": split.name, "kind": split.kind, "reference": split.reference, "note": split.note,
        "left_out_stays": split.left_out, "train": train_facts, "test": test_facts,
        "threshold": {"value": threshold, "train_calibration_utility": model.threshold.utility,
                      "train_calibration_burden": model.threshold.alerts_per_patient_day,
                      "burden_cap_news2_ge_5": model.burden_cap},
        "auroc": auroc, "auprc": auprc,
        "model": _rule(cohort, filled >= threshold),
        "news2_ge_5": _rule(cohort, news2[test_rows]),
        "calibration": calibration_summary(test_labels, risk),
        "prior_shift": {
            "odds_ratio": ratio,
            "calibration": calibration_summary(test_labels, shifted),
            # The same probability threshold read on the shifted scale: what a site gets if it recalibrates
            # the displayed probability but keeps the shipped threshold number.
            "model_same_threshold": _rule(cohort, np.nan_to_num(shifted, nan=-1.0) >= threshold),
        },
        "timing_feature_gain_share": float(gain[timing_columns()].sum() / gain.sum()) if gain.sum() > 0 else None,
        "seconds": time.perf_counter() - started, "fit_seconds": fit_s,
    }


def evaluate_within_unit(matrix: FeatureMatrix, info: StayInfo, unit: str, config: TrainConfig,
                         news2: np.ndarray, seed: int, folds: int = 2) -> dict[str, Any]:
    """`unit` -> `unit` by patient-grouped k-fold inside the unit, pooled (per-fold thresholds, as train.py).

    The reference a cross-unit split is missing: the same test patients, scored by models that saw their own
    unit, trained on (k-1)/k of it, i.e. on fewer stays than the cross-unit model had.
    """
    started = time.perf_counter()
    patients = np.flatnonzero(info.unit == unit)
    labels = matrix.per_patient(matrix.labels)
    septic = np.array([bool(labels[p].any()) for p in patients])
    fold = assign_folds(septic, folds, seed)
    groups = matrix.groups
    risk = np.full(matrix.labels.size, np.nan)
    alerts = np.zeros(matrix.labels.size, dtype=bool)
    thresholds = []
    rng = np.random.default_rng(seed)
    for k in range(folds):
        model = fit_part(matrix, patients[fold != k], config, rng, news2)
        rows = np.isin(groups, patients[fold == k])
        _, risk[rows] = predict_rows(model, matrix, rows)
        alerts[rows] = np.nan_to_num(risk[rows], nan=-1.0) >= model.threshold.threshold
        thresholds.append(model.threshold.threshold)
    rows = np.isin(groups, patients)
    cohort = Cohort([labels[p] for p in patients])
    auroc, auprc = cohort.hour_auc(risk[rows])
    facts = _part_facts(matrix, patients, rows)
    return {
        "name": f"{unit} -> {unit} (within, {folds}-fold)", "kind": "within_unit", "reference": None,
        "note": f"trained on {folds - 1}/{folds} of the unit per fold; pooled over the folds",
        "train": {**facts, "patients": round(patients.size * (folds - 1) / folds)}, "test": facts,
        "thresholds": thresholds, "auroc": auroc, "auprc": auprc,
        "model": _rule(cohort, alerts[rows]), "news2_ge_5": _rule(cohort, news2[rows]),
        "calibration": calibration_summary(matrix.labels[rows], risk[rows]), "prior_shift": None,
        "seconds": time.perf_counter() - started,
    }


def _id_drift(matrix: FeatureMatrix, info: StayInfo, deciles: int = 10) -> list[dict[str, Any]]:
    """Per patient-id decile: septic share, unit mix, direct admissions (is id order a period? it is not)."""
    labels = matrix.per_patient(matrix.labels)
    septic = np.array([bool(x.any()) for x in labels])
    out = []
    for part in np.array_split(np.argsort(info.patient_id, kind="stable"), deciles):
        out.append({"ids": [int(info.patient_id[part].min()), int(info.patient_id[part].max())],
                    "septic_share": float(septic[part].mean()),
                    "micu_share": float(np.mean(info.unit[part] == "MICU")),
                    "sicu_share": float(np.mean(info.unit[part] == "SICU")),
                    "direct_share": float(np.mean(info.hosp_adm_hours[part] > -24)),
                    "median_hours": float(np.median(matrix.lengths[part]))})
    return out


def _habits(matrix: FeatureMatrix, info: StayInfo) -> dict[str, dict[str, float | None]]:
    """Median hours since selected labs were drawn, by unit (scored hours): the ordering habit, visible."""
    out: dict[str, dict[str, float | None]] = {}
    groups = matrix.groups
    for unit in ("MICU", "SICU"):
        rows = np.isin(groups, np.flatnonzero(info.unit == unit)) & matrix.scored
        out[unit] = {}
        for name in ("lactate_hours_since", "wbc_hours_since", "creatinine_hours_since", "ph_hours_since"):
            col = matrix.features[rows, FEATURE_NAMES.index(name)]
            seen = col[np.isfinite(col)]
            out[unit][name + "_median"] = float(np.median(seen)) if seen.size else None
            # Share of scored hours at which the lab had been drawn at least once in the stay.
            out[unit][name.replace("_hours_since", "") + "_ever_share"] = float(seen.size / max(col.size, 1))
    return out


def build_splits(info: StayInfo, seed: int, which: Sequence[str]) -> list[Split]:
    """The shift splits asked for (unit, pathway, id_order), each followed by its random reference."""
    shift: list[Split] = []
    if "unit" in which:
        shift += unit_splits(info)
    if "pathway" in which:
        shift += pathway_splits(info)
    if "id_order" in which:
        shift.append(id_order_split(info))
    out: list[Split] = []
    for i, split in enumerate(shift):
        out.append(split)
        if split.kind != "id_order":  # id order is itself the random-like case; its reference would repeat it
            out.append(random_reference(split, seed + 1000 + i))
    return out


def run_transfer(matrix: FeatureMatrix, info: StayInfo, config: TrainConfig, *, which: Sequence[str],
                 ablate: Sequence[str], log: Log,
                 checkpoint: Callable[[dict[str, Any]], None] = lambda _r: None) -> dict[str, Any]:
    """All splits, then the ablation refits of the split kinds in `ablate` (and their random references).

    `checkpoint` gets the results so far after every split (a long run keeps what it has if stopped).
    """
    news2 = news2_alerts(matrix)  # from the unmasked NEWS2 column, before any ablation
    splits = build_splits(info, config.seed, which)
    results: list[dict[str, Any]] = []
    ablation: list[dict[str, Any]] = []
    partial = {"splits": results, "ablation_without_timing_features": ablation}
    for i, split in enumerate(splits):
        res = evaluate_split(matrix, split, config, news2, config.seed + i)
        results.append(res)
        checkpoint(partial)
        log(f"{split.name}: AUROC {res['auroc']:.3f}, utility {res['model']['utility']:.3f}, "
            f"burden {res['model']['alerts_per_patient_day']:.2f} "
            f"({res['seconds']:.0f} s, fit {res['fit_seconds']:.0f} s)")
    if "within_unit" in which:
        for j, unit in enumerate(("MICU", "SICU")):
            res = evaluate_within_unit(matrix, info, unit, config, news2, config.seed + 500 + j)
            results.append(res)
            checkpoint(partial)
            log(f"{res['name']}: AUROC {res['auroc']:.3f}, utility {res['model']['utility']:.3f} "
                f"({res['seconds']:.0f} s)")
    chosen = [(i, s) for i, s in enumerate(splits) if s.kind in ablate or (s.kind == "random" and any(
        t.name == s.reference and t.kind in ablate for t in splits))]
    if chosen:
        # In place and last: a second copy of the matrix would need another 0.8 GB.
        matrix.features[:, timing_columns()] = np.nan
        for i, split in chosen:
            res = evaluate_split(matrix, split, config, news2, config.seed + i)
            ablation.append(res)
            checkpoint(partial)
            log(f"[no timing] {split.name}: AUROC {res['auroc']:.3f}, utility {res['model']['utility']:.3f}")
    return partial


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The per-split table of the model card, generated from the report."""
    ablated = {r["name"]: r for r in report["ablation_without_timing_features"]}
    lines = ["| train -> test | test stays (septic %) | hour prevalence train / test | AUROC | utility | "
             "alerts / patient-day | sensitivity | NEWS2 ≥ 5 utility | ECE raw → prior-shifted | "
             "AUROC / utility without timing features |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["splits"]:
        a = ablated.get(r["name"])
        lines.append(
            f"| {r['name']} | {r['test']['patients']:,} ({100 * r['test']['septic_share']:.1f} %) | "
            f"{100 * r['train']['hour_prevalence']:.2f} % / {100 * r['test']['hour_prevalence']:.2f} % | "
            f"{_fmt(r['auroc'])} | {_fmt(r['model']['utility'])} | {_fmt(r['model']['alerts_per_patient_day'], 2)} | "
            f"{_fmt(r['model']['sensitivity'])} | {_fmt(r['news2_ge_5']['utility'])} | "
            f"{_fmt(r['calibration']['ece'], 4)} → "
            f"{_fmt(r['prior_shift']['calibration']['ece'], 4) if r['prior_shift'] else '–'} | "
            + (f"{_fmt(a['auroc'])} / {_fmt(a['model']['utility'])} |" if a else "– |"))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from evaluation.dataset import list_patient_files
    from learning.dataset import DEFAULT_CACHE_DIR, build_feature_matrix
    from learning.experiment import add_config_flags, config_changes

    p = argparse.ArgumentParser(prog="python -m learning.transfer", description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, metavar="DIR", help="folder of .psv files or with training_set*.tar.gz")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json", help="report path")
    p.add_argument("--markdown", type=Path, metavar="FILE.md", help="also write the model-card table here")
    p.add_argument("--splits", nargs="+", default=["unit", "within_unit", "pathway", "id_order"],
                   choices=["unit", "pathway", "id_order", "within_unit"],
                   help="shift splits (each with its random reference); within_unit: 2-fold inside each unit")
    p.add_argument("--ablate", nargs="*", default=["unit"], choices=["unit", "pathway", "id_order"],
                   help="split kinds refitted without the measurement-timing features (default: unit)")
    # the other TrainConfig settings an experiment varies (learning/experiment.py), so a candidate's transfer
    # is checked with exactly the settings its cross-validation used
    add_config_flags(p)
    p.add_argument("--patients", type=int, metavar="N", help="a seeded random sample of N stays (smoke runs)")
    p.add_argument("--seed", type=int, default=2019)
    p.add_argument("--workers", type=int, default=2, help="feature-replay processes and LightGBM threads")
    p.add_argument("--no-cache", action="store_true", help="rebuild the feature matrix even if cached")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    log: Log = (lambda _m: None) if args.no_progress else (lambda m: print(m, file=sys.stderr, flush=True))
    started = time.perf_counter()
    files = list_patient_files(args.data, patients=args.patients, sample=args.patients is not None, seed=args.seed)
    matrix = build_feature_matrix(files, workers=args.workers, cache_dir=None if args.no_cache else DEFAULT_CACHE_DIR,
                                  progress=not args.no_progress)
    info = read_stay_info(files, matrix.patient_keys)
    config = replace(TrainConfig(seed=args.seed, threads=args.workers), **config_changes(args))
    report: dict[str, Any] = {
        "command": "python -m learning.transfer " + " ".join(sys.argv[1:] if argv is None else argv),
        "data": f"PhysioNet 2019 set A ({len(files)} stays, {matrix.labels.size} hours)",
        "settings": config_dict(config),
        "stays": {"MICU": int(np.sum(info.unit == "MICU")), "SICU": int(np.sum(info.unit == "SICU")),
                  "neither_unit": int(np.sum(info.unit == "")),
                  "direct_admission": int(np.sum(info.hosp_adm_hours > -24)),
                  "ward_transfer": int(np.sum(info.hosp_adm_hours <= -24)),
                  "hosp_adm_missing": int(np.sum(~np.isfinite(info.hosp_adm_hours)))},
        "id_order_drift": _id_drift(matrix, info),
        "ordering_habits_by_unit": _habits(matrix, info),
        "timing_features": list(TIMING_FEATURES),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def write(results: dict[str, Any], complete: bool = False) -> None:
        report.update(results, complete=complete)
        report["wall_s"] = {"total": time.perf_counter() - started, "features_build": matrix.build_s}
        args.out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    write(run_transfer(matrix, info, config, which=args.splits, ablate=args.ablate, log=log, checkpoint=write),
          complete=True)
    table = markdown_table(report)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
