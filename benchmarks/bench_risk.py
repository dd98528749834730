"""Cost of the learned risk score per prediction: features from a real window + the generated-Python trees.

Windows: the 50 real stays of tests/learning/data/physionet_sample replayed through `DetectorEngine`; each
prediction is timed at the stay's last scoring (a full 24 h window, the expensive case). Model: the committed
detector/models/risk_model.json. Reference measured in the same run: LightGBM's `Booster.predict` on ONE row
for a booster of the same size (trees, leaves, depth) trained on synthetic rows, beside our generated function
for that same booster; and the contributions by walking the tree arrays beside the precomputed leaf paths an
explanation uses. Run: `.venv/bin/python -m benchmarks.run --only risk`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np

from detector.core.config import load_config
from detector.core.engine import DetectorEngine, RiskServing
from detector.core.risk import RiskContext, RiskScorer
from detector.core.risk.features import FEATURE_NAMES, extract_features
from detector.core.risk.model import RiskModel
from detector.core.window import event_seconds
from evaluation.dataset import list_patient_files
from evaluation.physionet import admit_event, hour_messages, read_psv
from evaluation.replay import DEFAULT_BASE_TIME
from learning.export import build_artifact

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "learning" / "data" / "physionet_sample"
MODEL = Path(__import__("os").environ.get("RISK_MODEL", ROOT / "detector" / "models" / "risk_model.json"))
SECONDS_PER_FIGURE = 0.5
THROUGHPUT_STAYS = 20


def _per_call_us(fn: Callable[[], object], seconds: float = SECONDS_PER_FIGURE) -> float:
    """Mean CPU µs per call of fn, over about `seconds` of one core's CPU time."""
    calls = 0
    start = time.process_time()
    while True:
        for _ in range(50):
            fn()
        calls += 50
        spent = time.process_time() - start
        if spent >= seconds:
            return spent / calls * 1e6


def _windows() -> list[tuple[object, dict, int, RiskContext, int]]:
    """(window, scores, sofa baseline, context, now_s) at the last scoring of each sample stay."""
    config = load_config(None)
    out = []
    for path in list_patient_files(SAMPLE):
        record = read_psv(path)
        engine = DetectorEngine(config)
        admit = admit_event(record, DEFAULT_BASE_TIME)
        engine.process(admit)
        for message in hour_messages(record, DEFAULT_BASE_TIME):
            for obs in message.observations:
                engine.process(obs)
        state = engine.patient(record.patient_key)
        if state is None:
            continue
        now_s = state.window.newest_s
        baseline = state.sofa_baseline(now_s, config.timing.sofa_lab_window_hours, config.window.baseline_hours)
        context = RiskContext(record.age_years, record.sex.value == "male", event_seconds(admit.event_time))
        out.append((state.window, engine.current_scores(record.patient_key), baseline, context, now_s))
    return out


def _reference_booster(trees: int, leaves: int, depth: int) -> lgb.Booster:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, len(FEATURE_NAMES)))
    x[rng.random(x.shape) < 0.5] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=4000) > 1).astype(int)
    params = {"objective": "binary", "num_leaves": leaves, "max_depth": depth, "min_data_in_leaf": 5,
              "verbosity": -1, "num_threads": 1, "seed": 1, "deterministic": True}
    return lgb.train(params, lgb.Dataset(x, label=y, feature_name=list(FEATURE_NAMES)), num_boost_round=trees)


