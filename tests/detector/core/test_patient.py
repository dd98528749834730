"""PatientState's SOFA ring: the 72 h baseline before the 24 h window (clinical spec §3.2)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.patient import SOFA_RING_HOURS, PatientState

H = 3600
WINDOW_HOURS, BASELINE_HOURS = 24, 72


def _reference_baseline(worst: dict[int, int], newest_hour: int | None, hour: int) -> int:
    """Lowest hourly worst SOFA in [hour - 96 h, hour - 24 h), among the hours the ring still holds."""
    if newest_hour is None:
        return 0
    kept = [total for h, total in worst.items()
            if hour - WINDOW_HOURS - BASELINE_HOURS <= h < hour - WINDOW_HOURS and h > newest_hour - SOFA_RING_HOURS]
    return min(kept, default=0)


def test_baseline_is_the_lowest_hourly_worst_before_the_window() -> None:
    state = PatientState()
    for hour, total in ((0, 6), (0, 9), (1, 4), (2, 7), (30, 1)):
        state.record_sofa(hour * H + 60, total)
    # hours 0-2 are before the window of hour 30; hour 1's worst (4) is the lowest, hour 0 keeps its worst (9)
    assert state.sofa_baseline(30 * H, WINDOW_HOURS, BASELINE_HOURS) == 4
    assert state.sofa_baseline(31 * H, WINDOW_HOURS, BASELINE_HOURS) == 4


def test_the_baseline_follows_the_window() -> None:
    state = PatientState()
    for hour, total in ((0, 6), (0, 9), (1, 4), (2, 7)):
        state.record_sofa(hour * H + 60, total)
    assert state.sofa_baseline(24 * H, WINDOW_HOURS, BASELINE_HOURS) == 0  # nothing before the window yet
    assert state.sofa_baseline(25 * H, WINDOW_HOURS, BASELINE_HOURS) == 9  # hour 0 (its worst)
    assert state.sofa_baseline(26 * H, WINDOW_HOURS, BASELINE_HOURS) == 4  # hours 0 and 1
    assert state.sofa_baseline(97 * H, WINDOW_HOURS, BASELINE_HOURS) == 4  # hours 1 and 2
    assert state.sofa_baseline(98 * H, WINDOW_HOURS, BASELINE_HOURS) == 7  # hour 2 only
    assert state.sofa_baseline(99 * H, WINDOW_HOURS, BASELINE_HOURS) == 0  # all 72 h older than the window


def test_no_scoring_before_the_window_gives_zero() -> None:
    state = PatientState()
    assert state.sofa_baseline(100 * H, WINDOW_HOURS, BASELINE_HOURS) == 0
    state.record_sofa(99 * H, 5)
    assert state.sofa_baseline(100 * H, WINDOW_HOURS, BASELINE_HOURS) == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 24)), min_size=1, max_size=60))
def test_baseline_matches_a_plain_minimum_over_the_recorded_hours(steps: list[tuple[int, int]]) -> None:
    """Scoring times only move forward (the engine scores at the window's newest time); at each scoring the
    baseline is read, then the scoring's SOFA recorded, as the engine does."""
    state = PatientState()
    worst: dict[int, int] = {}
    newest: int | None = None
    hour = 0
    for advance, total in steps:
        hour += advance
        expected = _reference_baseline(worst, newest, hour)
        assert state.sofa_baseline(hour * H + 59, WINDOW_HOURS, BASELINE_HOURS) == expected
        state.record_sofa(hour * H + 59, total)
        worst[hour] = max(worst.get(hour, 0), total)
        newest = hour
