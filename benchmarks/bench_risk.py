"""Cost of the learned risk score per prediction: features from a real window + the compiled trees.

Windows: the 50 real stays of tests/learning/data/physionet_sample replayed through `DetectorEngine`; each
prediction is timed at the stay's last scoring (a full 24 h window, the expensive case). Model: the committed
detector/models/risk_model.json. Reference measured in the same run: LightGBM's `Booster.predict` on ONE row
for a booster of the same size (trees, leaves, depth) trained on synthetic rows, beside our compiled function
for that same booster; and the contributions by walking the tree arrays beside the precomputed leaf paths an
explanation uses. The served path (numba kernels, detector/core/risk/compiled.py, bit-identical to the reference;
kept for the target detector >= 20,000 observations per CPU-second per process with the model on): window
features, trees and the whole `RiskScorer.score` per prediction, the engine replay with it, and the first-call JIT
time in a fresh process with an empty numba cache (cold) and again with that cache filled (warm). An alert's
explanation (contributions + top signals + text) by the compiled contributions kernel, beside the Python explainer
on the same float64 vectors.
Run: `.venv/bin/python -m benchmarks.run --only risk`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from detector.core.config import load_config
from detector.core.engine import DetectorEngine
from detector.core.risk import RiskContext, RiskResult, RiskScorer
from detector.core.risk.features import FEATURE_NAMES, extract_features
from detector.core.risk.model import RiskModel
from detector.core.risk.serving import RiskServing
from detector.core.scores import ScoreResult
from detector.core.window import PatientWindow, event_seconds
from evaluation.dataset import list_patient_files
from evaluation.physionet import admit_event, hour_messages, read_psv
from evaluation.replay import DEFAULT_BASE_TIME
from learning.export import build_artifact

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "learning" / "data" / "physionet_sample"
MODEL = Path(__import__("os").environ.get("RISK_MODEL", ROOT / "detector" / "models" / "risk_model.json"))
SECONDS_PER_FIGURE = 0.5
THROUGHPUT_STAYS = 20

Sample = tuple[PatientWindow, dict[str, ScoreResult], int, RiskContext, int]
"""The arguments of `RiskScorer.score` at one scoring: (window, scores, sofa baseline, context, now_s)."""


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


def _windows() -> list[Sample]:
    """(window, scores, sofa baseline, context, now_s) at the last scoring of each sample stay."""
    config = load_config(None)
    out: list[Sample] = []
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
        return extract_features(*windows[i])

    feature_us = _per_call_us(features)
    results["risk_features_us_per_prediction"] = round(feature_us, 2)
    rows = [extract_features(*w) for w in windows]
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
        return scorer.score_reference(*windows[i]).probability

    total_us = _per_call_us(full)
    results["risk_total_us_per_prediction"] = round(total_us, 2)
    results["risk_predictions_per_s"] = round(1e6 / total_us)
    # RiskScorer.load compiled the explanation path already, so this is the steady cost of an alert's explanation
    explain_us = _per_call_us(lambda: scorer.score_reference(*windows[0]).explanation,
                              seconds=0.3)
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
    plain, with_risk = _engine_throughput(scorer, compiled=False)
    results["detector_sample_replay_obs_per_s"] = round(plain)
    results["detector_sample_replay_with_risk_obs_per_s"] = round(with_risk)
    results.update(_compiled_figures(scorer, windows, total_us))
    return results


_JIT_PROBE = ("import sys, time; from detector.core.risk.compiled import CompiledRisk; "
              "from detector.core.risk.model import RiskModel; m = RiskModel.load(sys.argv[1]); "
              "m.prepare_explanations(); t = time.perf_counter(); CompiledRisk(m).warm_up(); "
              "print(time.perf_counter() - t)")


def _jit_seconds(cache_dir: str) -> float:
    """Seconds of building the kernels (JIT or cache load) in a fresh process using numba cache `cache_dir`."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", _JIT_PROBE, str(MODEL)], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def _compiled_figures(reference: RiskScorer, windows: list[Sample],
                      reference_total_us: float) -> dict[str, float | int]:
    from detector.core.risk.compiled import _PLAN, _margin, compiled_tail
    from detector.core.risk.window_kernels import window_features

    scorer = reference
    compiled = scorer.prepare_compiled()
    state = {"i": 0}
    x = np.empty(len(FEATURE_NAMES))

    def nxt() -> Sample:
        i = state["i"] = (state["i"] + 1) % len(windows)
        return windows[i]

    def features() -> object:  # the window kernel + the score/context tail in Python
        window, scores, baseline, context, now_s = nxt()
        compiled_tail(scores, baseline, context, window.first_s, now_s)
        return window_features(window.data, window.lengths, now_s, _PLAN, x)

    vectors = [scorer.score(*w).features for w in windows]

    def trees() -> object:
        i = state["i"] = (state["i"] + 1) % len(vectors)
        return _margin(vectors[i], *compiled.trees)

    def full() -> object:
        return scorer.score(*nxt()).probability

    total_us = min(_per_call_us(full) for _ in range(3))
    packed = [scorer.score(*w) for w in windows]

    def explanation(python: bool) -> Callable[[], object]:
        """An alert's explanation (contributions + top signals + text) of a packed result, alone: a fresh
        RiskResult per call (it caches its explanation), explained by the compiled kernels (contributions summed
        per signal natively, as the engine does) or, as before, by the Python explainer on the same vector."""
        def explain() -> object:
            i = state["i"] = (state["i"] + 1) % len(packed)
            r = packed[i]
            return RiskResult(r.model, r.features, r.margin, r.probability, None if python else compiled.contributions,
                              None if python else compiled.signal_sums).explanation
        return explain

    def contributions() -> object:
        i = state["i"] = (state["i"] + 1) % len(packed)
        return compiled.contributions(packed[i].features)

    def python_contributions() -> object:
        i = state["i"] = (state["i"] + 1) % len(packed)
        return scorer.model.contributions(packed[i].features)
    out: dict[str, float | int] = {
        "risk_compiled_features_us_per_prediction": round(min(_per_call_us(features) for _ in range(3)), 2),
        "risk_compiled_model_us_per_prediction": round(min(_per_call_us(trees) for _ in range(3)), 2),
        "risk_compiled_total_us_per_prediction": round(total_us, 2),
        "risk_compiled_predictions_per_s": round(1e6 / total_us),
        "risk_compiled_speedup_vs_python_x": round(reference_total_us / total_us, 1),
        "risk_compiled_fallbacks": compiled.fallbacks,
        "risk_compiled_explanation_us": round(min(_per_call_us(explanation(False)) for _ in range(3)), 2),
        "reference_python_explanation_of_packed_us": round(min(_per_call_us(explanation(True)) for _ in range(3)), 1),
        "risk_compiled_contributions_us": round(min(_per_call_us(contributions) for _ in range(3)), 2),
        "reference_python_contributions_of_packed_us": round(min(_per_call_us(python_contributions)
                                                                 for _ in range(3)), 1),
    }
    out["detector_sample_replay_with_compiled_risk_obs_per_s"] = round(
        _engine_throughput(scorer, compiled=True)[1])
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
        out["risk_compiled_jit_cold_s"] = round(_jit_seconds(cache_dir), 2)
        out["risk_compiled_jit_warm_s"] = round(_jit_seconds(cache_dir), 2)
    return out


class _PythonReference(RiskScorer):
    """The model served by its plain-Python reference (RiskScorer.score_reference)."""

    def score(self, window: Any, scores: Any, sofa_baseline: int | None, context: RiskContext,
              now_s: int) -> RiskResult:
        return self.score_reference(window, scores, sofa_baseline, context, now_s)


def _engine_throughput(scorer: RiskScorer, compiled: bool) -> tuple[float, float]:
    """Observations per CPU second replaying the sample stays (with their admissions) through a fresh engine per
    stay: the model off, then served by the engine itself (it scores every changed patient) with `scorer`,
    through the compiled kernels or the Python reference."""
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
                engine.risk = RiskServing(risk_scorer if compiled else _PythonReference(risk_scorer.model),
                                          engine.risk.levels)
            engine.process(admit)
            for observations in messages:
                for obs in observations:
                    engine.process(obs)
        rates.append(count / (time.process_time() - start))
    return rates[0], rates[1]


if __name__ == "__main__":
    print(run())