def run() -> dict[str, float | int | str]:
    results: dict[str, float | int | str] = {}
    windows = _windows()
    state = {"i": 0}

    def features() -> object:
        i = state["i"] = (state["i"] + 1) % len(windows)
        return extract_features(*windows[i])  # type: ignore[arg-type]

    feature_us = _per_call_us(features)
    results["risk_features_us_per_prediction"] = round(feature_us, 2)
    rows = [extract_features(*w) for w in windows]  # type: ignore[arg-type]
    scorer = RiskScorer.load(MODEL)  # as the detector loads it (explanations compiled up front)
    model = scorer.model

    def predict() -> object:
        i = state["i"] = (state["i"] + 1) % len(rows)
        return model.probability(rows[i])

    model_us = _per_call_us(predict)
    results["risk_model_us_per_prediction"] = round(model_us, 2)
    results["risk_model_trees"] = len(model.trees)

    def full() -> object:
        i = state["i"] = (state["i"] + 1) % len(windows)
        return scorer.score(*windows[i]).probability  # type: ignore[arg-type]

    total_us = _per_call_us(full)
    results["risk_total_us_per_prediction"] = round(total_us, 2)
    results["risk_predictions_per_s"] = round(1e6 / total_us)
    # RiskScorer.load compiled the explanation path already, so this is the steady cost of an alert's explanation
    explain_us = _per_call_us(lambda: scorer.score(*windows[0]).explanation, seconds=0.3)  # type: ignore[arg-type]
    results["risk_explanation_us"] = round(explain_us, 1)
    contributions_us = _per_call_us(lambda: model.contributions(rows[0]), seconds=0.3)
    results["risk_contributions_us"] = round(contributions_us, 1)
    # reference: the same contributions by walking the flat tree arrays (the obvious way, and the test oracle)
    walk_us = _per_call_us(lambda: model.contributions_reference(rows[0]), seconds=0.3)
    results["reference_contributions_tree_walk_us"] = round(walk_us, 1)
    # reference: LightGBM on one row vs our compiled trees, same booster
    leaves = max(len(t.leaf_value) for t in model.trees)
    depth = int(model.artifact.get("training", {}).get("settings", {}).get("max_depth", 8))
    booster = _reference_booster(len(model.trees), leaves, depth)
    ref_model = RiskModel.from_artifact(build_artifact(booster, calibration_x=[-1.0, 1.0], calibration_y=[0.0, 1.0],
                                                       alert_threshold=0.5, level_thresholds={}, training={},
                                                       metrics={}))
    one = np.array([rows[0]], dtype=np.float64)
    lightgbm_us = _per_call_us(lambda: booster.predict(one, raw_score=True, num_threads=1))
    results["reference_lightgbm_predict_one_row_us"] = round(lightgbm_us, 2)
    results["reference_compiled_same_booster_us"] = round(_per_call_us(lambda: ref_model.margin(rows[0])), 2)
    results["risk_model_version"] = model.version
    plain, with_risk = _engine_throughput(scorer)
    results["detector_sample_replay_obs_per_s"] = round(plain)
    results["detector_sample_replay_with_risk_obs_per_s"] = round(with_risk)
    return results


def _engine_throughput(scorer: RiskScorer) -> tuple[float, float]:
    """Observations per CPU second replaying the sample stays (with their admissions) through a fresh engine per
    stay: the model off, then served by the engine itself (it scores every changed patient) with `scorer`."""
    config = load_config(None)
    off = config.model_copy(update={"risk_model": config.risk_model.model_copy(update={"enabled": False})})
    stays = []
    for path in list_patient_files(SAMPLE)[:THROUGHPUT_STAYS]:
        record = read_psv(path)
        stays.append((admit_event(record, DEFAULT_BASE_TIME),
                      [m.observations for m in hour_messages(record, DEFAULT_BASE_TIME)]))
    count = sum(len(m) for _, messages in stays for m in messages)
    rates = []
    for risk_scorer in (None, scorer):
        start = time.process_time()
        for admit, messages in stays:
            engine = DetectorEngine(off if risk_scorer is None else config)
            if risk_scorer is not None:
                assert engine.risk is not None
                engine.risk = RiskServing(risk_scorer, engine.risk.levels)
            engine.process(admit)
            for observations in messages:
                for obs in observations:
                    engine.process(obs)
        rates.append(count / (time.process_time() - start))
    return rates[0], rates[1]


if __name__ == "__main__":
    print(run())
