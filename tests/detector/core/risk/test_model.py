"""Serving the risk model: compiled trees equal LightGBM, refusal on mismatch, calibration, contributions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from detector.core.risk import RiskContext, RiskScorer
from detector.core.risk.features import FEATURE_NAMES, feature_index
from detector.core.risk.model import RiskModel, RiskModelError, RiskModelMismatch, artifact_content_hash
from detector.core.window import PatientWindow
from learning.export import build_artifact, write_artifact

F = len(FEATURE_NAMES)
COMMITTED = Path(__file__).resolve().parents[4] / "detector" / "models" / "risk_model.json"


def _synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with NaNs (40%), exact zeros and a label driven by a few features (so trees really split)."""
    x = rng.normal(0.0, 1.0, size=(n, F))
    x[rng.random(x.shape) < 0.4] = np.nan
    x[rng.random(x.shape) < 0.05] = 0.0
    rr, lac = feature_index("rr_last"), feature_index("lactate_last")
    logit = 1.5 * np.nan_to_num(x[:, rr]) + np.where(np.isnan(x[:, lac]), -1.0, 2.0 * x[:, lac]) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


@pytest.fixture(scope="module")
def booster_and_artifact() -> tuple[lgb.Booster, dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(7)
    x, y = _synthetic(rng, 3000)
    params = {"objective": "binary", "num_leaves": 15, "max_depth": 6, "min_data_in_leaf": 20, "verbosity": -1,
              "num_threads": 1, "seed": 1, "deterministic": True, "learning_rate": 0.2}
    booster = lgb.train(params, lgb.Dataset(x, label=y, feature_name=list(FEATURE_NAMES)), num_boost_round=40)
    margin = booster.predict(x, raw_score=True)
    order = np.argsort(margin)
    artifact = build_artifact(booster, calibration_x=[float(margin[order[0]]), 0.0, float(margin[order[-1]])],
                              calibration_y=[0.01, 0.3, 0.9], alert_threshold=0.3, level_thresholds={2: 0.3, 3: 0.6},
                              training={"data": "synthetic"}, metrics={})
    test_x, _ = _synthetic(np.random.default_rng(8), 500)
    return booster, artifact, test_x


def test_compiled_trees_equal_lightgbm(booster_and_artifact: tuple[lgb.Booster, dict[str, Any], np.ndarray]) -> None:
    booster, artifact, test_x = booster_and_artifact
    model = RiskModel.from_artifact(artifact)
    expected = booster.predict(test_x, raw_score=True)
    for row, want in zip(test_x, expected, strict=True):
        values = [float(v) for v in row]
        assert model.margin(values) == pytest.approx(want, abs=1e-9)
        assert model.margin_reference(values) == pytest.approx(want, abs=1e-9)


def test_all_missing_row_matches_lightgbm(booster_and_artifact: tuple[lgb.Booster, dict[str, Any],
                                                                      np.ndarray]) -> None:
    booster, artifact, _ = booster_and_artifact
    row = np.full((1, F), np.nan)
    assert RiskModel.from_artifact(artifact).margin([math.nan] * F) == pytest.approx(
        booster.predict(row, raw_score=True)[0], abs=1e-9)


def test_contributions_add_up_to_the_margin(booster_and_artifact: tuple[lgb.Booster, dict[str, Any],
                                                                        np.ndarray]) -> None:
    _, artifact, test_x = booster_and_artifact
    model = RiskModel.from_artifact(artifact)
    for row in test_x[:50]:
        values = [float(v) for v in row]
        bias, contributions = model.contributions(values)
        assert bias + sum(contributions) == pytest.approx(model.margin(values), abs=1e-9)
    top = model.top_contributions([float(v) for v in test_x[0]])
    assert all(c.contribution > 0 for c in top)


def test_calibration_is_monotone_and_clipped(booster_and_artifact: tuple[lgb.Booster, dict[str, Any],
                                                                         np.ndarray]) -> None:
    model = RiskModel.from_artifact(booster_and_artifact[1])
    assert model.calibrate(-1e9) == 0.01 and model.calibrate(1e9) == 0.9
    assert model.calibrate(0.0) == pytest.approx(0.3)
    grid = [model.calibrate(m) for m in np.linspace(-10, 10, 101)]
    assert grid == sorted(grid)
    assert model.level_hint(0.29) == 0 and model.level_hint(0.3) == 2 and model.level_hint(0.7) == 3


def test_mismatched_feature_list_is_refused_with_a_clear_message(
        booster_and_artifact: tuple[lgb.Booster, dict[str, Any], np.ndarray]) -> None:
    artifact = dict(booster_and_artifact[1])
    artifact["feature_names"] = [*FEATURE_NAMES[:-1], "lactate_clearance_6h"]
    artifact["feature_set_hash"] = "0123456789abcdef"
    artifact["content_hash"] = artifact_content_hash(artifact)
    with pytest.raises(RiskModelMismatch) as caught:
        RiskModel.from_artifact(artifact)
    message = str(caught.value)
    assert "0123456789abcdef" in message and "hours_since_admission" in message
    assert "lactate_clearance_6h" in message and "Retrain" in message


def test_reordered_features_are_refused(booster_and_artifact: tuple[lgb.Booster, dict[str, Any],
                                                                    np.ndarray]) -> None:
    artifact = dict(booster_and_artifact[1])
    artifact["feature_names"] = list(reversed(FEATURE_NAMES))
    artifact["content_hash"] = artifact_content_hash(artifact)
    with pytest.raises(RiskModelMismatch, match="different order"):
        RiskModel.from_artifact(artifact)


def test_edited_artifact_is_refused(booster_and_artifact: tuple[lgb.Booster, dict[str, Any], np.ndarray],
                                    tmp_path: Path) -> None:
    artifact = json.loads(json.dumps(booster_and_artifact[1]))
    artifact["alert_threshold"] = 0.0001
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(artifact))
    with pytest.raises(RiskModelError, match="content hash"):
        RiskModel.load(path)


