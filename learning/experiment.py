"""One model experiment by the shipped model's own cross-validation, without fitting or writing an artifact.

    python -m learning.experiment ../shared/data/physionet2019 --name lr03-es --learning-rate 0.03 \\
        --rounds 1000 --early-stopping 50

runs `learning.train.cross_validate` (same folds, calibration splits and per-fold thresholds as `make train`,
so the default settings reproduce the committed out-of-fold predictions) on the cached feature matrix, and
reports what issue #17 compares: hour-level AUROC/AUPRC, the model-alone utility at each fold's threshold, and
the patient-level paging ceiling (learning/bound.py) of the OOF probabilities and of the raw margins. The result
goes to `learning/results/experiments/NAME.json` (small, committed) and the OOF predictions to
`.local/risk/experiments/NAME.npz` (large, not committed; the same format as `make train --oof`, so
`evaluation.paging_study --predictions` can read it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from learning.dataset import FeatureMatrix
from learning.train import CLINICAL_MONOTONE, TrainConfig, config_dict

__all__ = ["LAGGED_SCORES", "TABLE_HEADER", "add_config_flags", "config_changes", "main", "summarize", "table_row",
           "with_score_lags", "without_features"]

RESULTS_DIR = Path(__file__).resolve().parent / "results" / "experiments"
OOF_DIR = Path(__file__).resolve().parent.parent / ".local" / "risk" / "experiments"

# CLI flag -> TrainConfig field (only the settings an experiment varies)
_FLAGS: dict[str, str] = {
    "--rounds": "rounds", "--learning-rate": "learning_rate", "--num-leaves": "num_leaves",
    "--max-depth": "max_depth", "--min-data-in-leaf": "min_data_in_leaf", "--feature-fraction": "feature_fraction",
    "--bagging-fraction": "bagging_fraction", "--lambda-l2": "lambda_l2", "--early-stopping": "early_stopping_rounds",
    "--fit-label-lead-h": "fit_label_lead_h",
}


# Scores whose change over the stay the `--score-lags` experiment adds (SOFA per organ system, the totals).
LAGGED_SCORES: tuple[str, ...] = (
    "sofa_pts_respiration", "sofa_pts_coagulation", "sofa_pts_liver", "sofa_pts_cardiovascular", "sofa_pts_renal",
    "score_sofa", "score_news2", "score_sirs", "score_qsofa",
)


def with_score_lags(matrix: FeatureMatrix, lags: Sequence[int] = (6, 24)) -> FeatureMatrix:
    """The matrix with, per score in LAGGED_SCORES and lag L, the score now minus the score L rows earlier in
    the same stay (NaN when the stay is younger than L hours or either value is missing) appended as columns.

    Offline approximation for deciding whether such features are worth building: the detector would have to
    keep its own score history (its window holds only 24 h of observations), so they cannot ship as they are.
    Changes of physiology scores rather than levels of charted values: less tied to one site's ordering habits.
    """
    from detector.core.risk.features import feature_index

    columns = [feature_index(name) for name in LAGGED_SCORES]
    base = matrix.features[:, columns].astype(np.float32)
    row_in_stay = np.arange(matrix.labels.size) - np.repeat(np.cumsum(matrix.lengths) - matrix.lengths,
                                                            matrix.lengths)
    extra = []
    for lag in lags:
        shifted = np.full_like(base, np.nan)
        shifted[lag:] = base[:-lag]
        shifted[row_in_stay < lag] = np.nan
        extra.append(base - shifted)
    features = np.concatenate([matrix.features, *extra], axis=1)
    return replace(matrix, features=features)


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """The TrainConfig settings an experiment may change, as flags (shared with learning/transfer.py)."""
    types = {f.name: f.type for f in fields(TrainConfig)}
    defaults = TrainConfig()
    for flag, name in _FLAGS.items():
        p.add_argument(flag, dest=name, type=float if types[name] in (float, "float") else int,
                       help=f"TrainConfig.{name} (default {getattr(defaults, name)})")
    p.add_argument("--fit-until-late", action=argparse.BooleanOptionalAction, default=None,
                   help="fit the trees only on septic stays' rows up to onset + 3 h (TrainConfig.fit_until_late, "
                        f"default {defaults.fit_until_late})")
    p.add_argument("--centred-calibration", action=argparse.BooleanOptionalAction, default=None,
                   help=f"centred isotonic calibration (TrainConfig.centred_calibration, default "
                        f"{defaults.centred_calibration})")
    p.add_argument("--monotone-clinical", action=argparse.BooleanOptionalAction, default=None,
                   help="the trees may only raise the risk with learning.train.CLINICAL_MONOTONE's inputs "
                        f"(TrainConfig.monotone_increasing, default {'on' if defaults.monotone_increasing else 'off'})")


def config_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the flags of `add_config_flags` set (for `dataclasses.replace`)."""
    changes: dict[str, Any] = {name: getattr(args, name) for name in _FLAGS.values() if getattr(args, name) is not None}
    for flag in ("fit_until_late", "centred_calibration"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    monotone = getattr(args, "monotone_clinical", None)
    if monotone is not None:
        changes["monotone_increasing"] = CLINICAL_MONOTONE if monotone else ()
    return changes


def without_features(matrix: FeatureMatrix, names: Sequence[str]) -> FeatureMatrix:
    """The matrix with the named features set to missing (NaN) everywhere, so no tree can split on them."""
    from detector.core.risk.features import feature_index

    features = matrix.features.copy()
    features[:, [feature_index(name) for name in names]] = np.nan
    return replace(matrix, features=features)


def summarize(labels: Sequence[np.ndarray], risk: np.ndarray, margin: np.ndarray, alert: np.ndarray,
              budget: float = 0.35) -> dict[str, Any]:
    """The figures an experiment is judged by (rows laid end to end like `labels`)."""
    from evaluation.metrics import Cohort
    from learning.bound import patient_ceiling

    cohort = Cohort(labels)
    auroc, auprc = cohort.hour_auc(risk)
    margin_auroc, _ = cohort.hour_auc(margin)
    m = cohort.evaluate(alert)
    split = np.cumsum([len(x) for x in labels])[:-1]
    by_risk = patient_ceiling(labels, np.split(risk, split), budget)
    by_margin = patient_ceiling(labels, np.split(margin, split), budget)
    return {
        "hour_auroc": auroc, "hour_auprc": auprc, "hour_auroc_margin": margin_auroc,
        "utility": m.utility, "sensitivity": m.sensitivity, "alerts_per_patient_day": m.alerts_per_patient_day,
        "alerted_share": m.alerted_share, "median_lead_h": m.median_lead_h,
        "ceiling": by_risk.as_dict(), "ceiling_margin": by_margin.as_dict(),
    }


TABLE_HEADER = (
    "| experiment | hour AUROC | utility (per-fold thresholds) | sensitivity | alerts / patient-day | "
    "ceiling: sensitivity at <= 35 % paged (share paged) | ceiling by margin | patient AUROC | trees per fold | "
    "wall |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
)


def table_row(result: dict[str, Any]) -> str:
    """One row of learning/results/model_experiments.md from an experiment's JSON result."""
    c, cm = result["ceiling"], result["ceiling_margin"]
    wall = result.get("seconds", {}).get("total_s")
    return (f"| {result['name']} | {result['hour_auroc']:.4f} | {result['utility']:.4f} | "
            f"{result['sensitivity']:.3f} | {result['alerts_per_patient_day']:.2f} | "
            f"{c['sensitivity']:.4f} ({c['paged_share']:.3f}) | {cm['sensitivity']:.4f} | {c['patient_auroc']:.4f} | "
            f"{' '.join(str(t) for t in result.get('fold_trees', [])) or '–'} | "
            f"{f'{wall / 60:.1f} min' if wall is not None else '–'} |")


def main(argv: Sequence[str] | None = None) -> int:
    from evaluation.dataset import list_patient_files
    from learning.dataset import DEFAULT_CACHE_DIR, build_feature_matrix
    from learning.train import cross_validate

    p = argparse.ArgumentParser(prog="python -m learning.experiment", description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, metavar="DIR", help="PhysioNet 2019 folder (as for `make train`)")
    p.add_argument("--name", required=True, help="experiment name (file names of the outputs)")
    add_config_flags(p)
    p.add_argument("--score-lags", action="store_true",
                   help="append changes of SOFA components and scores over 6 and 24 h (offline; see with_score_lags)")
    p.add_argument("--drop-features", nargs="+", default=[], metavar="NAME",
                   help="features set to missing for training and prediction (an ablation, as learning/transfer does)")
    p.add_argument("--seed", type=int, help="seed of folds, calibration splits and LightGBM (default 2019): "
                   "a second seed shows how much the figures move by chance")
    p.add_argument("--workers", type=int, default=2, help="LightGBM threads (default 2)")
    p.add_argument("--budget", type=float, default=0.35, help="page budget of the ceiling (share of stays)")
    p.add_argument("--no-cache", action="store_true", help="replay the stays even if a feature cache exists")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--oof-dir", type=Path, default=OOF_DIR)
    args = p.parse_args(argv)

    started = time.perf_counter()
    changes = config_changes(args)
    if args.seed is not None:
        changes["seed"] = args.seed
    config = replace(TrainConfig(threads=args.workers), **changes)
    files = list_patient_files(args.data)
    matrix = build_feature_matrix(files, workers=args.workers, cache_dir=None if args.no_cache else DEFAULT_CACHE_DIR,
                                  progress=False)

    if args.drop_features:
        matrix = without_features(matrix, args.drop_features)
        changes["drop_features"] = list(args.drop_features)
    if args.score_lags:
        matrix = with_score_lags(matrix)
        changes["score_lags"] = [6, 24]

    def log(message: str) -> None:
        print(f"[{args.name}] {message}", file=sys.stderr, flush=True)

    cv = cross_validate(matrix, config, np.random.default_rng(config.seed), log)
    labels = matrix.per_patient(matrix.labels)
    result: dict[str, Any] = {
        "name": args.name,
        "command": "python -m learning.experiment " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "changes": changes,
        "settings": config_dict(config),
        **summarize(labels, cv.oof_risk, cv.oof_margin, cv.oof_alert, args.budget),
        "fold_trees": cv.fold_trees,
        "fold_thresholds": [c.threshold for c in cv.fold_thresholds],
        "seconds": {**cv.seconds, "total_s": time.perf_counter() - started},
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{args.name}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n",
                                                        encoding="utf-8")
    args.oof_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.oof_dir / f"{args.name}.npz",
                        patient=np.repeat(np.array(matrix.patient_keys), matrix.lengths),
                        row=np.concatenate([np.arange(n) for n in matrix.lengths]).astype(np.int32),
                        risk=cv.oof_risk.astype(np.float32), margin=cv.oof_margin.astype(np.float32),
                        alert=cv.oof_alert.astype(np.int8),
                        fold=np.repeat(cv.fold_of_patient, matrix.lengths).astype(np.int8),
                        label=matrix.labels.astype(np.int8))
    print(table_row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
