"""Training options for experiments (early stopping, fit rows up to onset + 3 h) and the experiment runner."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector.core.risk.features import FEATURE_NAMES, feature_index
from evaluation.dataset import list_patient_files
from evaluation.metrics import onset_row
from learning.dataset import FeatureMatrix, build_feature_matrix
from learning.experiment import LAGGED_SCORES, main, with_score_lags, without_features
from learning.train import TrainConfig, _until_late, cross_validate, fit_booster, fit_isotonic, train

DATA = Path(__file__).parent / "data" / "physionet_sample"
# Exactly `rounds` trees (no early stopping), so the tree counts are known.
SMALL = TrainConfig(seed=11, folds=5, rounds=20, num_leaves=7, max_depth=4, min_data_in_leaf=20, threads=1,
                    early_stopping_rounds=0)


@pytest.fixture(scope="module")
def matrix() -> FeatureMatrix:
    return build_feature_matrix(list_patient_files(DATA), workers=1, cache_dir=None, progress=False)


def test_until_late_drops_only_septic_rows_after_onset_plus_3h(matrix: FeatureMatrix) -> None:
    keep = matrix.per_patient(_until_late(matrix))
    labels = matrix.per_patient(matrix.labels)
    assert any(x.any() for x in labels)
    for label, kept in zip(labels, keep, strict=True):
        onset = onset_row(label)
        if np.isfinite(onset):
            assert kept.tolist() == [r <= onset + 3 for r in range(label.size)]
        else:
            assert kept.all()


def test_early_stopping_keeps_only_the_best_iteration(matrix: FeatureMatrix) -> None:
    rows = matrix.scored
    x, y = matrix.features[rows], matrix.labels[rows]
    half = x.shape[0] // 2
    config = replace(SMALL, rounds=200, early_stopping_rounds=5)
    booster = fit_booster(x[:half], y[:half], config, valid=(x[half:], y[half:]))
    assert 1 <= booster.num_trees() < 200
    # without a validation set, or with early stopping off, exactly `rounds` trees
    assert fit_booster(x[:half], y[:half], config).num_trees() == 200


def test_cross_validate_is_what_train_does(matrix: FeatureMatrix) -> None:
    cv = cross_validate(matrix, SMALL, np.random.default_rng(SMALL.seed), log=lambda _m: None)
    result = train(matrix, SMALL, log=lambda _m: None)
    assert np.array_equal(cv.oof_risk, result.oof_risk, equal_nan=True)
    assert np.array_equal(cv.oof_alert, result.oof_alert)
    assert cv.fold_trees == [SMALL.rounds] * SMALL.folds


def test_experiment_cli_writes_results_and_oof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(DATA), "--name", "tiny", "--rounds", "20", "--num-leaves", "7", "--max-depth", "4",
            "--min-data-in-leaf", "20", "--learning-rate", "0.1", "--early-stopping", "0", "--fit-until-late",
            "--workers", "1", "--no-cache",
            "--results-dir", str(tmp_path / "res"), "--oof-dir", str(tmp_path / "oof")]
    assert main(args) == 0
    result = json.loads((tmp_path / "res" / "tiny.json").read_text())
    assert result["changes"] == {"rounds": 20, "num_leaves": 7, "max_depth": 4, "min_data_in_leaf": 20,
                                 "learning_rate": 0.1, "early_stopping_rounds": 0, "fit_until_late": True}
    assert result["settings"]["fit_until_late"] is True and result["fold_trees"] == [20] * 5
    for key in ("hour_auroc", "utility", "sensitivity"):
        assert isinstance(result[key], float)
    assert 0.0 <= result["ceiling"]["sensitivity"] <= 1.0 and result["ceiling"]["patients"] == 50
    oof = np.load(tmp_path / "oof" / "tiny.npz")
    assert oof["risk"].size == oof["label"].size == oof["row"].size and np.unique(oof["patient"]).size == 50
    assert capsys.readouterr().out.startswith("| tiny |")


def test_score_lags_are_changes_within_a_stay(matrix: FeatureMatrix) -> None:
    wide = with_score_lags(matrix, lags=(6,))
    n = len(FEATURE_NAMES)
    assert wide.features.shape == (matrix.labels.size, n + len(LAGGED_SCORES))
    assert np.array_equal(wide.features[:, :n], matrix.features, equal_nan=True)
    sofa = feature_index("score_sofa")
    column = n + LAGGED_SCORES.index("score_sofa")
    for stay, (values, lagged) in enumerate(zip(matrix.per_patient(matrix.features[:, sofa]),
                                                wide.per_patient(wide.features[:, column]), strict=True)):
        assert np.isnan(lagged[:6]).all(), stay  # never reaches into the previous stay
        assert np.array_equal(lagged[6:], values[6:] - values[:-6], equal_nan=True)


def test_centred_isotonic_keeps_the_ranking_that_plain_isotonic_ties() -> None:
    rng = np.random.default_rng(7)
    margin = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(2 * margin - 3)))).astype(np.int8)
    plain_x, plain_y = fit_isotonic(margin, y)
    cx, cy = fit_isotonic(margin, y, centred=True)
    assert np.all(np.diff(cx) > 0) and np.all(np.diff(cy) > 0)  # one knot per block, blocks strictly rising
    plain = np.interp(margin, plain_x, plain_y)
    centred = np.interp(margin, cx, cy)
    inside = (margin > cx[0]) & (margin < cx[-1])
    assert np.unique(centred[inside]).size == inside.sum()  # no ties between the outer knots
    assert np.unique(plain).size < 100
    # same calibration level: the mean predicted probability stays close to the observed rate
    assert abs(centred.mean() - y.mean()) < 0.01 and abs(plain.mean() - y.mean()) < 1e-9


def test_without_features_hides_only_the_named_columns(matrix: FeatureMatrix) -> None:
    hidden = without_features(matrix, ["hours_since_admission"])
    column = feature_index("hours_since_admission")
    assert np.isnan(hidden.features[:, column]).all()
    rest = np.delete(np.arange(len(FEATURE_NAMES)), column)
    assert np.array_equal(hidden.features[:, rest], matrix.features[:, rest], equal_nan=True)
    assert np.isfinite(matrix.features[matrix.scored, column]).all()  # the original is left alone
