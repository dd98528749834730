"""Training the risk model: patient-grouped CV, calibration within folds, a utility threshold, the artifact.

Procedure (deterministic for a seed; LightGBM runs with `deterministic=True` and fixed thread count):

1. Stays are split into `folds` folds, stratified by septic / non-septic, by a seeded shuffle. Every row of a
   stay stays in one fold (patient-grouped: no hour of a test patient is ever trained on).
2. For each fold: the other folds' stays are split again, 80% to fit the booster and 20% (`calibration_share`)
   to fit an isotonic map from raw margin to probability AND to choose that fold's threshold (best utility
   whose alert burden stays at or under NEWS2 >= 5 on the same stays). The held-out fold is then predicted
   with both: its out-of-fold (OOF) probabilities and alerts never saw its labels.
3. The shipped model repeats step 2 on all stays (80% fit, 20% calibration); its threshold is chosen on the
   pooled OOF probabilities under the NEWS2 >= 5 burden of all stays.

Fixed hyper-parameters (no search on set A, to avoid tuning to its quirks); `max_depth` 8 keeps the compiled
serving function shallow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import lightgbm as lgb
import numpy as np
from sklearn.isotonic import IsotonicRegression

from detector.core.risk.features import FEATURE_NAMES, feature_index
from evaluation.metrics import CHALLENGE, Cohort, onset_row
from learning.assess import ThresholdChoice, choose_threshold
from learning.dataset import FeatureMatrix

__all__ = ["CLINICAL_MONOTONE", "CrossValidation", "PartModel", "TrainConfig", "TrainResult", "assign_folds",
           "cross_validate", "earlier_labels", "fit_booster", "fit_isotonic", "fit_part", "news2_alerts",
           "predict_rows", "train"]


# Inputs whose higher value means worse physiology by the definition of the score or the guideline they come from
# (lactate, the classic scores and their per-parameter points, the shock index, SOFA's organ labs): a model that
# lowers the risk as one of them rises is learning this site's treatment and charting patterns, not sepsis. A lab
# enters the features as its last value, its 24 h minimum and maximum and its change from the previous value, and
# a new value moves all of them: constraining the last value alone left the risk free to fall as a lone lactate
# rose (through the minimum and maximum), so every one of them is constrained.
CLINICAL_MONOTONE: tuple[str, ...] = (
    *(f"{lab}_{part}" for lab in ("lactate", "bilirubin", "creatinine")
      for part in ("last", "min_24h", "max_24h", "delta_prev")),
    "shock_index_last",
    "score_news2", "score_mews", "score_sirs", "score_qsofa", "score_sofa", "score_shock_index", "score_sofa_rise",
    "news2_pts_rr", "news2_pts_spo2", "news2_pts_on_oxygen", "news2_pts_sbp", "news2_pts_hr",
    "news2_pts_consciousness", "news2_pts_temp_c",
    "sofa_pts_respiration", "sofa_pts_coagulation", "sofa_pts_liver", "sofa_pts_cardiovascular", "sofa_pts_cns",
    "sofa_pts_renal",
    "sirs_pts_temperature", "sirs_pts_heart_rate", "sirs_pts_respiration", "sirs_pts_white_cells",
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Training settings (LightGBM parameter names where they map one to one)."""

    seed: int = 2019
    folds: int = 5
    rounds: int = 600
    learning_rate: float = 0.03
    num_leaves: int = 31
    max_depth: int = 8
    min_data_in_leaf: int = 1000
    feature_fraction: float = 0.3
    bagging_fraction: float = 0.5
    lambda_l2: float = 10.0
    calibration_share: float = 0.2
    threads: int = 2
    # 0: exactly `rounds` trees. N > 0: stop when the calibration split's log loss has not improved for N rounds
    # and keep the best iteration (`rounds` is then the cap). The calibration split also fits the isotonic map
    # and the threshold, so it never sees a test patient either way.
    early_stopping_rounds: int = 30
    # Fit the booster only on rows up to onset + 3 h of septic stays (all rows of other stays). Later rows carry
    # label 1 but no utility either way; they teach the trees what established sepsis looks like, not what
    # precedes it. Calibration and threshold still use every row, as serving sees every row. A no-op on
    # PhysioNet 2019 set A, whose septic stays all end by onset + 3 h; kept for data that run on.
    fit_until_late: bool = False
    # Fit the trees to a label that turns 1 this many hours before SepsisLabel does (which is onset - 6 h), so
    # they learn what precedes the rewarded window's start (onset - 12 h) too. Early stopping uses the same
    # target; calibration and the threshold use SepsisLabel, so the probability still means what it says.
    fit_label_lead_h: int = 0
    # Centred isotonic calibration (Oron & Flournoy 2017): one knot per isotonic block at the block's mean margin,
    # linear between knots. Same served form (knots, linear interpolation) but strictly increasing between the
    # outer knots, so the probability keeps the trees' ranking instead of tying every hour of a block (plain
    # isotonic ties hundreds of thousands of hours, and a paging threshold cannot split a tie).
    centred_calibration: bool = True
    # Features the trees may only raise the risk with (LightGBM monotone constraints), named from FEATURE_NAMES;
    # empty: unconstrained. Shipped since experiment e11 (learning/results/model_experiments.md): the same set A
    # figures within chance, no worse on the ICU unit it was not trained on (two seeds), and a risk that never
    # falls as one of these inputs worsens.
    monotone_increasing: tuple[str, ...] = CLINICAL_MONOTONE

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "max_depth": self.max_depth, "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction, "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1, "lambda_l2": self.lambda_l2, "num_threads": self.threads, "seed": self.seed,
            "deterministic": True, "force_col_wise": True, "verbosity": -1,
        }


