"""`sepsis-alert train physionet DIR --out MODEL`: build features, cross-validate, write the model artifact.

Outputs:
* MODEL (e.g. detector/models/risk_model.json): the artifact served by detector/core/risk (small, committed);
* MODEL with `.metrics.json` instead of `.json`: OOF metrics with bootstrap intervals (committed beside it);
* `--oof` (default .local/risk/oof.npz): out-of-fold hourly risks in the format `sepsis-alert eval
  --predictions` reads: arrays `patient` (str), `row` (int, 0-based row of the file), `risk` (calibrated
  probability; NaN before the first scoring), plus `margin`, `alert` (0/1 with each fold's own threshold),
  `fold` and `label`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from learning.train import TrainConfig

if TYPE_CHECKING:
    from learning.dataset import FeatureMatrix
    from learning.train import TrainResult

__all__ = ["register"]

DEFAULT_OOF = Path(".local/risk/oof.npz")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train physionet DIR --out MODEL`."""
    train = subparsers.add_parser("train", help="train the learned sepsis risk model")
    sources = train.add_subparsers(dest="source", metavar="SOURCE")
    p = sources.add_parser("physionet", help="train on PhysioNet 2019 files (patient-grouped cross-validation)")
    p.add_argument("data", type=Path, metavar="DIR", help="folder of .psv files or with training_set*.tar.gz")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL", help="artifact path (.json)")
    p.add_argument("--oof", type=Path, default=DEFAULT_OOF,
                   help=f"out-of-fold predictions (.npz; default {DEFAULT_OOF})")
    p.add_argument("--patients", type=int, metavar="N", help="only N patients (first N by name, or --sample)")
    p.add_argument("--sample", action="store_true", help="with --patients: a seeded random sample")
    p.add_argument("--seed", type=int, default=2019, help="seed of sampling, folds and LightGBM (default 2019)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--rounds", type=int, default=TrainConfig().rounds, help="boosting rounds (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes for the feature replay and LightGBM threads")
    p.add_argument("--config", type=Path, help="detector config YAML (default: the packaged default.yaml)")
    p.add_argument("--no-cache", action="store_true", help="rebuild the feature matrix even if cached")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for intervals (default 200)")
    # Same flag name as `eval`; --quiet was this command's name for it and still works.
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no progress bar or progress messages (--quiet: older name of this flag)")
    p.set_defaults(func=_run)

    def _usage(_args: argparse.Namespace) -> int:  # `train` without a source: its help, exit 2
        train.print_help()
        return 2

    train.set_defaults(func=_usage)


def _run(args: argparse.Namespace) -> int:
    from evaluation.dataset import list_patient_files
    from learning.dataset import DEFAULT_CACHE_DIR, build_feature_matrix
    from learning.export import build_artifact, write_artifact
    from learning.report import oof_report
    from learning.train import config_dict, train

    started = time.perf_counter()

    def log(message: str) -> None:
        if not args.no_progress:
            print(message, file=sys.stderr)

    # a missing data folder reaches sepsis_alert.cli: one line, exit 2 like any other bad path
    files = list_patient_files(args.data, patients=args.patients, sample=args.sample, seed=args.seed)
    matrix = build_feature_matrix(files, workers=args.workers, config_path=args.config,
                                  cache_dir=None if args.no_cache else DEFAULT_CACHE_DIR, progress=not args.no_progress)
    log(f"features: {matrix.features.shape[0]} rows x {matrix.features.shape[1]} from {len(files)} stays "
        f"({matrix.build_s:.0f} s to build)")
    config = TrainConfig(seed=args.seed, folds=args.folds, rounds=args.rounds, threads=args.workers)
    result = train(matrix, config, log=log)
    report = oof_report(matrix, result, resamples=args.bootstrap, seed=args.seed)
    report["wall_s"] = {**result.seconds, "features_build_s": matrix.build_s,
                        "total_s": time.perf_counter() - started}
    summary = report["summary"]
    training: dict[str, Any] = {
        "data": f"PhysioNet 2019 ({len(files)} stays, {matrix.labels.size} hours)",
        "settings": config_dict(config),
        "cv": f"{config.folds}-fold, patient-grouped, stratified by septic status",
        "calibration": ("centred isotonic (one knot per block at its mean margin)" if config.centred_calibration
                        else "isotonic") + ", fitted on a 20% patient split of each training set",
    }
    artifact = build_artifact(result.booster, calibration_x=result.calibration_x,
                              calibration_y=result.calibration_y, alert_threshold=result.threshold.threshold,
                              level_thresholds={2: result.threshold.threshold, 3: result.level3_threshold.threshold},
                              training=training, metrics=summary)
    size = write_artifact(artifact, args.out)
    metrics_path = args.out.with_suffix(".metrics.json")
    report["artifact"] = {"path": str(args.out), "bytes": size, "model_version": artifact["model_version"],
                          "content_hash": artifact["content_hash"], "trees": len(artifact["trees"])}
    metrics_path.write_text(json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    _write_oof(args.oof, matrix, result)
    print(json.dumps({"model": str(args.out), "bytes": size, "metrics": str(metrics_path), "oof": str(args.oof),
                      **summary}, indent=2))
    return 0


def _write_oof(path: Path, matrix: FeatureMatrix, result: TrainResult) -> None:
    """The OOF predictions in the `sepsis-alert eval --predictions` format (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    patient = np.repeat(np.array(matrix.patient_keys), matrix.lengths)
    row = np.concatenate([np.arange(n) for n in matrix.lengths])
    np.savez_compressed(path, patient=patient, row=row.astype(np.int32), risk=result.oof_risk.astype(np.float32),
                        margin=result.oof_margin.astype(np.float32), alert=result.oof_alert.astype(np.int8),
                        fold=np.repeat(result.fold_of_patient, matrix.lengths).astype(np.int8),
                        label=matrix.labels.astype(np.int8))
