"""The challenge utility and the patient-level measures on hand-made cohorts (values worked out by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.metrics import Cohort, onset_row, patient_utility, utility_per_row


def _labels(n: int, first_label: int | None) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int8)
    if first_label is not None:
        labels[first_label:] = 1
    return labels


def test_onset_is_first_label_plus_six() -> None:
    assert onset_row(_labels(30, 4)) == 10
    assert onset_row(_labels(30, 0)) == 6
    assert onset_row(_labels(30, None)) == float("inf")


def test_non_septic_rows_cost_u_fp_when_alerting() -> None:
    # 10 rows, alert in 3 of them: 3 * -0.05.
    pred = np.array([0, 1, 1, 0, 0, 0, 0, 1, 0, 0])
    assert patient_utility(_labels(10, None), pred) == pytest.approx(-0.15)
    assert patient_utility(_labels(10, None), np.zeros(10)) == 0.0


def test_septic_alert_rewards_by_hand() -> None:
    # Label from row 14 -> onset row 20. Alert rewards at d = t - 20:
    # d=-14 (row 6): max(-0.05, (-14+12)/6) = -0.05; d=-12 (row 8): 0; d=-9 (row 11): 0.5;
    # d=-6 (row 14): 1; d=-3 (row 17): 1 - 3/9 = 2/3; d=0 (row 20): 1/3; d=+3 (row 23): 0; d=+4 (row 24): 0.
    u_alert, u_silent = utility_per_row(_labels(30, 14))
    assert u_alert[6] == pytest.approx(-0.05)
    assert u_alert[8] == pytest.approx(0.0)
    assert u_alert[11] == pytest.approx(0.5)
    assert u_alert[14] == pytest.approx(1.0)
    assert u_alert[17] == pytest.approx(2 / 3)
    assert u_alert[20] == pytest.approx(1 / 3)
    assert u_alert[23] == pytest.approx(0.0)
    assert u_alert[24] == 0.0
    # Silence: 0 up to d=-6, then -2/9 per hour down to -2 at d=+3, 0 afterwards.
    assert u_silent[14] == 0.0
    assert u_silent[15] == pytest.approx(-2 / 9)
    assert u_silent[20] == pytest.approx(-12 / 9)
    assert u_silent[23] == pytest.approx(-2.0)
    assert u_silent[24] == 0.0


def test_normalised_utility_of_two_patients_by_hand() -> None:
    # Patient A: 30 rows, label from row 14, onset 20.  Patient B: 10 rows, never septic.
    # Inaction: A loses sum_{k=1..9} -2k/9 = -2*45/9 = -10; B 0 -> inaction = -10.
    # Best: A alerts rows 8..23 = d -12..+3: rising part d=-12..-6 -> 0,1/6,..,1 = 3.5;
    # falling part d=-5..+3 -> 8/9,..,0 = 4; B silent -> best = 7.5.
    # Observed: A alerts rows 17..18 only (d=-3,-2): 2/3 + 5/9 = 11/9; silent rows d=-5,-4,-1..+3:
    # -2/9*(1+2+5+6+7+8+9) = -76/9; B alerts 2 rows: -0.1.  Total = 11/9 - 76/9 - 0.1 = -65/9 - 0.1.
    labels = [_labels(30, 14), _labels(10, None)]
    pred_a = np.zeros(30, dtype=bool)
    pred_a[17:19] = True
    pred_b = np.zeros(10, dtype=bool)
    pred_b[[2, 3]] = True
    cohort = Cohort(labels)
    assert cohort.inaction == pytest.approx(-10.0)
    assert cohort.best == pytest.approx(7.5)
    observed = -65 / 9 - 0.1
    expected = (observed - (-10.0)) / (7.5 - (-10.0))
    assert cohort.normalized_utility(np.concatenate([pred_a, pred_b])) == pytest.approx(expected)
    assert cohort.normalized_utility(np.zeros(40, dtype=bool)) == 0.0
    best = np.zeros(40, dtype=bool)
    best[8:24] = True
    assert cohort.normalized_utility(best) == pytest.approx(1.0)


def test_label_on_first_row_clips_best_window_at_the_stay_start() -> None:
    # Label from row 0 -> onset 6; best alerts rows max(0, -6)..9 -> d = -6..+3.
    # Best = 1 + (8/9 + ... + 0) = 1 + 4 = 5; inaction = -10.
    cohort = Cohort([_labels(12, 0)])
    assert cohort.best == pytest.approx(5.0)
    assert cohort.inaction == pytest.approx(-10.0)


def test_episodes_sensitivity_ppv_burden_lead_time() -> None:
    # A (48 rows, label from row 20 -> onset 26, window rows 14..29):
    #   alert rows 2..3 (false: before the window) and 16..30 (true, first hit row 16 -> lead 10 h).
    # B (48 rows, label from row 30 -> onset 36, window 24..39): alert only at rows 45..47 -> missed.
    # C (24 rows, never septic): alert rows 0 and 5..6 -> two false episodes.
    a = np.zeros(48, dtype=bool)
    a[2:4] = True
    a[16:31] = True
    b = np.zeros(48, dtype=bool)
    b[45:48] = True
    c = np.zeros(24, dtype=bool)
    c[[0, 5, 6]] = True
    cohort = Cohort([_labels(48, 20), _labels(48, 30), _labels(24, None)])
    m = cohort.evaluate(np.concatenate([a, b, c]), keep_lead_times=True)
    assert m.episodes == 5
    assert m.true_episodes == 1
    assert m.ppv == pytest.approx(1 / 5)
    assert m.septic_patients == 2 and m.detected_patients == 1
    assert m.sensitivity == pytest.approx(0.5)
    assert m.lead_times_h == (10.0,)
    assert m.median_lead_h == 10.0
    assert m.alerted_share == pytest.approx(1.0)
    assert m.alerts_per_patient_day == pytest.approx(5 / (120 / 24))


def test_episode_does_not_run_across_patients() -> None:
    # Alert on the last row of A and the first row of B: two episodes, not one.
    a = np.zeros(5, dtype=bool)
    a[-1] = True
    b = np.zeros(5, dtype=bool)
    b[0] = True
    cohort = Cohort([_labels(5, None), _labels(5, None)])
    assert cohort.evaluate(np.concatenate([a, b])).episodes == 2


def test_hour_auc_ranks_unscored_hours_lowest() -> None:
    cohort = Cohort([np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])])
    scores = np.array([np.nan, 1, 3, 4, 0, 1, 2, np.nan])
    auroc, auprc = cohort.hour_auc(scores)
    assert auroc == pytest.approx(1.0)
    assert auprc == pytest.approx(1.0)
    assert cohort.hour_auc(np.full(8, np.nan)) == (None, None)


def _utility_by_the_rules(labels: np.ndarray, predictions: np.ndarray) -> float:
    """The challenge definition read row by row (independent of the vectorised code)."""
    septic = bool(labels.any())
    onset = int(np.argmax(labels)) + 6 if septic else None
    total = 0.0
    for t, alert in enumerate(predictions):
        if not septic:
            total += -0.05 if alert else 0.0
            continue
        d = t - onset
        if d > 3:
            continue
        if alert:
            total += max((d + 12) / 6, -0.05) if d <= -6 else (3 - d) / 9
        elif d > -6:
            total += -2 * (d + 6) / 9
    return total


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.one_of(st.none(), st.integers(0, 59)),
                          st.lists(st.booleans(), min_size=60, max_size=60)), min_size=1, max_size=6))
def test_vectorised_utility_matches_the_row_by_row_definition(
        patients: list[tuple[int, int | None, list[bool]]]) -> None:
    labels, preds = [], []
    for n, first, alerts in patients:
        labels.append(_labels(n, first if first is not None and first < n else None))
        preds.append(np.array(alerts[:n]))
    for lab, pred in zip(labels, preds, strict=True):
        assert patient_utility(lab, pred) == pytest.approx(_utility_by_the_rules(lab, pred))
    cohort = Cohort(labels)
    if not cohort.septic.any():
        assert cohort.normalized_utility(np.concatenate(preds)) is None
        return
    observed = sum(_utility_by_the_rules(lab, p) for lab, p in zip(labels, preds, strict=True))
    inaction = sum(_utility_by_the_rules(lab, np.zeros(lab.size, bool)) for lab in labels)
    best_preds = []
    for lab in labels:
        b = np.zeros(lab.size, bool)
        if lab.any():
            onset = int(np.argmax(lab)) + 6
            b[max(0, onset - 12):min(onset + 4, lab.size)] = True
        best_preds.append(b)
    best = sum(_utility_by_the_rules(lab, b) for lab, b in zip(labels, best_preds, strict=True))
    expected = (observed - inaction) / (best - inaction)
    assert cohort.normalized_utility(np.concatenate(preds)) == pytest.approx(expected)


def test_sweep_point_agrees_with_the_full_evaluation() -> None:
    rng = np.random.default_rng(5)
    labels = [_labels(int(n), int(f) if f < n else None) for n, f in zip(rng.integers(5, 80, 30),
                                                                          rng.integers(0, 90, 30), strict=True)]
    cohort = Cohort(labels)
    pred = rng.random(cohort.n_rows) < 0.3
    full = cohort.evaluate(pred)
    assert cohort.sweep_point(pred) == pytest.approx((full.utility, full.sensitivity, full.alerts_per_patient_day))
