"""The prior-shift correction of a calibrated probability (learning/prior_shift.py)."""

from __future__ import annotations

import numpy as np
import pytest

from learning.prior_shift import prevalence_odds_ratio, prior_shift


def test_exact_values() -> None:
    # p = 0.2 has odds 1/4; doubling the odds gives 1/2, i.e. p' = 1/3.
    assert prior_shift(0.2, 2.0) == pytest.approx(1 / 3, abs=1e-15)
    # p = 0.5, r = 1/3: odds 1 -> 1/3 -> p' = 0.25.
    assert prior_shift(0.5, 1 / 3) == pytest.approx(0.25, abs=1e-15)
    got = prior_shift([0.0, 0.1, 0.9, 1.0], 4.0)
    assert np.allclose(got, [0.0, 0.4 / 1.3, 3.6 / 3.7, 1.0], rtol=0, atol=1e-15)


def test_identity_at_ratio_one() -> None:
    p = np.linspace(0, 1, 101)
    assert np.allclose(prior_shift(p, 1.0), p, rtol=0, atol=1e-15)


def test_monotone_in_p_and_in_ratio() -> None:
    p = np.linspace(0, 1, 1001)
    for r in (0.05, 0.4, 1.0, 2.5, 30.0):
        assert np.all(np.diff(prior_shift(p, r)) > 0)
    ratios = np.array([0.1, 0.5, 1.0, 2.0, 10.0])
    at = np.array([float(prior_shift(0.3, r)) for r in ratios])
    assert np.all(np.diff(at) > 0)


def test_inverse_and_nan_passthrough() -> None:
    p = np.array([0.01, 0.2, np.nan, 0.7])
    back = prior_shift(prior_shift(p, 0.37), 1 / 0.37)
    assert np.allclose(back, p, equal_nan=True, atol=1e-14)
    assert np.isnan(prior_shift(p, 3.0)[2])


def test_odds_ratio_moves_the_mean_to_the_target_for_a_single_value() -> None:
    # A model that predicts the training prevalence everywhere predicts the target prevalence after the shift.
    source, target = 0.0217, 0.0108
    r = prevalence_odds_ratio(target, source)
    assert prior_shift(source, r) == pytest.approx(target, rel=1e-12)
    assert prevalence_odds_ratio(0.3, 0.3) == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_rejects_bad_ratio(bad: float) -> None:
    with pytest.raises(ValueError):
        prior_shift(0.5, bad)


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        prior_shift([0.5, 1.2], 2.0)
    with pytest.raises(ValueError):
        prevalence_odds_ratio(0.0, 0.1)