@dataclass(slots=True)
class TrainResult:
    """Everything a training run produced (the CLI writes the artifact, OOF file and metrics from it)."""

    booster: lgb.Booster
    calibration_x: list[float]
    calibration_y: list[float]
    oof_risk: np.ndarray  # calibrated OOF probability per row (NaN before the first scoring)
    oof_margin: np.ndarray
    oof_alert: np.ndarray  # 0/1 per row with each fold's own threshold
    fold_of_patient: np.ndarray
    fold_thresholds: list[ThresholdChoice]
    threshold: ThresholdChoice  # on pooled OOF, for the shipped model
    level3_threshold: ThresholdChoice
    news2_alerts: np.ndarray
    news2_burden: float
    news2_7_burden: float
    seconds: dict[str, float]
    config: TrainConfig


def assign_folds(septic: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per patient: septic and non-septic patients each shuffled (seeded) and dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold = np.empty(septic.size, dtype=np.int64)
    for group in (np.flatnonzero(septic), np.flatnonzero(~septic)):
        order = rng.permutation(group)
        fold[order] = np.arange(order.size) % folds
    return fold


def fit_booster(x: np.ndarray, y: np.ndarray, config: TrainConfig,
                valid: tuple[np.ndarray, np.ndarray] | None = None) -> lgb.Booster:
    """Gradient-boosted trees on rows x (FEATURE_NAMES order) and 0/1 labels y.

    With `config.early_stopping_rounds` and `valid` (x, y), boosting stops on the validation log loss and the
    returned booster keeps only the best iteration's trees (so export and serving see exactly those)."""
    # Experiments (learning/experiment.py) may append columns after FEATURE_NAMES; such boosters are never
    # exported (export checks the names), so their extra columns get LightGBM's generic names.
    names = list(FEATURE_NAMES) + [f"extra_{i}" for i in range(x.shape[1] - len(FEATURE_NAMES))]
    data = lgb.Dataset(x, label=y, feature_name=names, free_raw_data=True,
                       params={"verbosity": -1, "max_bin": 255})
    params = config.lgb_params()
    if config.monotone_increasing:
        unknown = sorted(set(config.monotone_increasing) - set(names))
        if unknown:
            raise ValueError(f"monotone_increasing names unknown features: {unknown}")
        params["monotone_constraints"] = [1 if name in config.monotone_increasing else 0 for name in names]
    if config.early_stopping_rounds <= 0 or valid is None:
        return lgb.train(params, data, num_boost_round=config.rounds)
    check = lgb.Dataset(valid[0], label=valid[1], reference=data, free_raw_data=True,
                        params={"verbosity": -1, "max_bin": 255})
    booster = lgb.train({**params, "metric": "binary_logloss"}, data, num_boost_round=config.rounds,
                        valid_sets=[check], valid_names=["calibration"],
                        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])
    # Round-trip through the model text cut at the best iteration: a booster that still holds the later trees
    # would export them (learning/export.py walks every tree).
    best = booster.best_iteration
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def fit_isotonic(margin: np.ndarray, y: np.ndarray, centred: bool = False) -> tuple[list[float], list[float]]:
    """Knots (x, y) of a monotone map from raw margin to probability; evaluate with linear interpolation.

    `centred`: the centred isotonic variant (see TrainConfig.centred_calibration)."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    x = margin.astype(np.float64)
    iso.fit(x, y.astype(np.float64))
    if not centred:
        return [float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_]
    xs = np.sort(x)
    fitted = iso.predict(xs)
    starts = np.flatnonzero(np.concatenate(([True], fitted[1:] != fitted[:-1])))
    counts = np.diff(np.concatenate((starts, [xs.size])))
    centre = np.add.reduceat(xs, starts) / counts
    return [float(v) for v in centre], [float(v) for v in fitted[starts]]


def news2_alerts(matrix: FeatureMatrix) -> np.ndarray:
    """NEWS2 >= 5 (RCP 2017 urgent response) per row, from the engine's own NEWS2 (carried forward)."""
    news2 = matrix.features[:, feature_index("score_news2")]
    alerts: np.ndarray = np.nan_to_num(news2, nan=-1.0) >= 5
    return alerts


