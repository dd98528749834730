"""A tiny end-to-end training on 50 real stays: features through the detector, CV, artifact, serving, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector.core.risk.features import FEATURE_NAMES, feature_index
from detector.core.risk.model import RiskModel
from evaluation.dataset import list_patient_files
from evaluation.evaluate import load_predictions
from evaluation.metrics import Cohort
from evaluation.physionet import read_psv
from learning.dataset import FeatureMatrix, build_feature_matrix
from learning.export import build_artifact
from learning.train import TrainConfig, assign_folds, earlier_labels, train
from sepsis_alert.cli import main

DATA = Path(__file__).parent / "data" / "physionet_sample"
SMALL = TrainConfig(seed=11, folds=5, rounds=20, num_leaves=7, max_depth=4, min_data_in_leaf=20, threads=1)


@pytest.fixture(scope="module")
def matrix() -> FeatureMatrix:
    return build_feature_matrix(list_patient_files(DATA), workers=1, cache_dir=None, progress=False)


def test_matrix_has_one_row_per_hour_with_the_file_labels(matrix: FeatureMatrix) -> None:
    files = list_patient_files(DATA)
    assert len(matrix.patient_keys) == 50 == len(files)
    records = [read_psv(f) for f in files]
    assert matrix.lengths.tolist() == [r.n_hours for r in records]
    assert np.array_equal(matrix.labels, np.concatenate([r.labels for r in records]))
    assert matrix.features.shape == (matrix.lengths.sum(), len(FEATURE_NAMES))
    # NaN rows only before the first scoring; every scored row has a heart rate or another vital
    assert np.isnan(matrix.features[~matrix.scored]).all()
    assert matrix.scored.mean() > 0.9
    ages = matrix.features[matrix.scored, feature_index("age_years")]
    assert np.isfinite(ages).all()


def test_folds_are_patient_grouped_and_stratified() -> None:
    septic = np.array([True] * 15 + [False] * 35)
    folds = assign_folds(septic, 5, seed=3)
    assert np.array_equal(folds, assign_folds(septic, 5, seed=3))
    for k in range(5):
        assert (folds[septic] == k).sum() == 3 and (folds[~septic] == k).sum() == 7


def test_training_is_deterministic_and_serving_matches_lightgbm(matrix: FeatureMatrix) -> None:
    first = train(matrix, SMALL, log=lambda _m: None)
    second = train(matrix, SMALL, log=lambda _m: None)
    assert np.array_equal(first.oof_risk, second.oof_risk, equal_nan=True)
    assert np.isnan(first.oof_risk[~matrix.scored]).all() and np.isfinite(first.oof_risk[matrix.scored]).all()
    kwargs = {"alert_threshold": first.threshold.threshold, "level_thresholds": {2: first.threshold.threshold},
              "training": {}, "metrics": {}}
    a = build_artifact(first.booster, calibration_x=first.calibration_x, calibration_y=first.calibration_y, **kwargs)
    b = build_artifact(second.booster, calibration_x=second.calibration_x, calibration_y=second.calibration_y,
                       **kwargs)
    assert a["content_hash"] == b["content_hash"]
    model = RiskModel.from_artifact(a)
    rows = matrix.features[matrix.scored][:300].astype(np.float64)
    expected = first.booster.predict(rows, raw_score=True)
    got = [model.margin([float(v) for v in row]) for row in rows]
    assert np.allclose(got, expected, atol=1e-9)


def test_threshold_respects_the_news2_burden(matrix: FeatureMatrix) -> None:
    result = train(matrix, SMALL, log=lambda _m: None)
    cohort = Cohort(matrix.per_patient(matrix.labels))
    burden = cohort.evaluate(np.nan_to_num(result.oof_risk, nan=-1) >= result.threshold.threshold)
    assert burden.alerts_per_patient_day <= result.news2_burden + 1e-12


def test_cli_writes_artifact_metrics_and_oof_the_evaluation_can_read(tmp_path: Path) -> None:
    out, oof = tmp_path / "model.json", tmp_path / "oof.npz"
    status = main(["train", "physionet", str(DATA), "--out", str(out), "--oof", str(oof), "--rounds", "15",
                   "--workers", "1", "--no-cache", "--quiet", "--bootstrap", "20", "--seed", "5"])
    assert status == 0
    model = RiskModel.load(out)
    assert model.version.startswith("risk-")
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert {"oof_utility", "oof_auroc", "oof_utility_ci95", "news2_ge_5_alerts_per_patient_day"} <= set(
        metrics["summary"])
    assert metrics["rules"]["NEWS2 >= 5"]["alerts_per_patient_day"] > 0
    predictions = load_predictions(oof)
    assert len(predictions) == 50
    first = read_psv(list_patient_files(DATA)[0])
    assert predictions[first.patient_key].size == first.n_hours


def test_a_monotone_constraint_keeps_the_risk_from_falling_as_the_input_rises() -> None:
    from learning.train import CLINICAL_MONOTONE, fit_booster

    assert set(CLINICAL_MONOTONE) <= set(FEATURE_NAMES)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, len(FEATURE_NAMES))).astype(np.float32)
    lactate = FEATURE_NAMES.index("lactate_last")
    # risk high in a middle band only: an unconstrained model learns to lower the risk as lactate keeps rising
    y = (np.abs(x[:, lactate]) < 0.5).astype(np.int8)
    config = replace(SMALL, rounds=30, early_stopping_rounds=0, monotone_increasing=())
    grid = np.repeat(x[:1], 41, axis=0)
    grid[:, lactate] = np.linspace(-3, 3, 41)
    free = fit_booster(x, y, config).predict(grid, raw_score=True)
    assert np.any(np.diff(free) < -1e-9), "the unconstrained trees should fall somewhere"
    bound = fit_booster(x, y, replace(config, monotone_increasing=("lactate_last",))).predict(grid, raw_score=True)
    assert np.all(np.diff(bound) >= -1e-9)
    with pytest.raises(ValueError, match="unknown features"):
        fit_booster(x, y, replace(config, monotone_increasing=("no_such_feature",)))


def test_an_earlier_fit_label_moves_each_septic_stays_first_one_back_and_leaves_the_rest() -> None:
    labels = np.array([0, 0, 0, 1, 1,  0, 0, 0,  1, 1,  0, 0, 0, 0, 0, 0, 1], dtype=np.int8)
    lengths = np.array([5, 3, 2, 7])
    moved = earlier_labels(labels, lengths, 2)
    assert moved.tolist() == [0, 1, 1, 1, 1,  0, 0, 0,  1, 1,  0, 0, 0, 0, 1, 1, 1]
    assert labels[1] == 0  # the input is left as it was
    assert earlier_labels(labels, lengths, 10)[:5].tolist() == [1] * 5  # never before a stay's first row
    assert earlier_labels(labels, lengths, 0) is labels
    with pytest.raises(ValueError, match="lead_h"):
        earlier_labels(labels, lengths, -1)
