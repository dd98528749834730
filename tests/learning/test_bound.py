"""The patient-level paging ceiling (learning/bound.py) on hand-made stays whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.metrics import Cohort
from learning.bound import (
    ceiling_of_oof,
    hourly_at_budget,
    paged_by_group,
    paired_difference,
    patient_ceiling,
    patient_peaks,
    rank_auroc,
    sensitivity_at_budget,
)


def septic(n: int, first_label: int) -> np.ndarray:
    """A stay of n rows whose SepsisLabel turns 1 at `first_label` (onset = first_label + 6)."""
    label = np.zeros(n, dtype=np.int8)
    label[first_label:] = 1
    return label


def test_peak_ends_at_onset_plus_3h_for_septic_stays_and_covers_non_septic_stays() -> None:
    # onset = row 2 + 6 = 8, so rows 0..11 count; the spike at row 12 comes too late to page in time
    late = septic(20, 2)
    risk_late = np.full(20, 0.1)
    risk_late[11] = 0.3
    risk_late[12] = 0.9
    quiet = np.zeros(30, dtype=np.int8)
    risk_quiet = np.full(30, 0.05)
    risk_quiet[29] = 0.7  # a non-septic stay's last hour still counts
    unscored = septic(10, 0)
    risk_unscored = np.full(10, np.nan)  # never scored: can never be paged
    peaks = patient_peaks([late, quiet, unscored], [risk_late, risk_quiet, risk_unscored])
    assert peaks.tolist() == [pytest.approx(0.3), pytest.approx(0.7), -np.inf]


def test_sensitivity_at_the_budget() -> None:
    labels = [septic(24, 5), septic(24, 5), np.zeros(24, np.int8), np.zeros(24, np.int8), np.zeros(24, np.int8)]
    peaks = [0.9, 0.2, 0.8, 0.1, 0.05]
    risks = [np.full(24, p) for p in peaks]
    c = patient_ceiling(labels, risks, budget=0.4)  # 2 of 5 stays: 0.9 (septic) and 0.8 (not)
    assert (c.sensitivity, c.paged_share, c.threshold) == (0.5, 0.4, 0.8)
    assert c.patients == 5 and c.septic == 2
    # septic 0.9 beats all 3 non-septic, septic 0.2 beats 2 of 3
    assert c.patient_auroc == pytest.approx(5 / 6)
    assert patient_ceiling(labels, risks, budget=1.0).sensitivity == 1.0


def test_tied_peaks_at_the_cut_stay_unpaged() -> None:
    # A threshold cannot split a tie (isotonic calibration makes many): paging one of the two 0.5 stays would
    # need a second score, so neither is paged and the budget is left partly unused.
    labels = [septic(24, 5), np.zeros(24, np.int8), np.zeros(24, np.int8), np.zeros(24, np.int8)]
    risks = [np.full(24, p) for p in (0.5, 0.5, 0.9, 0.1)]
    c = patient_ceiling(labels, risks, budget=0.5)
    assert (c.threshold, c.paged_share, c.sensitivity) == (0.9, 0.25, 0.0)


def test_rank_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 6, 300).astype(np.float64)
    positive = rng.random(300) < 0.3
    assert rank_auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))


def test_ceiling_of_an_oof_file(tmp_path: Path) -> None:
    labels = [septic(24, 5), np.zeros(24, np.int8), np.zeros(30, np.int8)]
    risks = [np.full(24, 0.9), np.full(24, 0.2), np.full(30, 0.1)]
    path = tmp_path / "oof.npz"
    np.savez(path, patient=np.repeat(np.array(["p1", "p2", "p3"]), [24, 24, 30]),
             risk=np.concatenate(risks).astype(np.float32), label=np.concatenate(labels))
    assert ceiling_of_oof(str(path), budget=0.34) == patient_ceiling(labels, [r.astype(np.float32) for r in risks],
                                                                     budget=0.34)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        patient_ceiling([septic(5, 1)], [np.zeros(5)], budget=0.0)
    with pytest.raises(ValueError, match="labels but"):
        patient_peaks([septic(5, 1)], [np.zeros(4)])
    with pytest.raises(ValueError, match="both"):
        rank_auroc(np.zeros(3), np.zeros(3, dtype=bool))


def test_paged_by_group_splits_septic_stays_by_onset_and_others_by_length() -> None:
    labels = [septic(20, 2), septic(90, 80), np.zeros(30, np.int8), np.zeros(70, np.int8)]
    risks = [np.full(20, 0.1), np.full(90, 0.9), np.full(30, 0.05), np.full(70, 0.8)]
    c = patient_ceiling(labels, risks, budget=0.5)  # pages the 0.9 and 0.8 stays
    groups = {g["group"]: (g["stays"], g["paged"]) for g in paged_by_group(labels, risks, c, edges=(0, 48))}
    assert groups == {"septic, onset hour 0-48": (1, 0.0), "septic, onset hour 48-inf": (1, 1.0),
                      "non-septic, stay hours 0-48": (1, 0.0), "non-septic, stay hours 48-inf": (1, 1.0)}


def test_paired_difference_of_a_model_with_itself_is_zero_and_matches_the_ceiling() -> None:
    rng = np.random.default_rng(5)
    labels = [septic(30, 10) if i % 5 == 0 else np.zeros(30, np.int8) for i in range(200)]
    risks = [rng.random(30) for _ in range(200)]
    peaks = patient_peaks(labels, risks)
    is_septic = np.array([i % 5 == 0 for i in range(200)])
    assert sensitivity_at_budget(peaks, is_septic, 0.35) == patient_ceiling(labels, risks, 0.35).sensitivity
    same = paired_difference(peaks, peaks, is_septic, resamples=20)
    assert same["difference"] == same["low"] == same["high"] == 0.0
    better = paired_difference(peaks, np.where(is_septic, peaks + 1.0, peaks), is_septic, resamples=20)
    assert better["difference"] > 0 and better["low"] > 0


def test_a_held_risk_counts_only_its_lowest_hour_and_a_discount_favours_early_peaks() -> None:
    quiet = np.zeros(12, dtype=np.int8)
    spike = np.array([0.1, 0.9, 0.1, 0.2, 0.5, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    # plain peak: the one-hour spike; held 2 h: the best pair is (0.5, 0.6) -> 0.5; held 3 h: 0.2 (0.2, 0.5, 0.6)
    assert patient_peaks([quiet], [spike]).tolist() == [pytest.approx(0.9)]
    assert patient_peaks([quiet], [spike], hold_hours=2).tolist() == [pytest.approx(0.5)]
    assert patient_peaks([quiet], [spike], hold_hours=3).tolist() == [pytest.approx(0.2)]
    # a stay shorter than the hold can never be paged
    assert patient_peaks([quiet[:2]], [spike[:2]], hold_hours=3).tolist() == [-np.inf]
    # the discount lowers row r by D * ln(1 + r): 2.0 at row 0 beats 2.5 at row 11 once D > 0.5 / ln(12)
    early_late = np.full(12, -5.0)
    early_late[0], early_late[11] = 2.0, 2.5
    assert patient_peaks([quiet], [early_late]).tolist() == [pytest.approx(2.5)]
    assert patient_peaks([quiet], [early_late], discount=0.3).tolist() == [pytest.approx(2.0)]
    with pytest.raises(ValueError, match="hold_hours"):
        patient_peaks([quiet], [spike], hold_hours=0)


def test_the_model_alone_at_the_budget_flags_hours_at_the_stays_threshold() -> None:
    late = np.full(24, np.nan)
    late[20] = 0.9  # septic onset at row 11: row 20 is past onset + 3 h, flagged but too late to count
    dips = np.full(24, 0.2)
    dips[3] = np.nan  # not scored in that hour: never flagged
    labels = [septic(24, 5), np.zeros(24, np.int8), np.zeros(24, np.int8), np.zeros(24, np.int8)]
    risks = [late, np.full(24, 0.8), np.full(24, 0.1), dips]
    half = hourly_at_budget(labels, risks, budget=0.5)  # 2 of 4 stays: the late septic one and the 0.8 one
    flags = np.concatenate([np.nan_to_num(r, nan=-1.0) >= 0.8 for r in risks])
    assert (half["threshold"], half["flagged_share"], half["sensitivity"]) == (0.8, 0.5, 0.0)
    assert half["hour_positive_rate"] == 25 / 96
    assert half["utility"] == Cohort(labels).normalized_utility(flags) < 0
    everyone = hourly_at_budget(labels, risks, budget=1.0)
    assert (everyone["threshold"], everyone["flagged_share"], everyone["hour_positive_rate"]) == (0.1, 1.0, 72 / 96)
    with pytest.raises(ValueError, match="budget"):
        hourly_at_budget(labels, risks, budget=0.0)