def test_missing_or_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(RiskModelError, match="does not exist"):
        RiskModel.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RiskModelError, match="not valid JSON"):
        RiskModel.load(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(RiskModelError, match="not a risk model artifact"):
        RiskModel.load(wrong)


def test_written_artifact_round_trips_and_scorer_explains(
        booster_and_artifact: tuple[lgb.Booster, dict[str, Any], np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    size = write_artifact(booster_and_artifact[1], path)
    assert size == path.stat().st_size
    scorer = RiskScorer.load(path)
    window = PatientWindow()
    result = scorer.score(window, {}, None, RiskContext(), 1000)
    assert 0.0 <= result.probability <= 1.0
    assert result.explanation.startswith(f"risk {result.probability:.0%} (model {scorer.model.version})")
    score = result.as_score_result()
    assert score.name == "risk_model" and score.value == result.probability


def test_committed_artifact_matches_the_code() -> None:
    model = RiskModel.load(COMMITTED)
    assert model.trees and 0 < model.alert_threshold < 1
    assert COMMITTED.stat().st_size < 2_000_000


def _contributions_match_the_walk(model: RiskModel, rows: list[list[float]]) -> None:
    for values in rows:
        bias, fast = model.contributions(values)
        ref_bias, walked = model.contributions_reference(values)
        assert bias == ref_bias and fast == walked  # the same floats, not merely close
        # a full-length list is unpacked whole, any other sequence through an itemgetter: same margin
        assert model.margin(values) == model.margin(tuple(values)) == model.margin_reference(values)
        assert model.contributions(tuple(values)) == (bias, fast)


def test_fast_contributions_are_the_tree_walk_exactly(
        booster_and_artifact: tuple[lgb.Booster, dict[str, Any], np.ndarray]) -> None:
    _, artifact, test_x = booster_and_artifact
    model = RiskModel.from_artifact(artifact)
    rows = [[float(v) for v in row] for row in test_x[:200]]
    _contributions_match_the_walk(model, [*rows, [math.nan] * F, [0.0] * F])


def test_fast_contributions_follow_zero_as_missing_splits() -> None:
    # zero_as_missing gives "Zero" splits (0 and NaN take the default side), the third LightGBM missing rule
    rng = np.random.default_rng(11)
    x, y = _synthetic(rng, 2000)
    params = {"objective": "binary", "num_leaves": 7, "max_depth": 4, "min_data_in_leaf": 20, "verbosity": -1,
              "num_threads": 1, "seed": 3, "deterministic": True, "zero_as_missing": True}
    booster = lgb.train(params, lgb.Dataset(x, label=y, feature_name=list(FEATURE_NAMES)), num_boost_round=15)
    artifact = build_artifact(booster, calibration_x=[-1.0, 1.0], calibration_y=[0.0, 1.0], alert_threshold=0.5,
                              level_thresholds={}, training={}, metrics={})
    model = RiskModel.from_artifact(artifact)
    assert any("Zero" in tree.missing_type for tree in model.trees), "the fixture must exercise Zero splits"
    test_x, _ = _synthetic(np.random.default_rng(12), 300)
    rows = [[float(v) for v in row] for row in test_x]
    _contributions_match_the_walk(model, rows)
    expected = booster.predict(test_x, raw_score=True)
    assert [model.margin(r) for r in rows] == pytest.approx(list(expected), abs=1e-9)


def test_committed_model_contributions_are_the_tree_walk_exactly() -> None:
    model = RiskModel.load(COMMITTED)
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(20):
        row = rng.normal(0.0, 30.0, size=F)
        row[rng.random(F) < 0.4] = np.nan
        rows.append([float(v) for v in row])
    _contributions_match_the_walk(model, rows)


def test_the_committed_model_never_lowers_the_risk_as_a_clinical_input_worsens() -> None:
    """The shipped trees are monotone in learning.train.CLINICAL_MONOTONE: from many base vectors (every feature at
    one of the model's own split values, or missing), raising one of those inputs, or a lone lab's last value,
    24 h minimum and maximum together, never lowers the margin."""
    from learning.train import CLINICAL_MONOTONE

    artifact = json.loads(COMMITTED.read_text())
    model = RiskModel.from_artifact(artifact)
    splits: dict[int, list[float]] = {}
    for tree in artifact["trees"]:
        for feature, threshold in zip(tree["feature"], tree["threshold"], strict=True):
            splits.setdefault(feature, []).append(threshold)
    rng = np.random.default_rng(5)
    bases = []
    for _ in range(40):
        x = np.full(F, np.nan)
        for feature, values in splits.items():
            if rng.random() < 0.8:
                x[feature] = rng.choice(values) + rng.choice([-1e-3, 1e-3])
        bases.append(x)

    def grid(feature: int) -> np.ndarray:
        cuts = np.unique(splits.get(feature, [0.0]))
        return np.unique(np.concatenate([cuts - 1e-3, cuts + 1e-3, [cuts.min() - 10, cuts.max() + 10]]))

    for name in CLINICAL_MONOTONE:
        i = feature_index(name)
        for x in bases[:10]:
            margins = [model.margin(np.where(np.arange(F) == i, v, x).tolist()) for v in grid(i)]
            assert np.all(np.diff(margins) >= -1e-9), name
    for lab in ("lactate", "bilirubin", "creatinine"):
        idx = [feature_index(f"{lab}_{part}") for part in ("last", "min_24h", "max_24h")]
        values = np.unique(np.concatenate([grid(i) for i in idx]))
        for x in bases:
            x = x.copy()
            x[feature_index(f"{lab}_delta_prev")] = np.nan  # one value in 24 h: no previous to change from
            margins = []
            for v in values:
                x[idx] = v
                margins.append(model.margin(x.tolist()))
            assert np.all(np.diff(margins) >= -1e-9), lab