def _cohort(matrix: FeatureMatrix, patients: np.ndarray) -> tuple[Cohort, np.ndarray]:
    """Cohort of the given patients (index order) and the mask of their rows."""
    row_patient = matrix.groups
    mask = np.isin(row_patient, patients)
    labels = matrix.per_patient(matrix.labels)
    return Cohort([labels[p] for p in np.sort(patients)]), mask


def _burden(cohort: Cohort, alerts: np.ndarray) -> float:
    return cohort.evaluate(alerts).alerts_per_patient_day


def _fit_calibrated(matrix: FeatureMatrix, patients: np.ndarray, config: TrainConfig, rng: np.random.Generator
                    ) -> tuple[lgb.Booster, list[float], list[float], np.ndarray]:
    """Booster on (1 - calibration_share) of `patients`, isotonic on the rest; returns the calibration patients."""
    septic_of = np.array([bool(x.any()) for x in matrix.per_patient(matrix.labels)])
    calib_parts = []
    for group in (patients[septic_of[patients]], patients[~septic_of[patients]]):
        order = rng.permutation(group)
        calib_parts.append(order[:round(order.size * config.calibration_share)])
    calib = np.sort(np.concatenate(calib_parts))
    fit = np.setdiff1d(patients, calib)
    row_patient = matrix.groups
    fit_rows = np.isin(row_patient, fit) & matrix.scored
    if config.fit_until_late:
        fit_rows &= _until_late(matrix)
    calib_rows = np.isin(row_patient, calib) & matrix.scored
    target = earlier_labels(matrix.labels, matrix.lengths, config.fit_label_lead_h)
    booster = fit_booster(matrix.features[fit_rows], target[fit_rows], config,
                          valid=(matrix.features[calib_rows], target[calib_rows]))
    # a dense matrix without pred_leaf/pred_contrib: LightGBM returns a 1-D ndarray (its stubs also allow sparse/list)
    margin = cast(np.ndarray, booster.predict(matrix.features[calib_rows], raw_score=True))
    cal_x, cal_y = fit_isotonic(margin, matrix.labels[calib_rows], centred=config.centred_calibration)
    return booster, cal_x, cal_y, calib


def earlier_labels(labels: np.ndarray, lengths: np.ndarray, lead_h: int) -> np.ndarray:
    """Stays' 0/1 labels laid end to end, each septic stay's first 1 moved `lead_h` rows earlier (not before its
    first row); `labels` itself when `lead_h` is 0."""
    if lead_h < 0:
        raise ValueError(f"lead_h must be >= 0, got {lead_h}")
    if lead_h == 0:
        return labels
    out = labels.copy()
    starts = np.cumsum(lengths) - lengths
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        ones = np.flatnonzero(labels[start:start + length])
        if ones.size:
            out[start + max(0, int(ones[0]) - lead_h):start + int(ones[0])] = 1
    return out


def _until_late(matrix: FeatureMatrix) -> np.ndarray:
    """Per row: False for rows of septic stays after onset + dt_late (evaluation.metrics), True otherwise."""
    onsets = np.array([onset_row(x) for x in matrix.per_patient(matrix.labels)])
    row_in_stay = np.arange(matrix.labels.size) - np.repeat(np.cumsum(matrix.lengths) - matrix.lengths, matrix.lengths)
    keep: np.ndarray = row_in_stay <= np.repeat(onsets + CHALLENGE.dt_late, matrix.lengths)
    return keep


def _predict(booster: lgb.Booster, cal_x: list[float], cal_y: list[float], matrix: FeatureMatrix,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(margin, calibrated probability) for the selected rows; NaN where the row has no features."""
    margin = np.full(rows.sum(), np.nan)
    scored = matrix.scored[rows]
    margin[scored] = booster.predict(matrix.features[rows][scored], raw_score=True)
    risk = np.where(np.isfinite(margin), np.interp(margin, cal_x, cal_y), np.nan)
    return margin, risk


@dataclass(slots=True)
class PartModel:
    """A booster and isotonic map fitted on some patients, with the threshold chosen on their calibration share."""

    booster: lgb.Booster
    calibration_x: list[float]
    calibration_y: list[float]
    calibration_patients: np.ndarray
    threshold: ThresholdChoice
    burden_cap: float  # NEWS2 >= 5 alert episodes per patient-day on the calibration patients


def fit_part(matrix: FeatureMatrix, patients: np.ndarray, config: TrainConfig, rng: np.random.Generator,
             news2: np.ndarray) -> PartModel:
    """Step 2 of the module docstring on `patients`: the fit of one CV fold, reused by learning/transfer.py."""
    booster, cal_x, cal_y, calib = _fit_calibrated(matrix, patients, config, rng)
    calib_cohort, calib_rows = _cohort(matrix, calib)
    _, calib_risk = _predict(booster, cal_x, cal_y, matrix, calib_rows)
    cap = _burden(calib_cohort, news2[calib_rows])
    choice = choose_threshold(calib_cohort, calib_risk, burden_cap=cap)
    return PartModel(booster, cal_x, cal_y, calib, choice, cap)


def predict_rows(model: PartModel, matrix: FeatureMatrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(margin, calibrated probability) of `model` for the rows selected by the boolean mask `rows`."""
    return _predict(model.booster, model.calibration_x, model.calibration_y, matrix, rows)


@dataclass(slots=True)
class CrossValidation:
    """Step 2 of the module docstring on every fold: the out-of-fold predictions and what each fold chose."""

    oof_risk: np.ndarray
    oof_margin: np.ndarray
    oof_alert: np.ndarray
    fold_of_patient: np.ndarray
    fold_thresholds: list[ThresholdChoice]
    fold_trees: list[int]
    news2_alerts: np.ndarray
    seconds: dict[str, float]


def cross_validate(matrix: FeatureMatrix, config: TrainConfig, rng: np.random.Generator,
                   log: Callable[[str], object] = print) -> CrossValidation:
    """Patient-grouped CV (steps 1-2); `rng` is advanced exactly as `train` advances it, so an experiment that
    calls this with a fresh generator of the same seed sees the same calibration splits as `train`."""
    timings: dict[str, float] = {}
    septic = np.array([bool(x.any()) for x in matrix.per_patient(matrix.labels)])
    fold_of = assign_folds(septic, config.folds, config.seed)
    row_fold = np.repeat(fold_of, matrix.lengths)
    n_rows = matrix.labels.size
    oof_margin = np.full(n_rows, np.nan)
    oof_risk = np.full(n_rows, np.nan)
    oof_alert = np.zeros(n_rows, dtype=bool)
    news2 = news2_alerts(matrix)
    fold_choices: list[ThresholdChoice] = []
    fold_trees: list[int] = []
    for k in range(config.folds):
        t0 = time.perf_counter()
        part = fit_part(matrix, np.flatnonzero(fold_of != k), config, rng, news2)
        choice, cap = part.threshold, part.burden_cap
        fold_choices.append(choice)
        fold_trees.append(part.booster.num_trees())
        test_rows = row_fold == k
        margin, risk = predict_rows(part, matrix, test_rows)
        oof_margin[test_rows], oof_risk[test_rows] = margin, risk
        oof_alert[test_rows] = np.nan_to_num(risk, nan=-1.0) >= choice.threshold
        timings[f"fold{k}_s"] = time.perf_counter() - t0
        log(f"fold {k}: threshold {choice.threshold:.4f} (calibration utility {choice.utility:.3f}, "
            f"burden {choice.alerts_per_patient_day:.2f}/patient-day, cap {cap:.2f}), "
            f"{fold_trees[-1]} trees in {timings[f'fold{k}_s']:.0f} s")
    return CrossValidation(oof_risk, oof_margin, oof_alert, fold_of, fold_choices, fold_trees, news2, timings)


def train(matrix: FeatureMatrix, config: TrainConfig = TrainConfig(),
          log: Callable[[str], object] = print) -> TrainResult:
    """Cross-validate, calibrate and fit the shipped model (see the module docstring)."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    cv = cross_validate(matrix, config, rng, log)
    timings = dict(cv.seconds)
    oof_risk, news2 = cv.oof_risk, cv.news2_alerts
    cohort = Cohort(matrix.per_patient(matrix.labels))
    news2_burden = _burden(cohort, news2)
    news2_7 = np.nan_to_num(matrix.features[:, feature_index("score_news2")], nan=-1.0) >= 7
    news2_7_burden = _burden(cohort, news2_7)
    pooled = choose_threshold(cohort, oof_risk, burden_cap=news2_burden)
    level3 = _as_selective_as(cohort, oof_risk, news2_7, floor=pooled.threshold)
    t0 = time.perf_counter()
    booster, cal_x, cal_y, _ = _fit_calibrated(matrix, np.arange(len(matrix.patient_keys)), config, rng)
    timings["final_fit_s"] = time.perf_counter() - t0
    timings["train_total_s"] = time.perf_counter() - started
    log(f"final model fitted in {timings['final_fit_s']:.0f} s; pooled OOF threshold {pooled.threshold:.4f}")
    return TrainResult(booster, cal_x, cal_y, oof_risk, cv.oof_margin, cv.oof_alert, cv.fold_of_patient,
                       cv.fold_thresholds, pooled, level3, news2, news2_burden, news2_7_burden, timings, config)


def _as_selective_as(cohort: Cohort, risk: np.ndarray, rule: np.ndarray, floor: float) -> ThresholdChoice:
    """The lowest threshold above `floor` that alerts in no more hours than `rule` does (level 3 = NEWS2 >= 7)."""
    filled = np.nan_to_num(risk, nan=-1.0)
    threshold = max(float(np.quantile(filled, 1.0 - float(np.mean(rule)))), floor)
    if threshold <= floor:
        threshold = float(np.nextafter(floor, np.inf))
    metrics = cohort.evaluate(filled >= threshold)
    return ThresholdChoice(threshold, metrics.utility or 0.0, metrics.alerts_per_patient_day, None)


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """The training settings as JSON-ready values (stored in the artifact)."""
    return asdict(config)
