"""PatientWindow: ordering by event time, late drops, duplicates, corrections, retractions, bounds."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core.window import MEASURE_INDEX, VALUE_SCALE, InsertOutcome, PatientWindow, source_hash
from schemas.measures import Measure

HR = MEASURE_INDEX[Measure.HEART_RATE]
H = 3600
LIMITS = {"length_s": 24 * H, "grace_s": 6 * H, "max_entries": 50}


@dataclass(frozen=True)
class Step:
    """One input to the window and what must happen."""

    t: int
    value: float
    source: str
    expect: InsertOutcome
    status: str = "final"


def _apply(window: PatientWindow, step: Step) -> InsertOutcome:
    return window.add(HR, step.t, step.value, source_hash(step.source), status_cancelled=step.status == "cancelled",
                      status_corrected=step.status == "corrected", **LIMITS)


CASES = {
    "in order": ([Step(100, 80, "a", InsertOutcome.INSERTED), Step(200, 90, "b", InsertOutcome.INSERTED)],
                 [(100, 80), (200, 90)]),
    "out of order within grace is inserted in order": (
        [Step(5 * H, 80, "a", InsertOutcome.INSERTED), Step(H, 90, "b", InsertOutcome.INSERTED)],
        [(H, 90), (5 * H, 80)]),
    "older than the grace period is dropped": (
        [Step(10 * H, 80, "a", InsertOutcome.INSERTED), Step(10 * H - 6 * H - 1, 90, "b", InsertOutcome.LATE)],
        [(10 * H, 80)]),
    "exactly at the grace limit is kept": (
        [Step(10 * H, 80, "a", InsertOutcome.INSERTED), Step(4 * H, 90, "b", InsertOutcome.INSERTED)],
        [(4 * H, 90), (10 * H, 80)]),
    "duplicate source id is ignored": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(100, 80, "a", InsertOutcome.DUPLICATE)], [(100, 80)]),
    "same source id, new value (preliminary -> final) replaces": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(100, 85, "a", InsertOutcome.REPLACED)], [(100, 85)]),
    "corrected replaces the value with the same source id": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(200, 70, "b", InsertOutcome.INSERTED),
         Step(100, 60, "a", InsertOutcome.REPLACED, "corrected")], [(100, 60), (200, 70)]),
    "corrected with an unknown id is inserted": (
        [Step(100, 60, "a", InsertOutcome.INSERTED, "corrected")], [(100, 60)]),
    "cancelled retracts": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(200, 90, "b", InsertOutcome.INSERTED),
         Step(100, 0, "a", InsertOutcome.RETRACTED, "cancelled")], [(200, 90)]),
    "cancelled unknown id changes nothing": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(100, 0, "zz", InsertOutcome.UNKNOWN_RETRACTION,
                                                           "cancelled")], [(100, 80)]),
    "same time, two sources: both kept": (
        [Step(100, 80, "a", InsertOutcome.INSERTED), Step(100, 90, "b", InsertOutcome.INSERTED)], None),
    "four decimals are exact": ([Step(100, 38.3, "a", InsertOutcome.INSERTED)], [(100, 38.3)]),
}


@pytest.mark.parametrize("steps, expected", CASES.values(), ids=CASES.keys())
def test_window_rules(steps: list[Step], expected: list[tuple[int, float]] | None) -> None:
    window = PatientWindow()
    for step in steps:
        assert _apply(window, step) == step.expect, step
    held = list(window.between(HR, -(2**31), 2**31 - 1))
    if expected is not None:
        assert held == expected
    else:
        assert len(held) == len(steps)


def test_late_drops_are_counted() -> None:
    window = PatientWindow()
    _apply(window, Step(20 * H, 80, "a", InsertOutcome.INSERTED))
    _apply(window, Step(H, 80, "b", InsertOutcome.LATE))
    _apply(window, Step(2 * H, 80, "c", InsertOutcome.LATE))
    assert window.late_dropped == 2


def test_values_older_than_the_window_are_evicted() -> None:
    window = PatientWindow()
    _apply(window, Step(0, 80, "a", InsertOutcome.INSERTED))
    _apply(window, Step(25 * H, 90, "b", InsertOutcome.INSERTED))
    assert list(window.between(HR, -(2**31), 2**31 - 1)) == [(25 * H, 90)]


def test_queries() -> None:
    window = PatientWindow()
    for i, v in enumerate([80, 120, 60, 100]):
        _apply(window, Step(i * H, v, f"s{i}", InsertOutcome.INSERTED))
    assert window.latest(HR, 0, 3 * H) == (3 * H, 100)
    assert window.latest(HR, 0, 2 * H + 10) == (2 * H, 60)
    assert window.latest(HR, 3 * H + 1, 4 * H) is None
    assert window.extreme(HR, 0, 3 * H, True) == (H, 120)
    assert window.extreme(HR, 2 * H, 3 * H, True) == (3 * H, 100)
    assert window.extreme(HR, 0, 3 * H, False) == (2 * H, 60)


# ---------------------------------------------------------------- properties (hypothesis)

observations = st.lists(
    st.tuples(st.integers(0, 6 * H), st.integers(30, 200), st.integers(0, 40)), min_size=1, max_size=40)


def _fill(items: list[tuple[int, int, int]]) -> PatientWindow:
    window = PatientWindow()
    for t, value, source in items:
        # a source id always means the same measurement: its time and value derive from the id
        window.add(HR, t, float(value), source_hash(f"s{source}"), **LIMITS)
    return window


def _consistent(items: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Make every source id carry one (time, value), as real duplicates do."""
    first: dict[int, tuple[int, int, int]] = {}
    for item in items:
        first.setdefault(item[2], item)
    return [first[item[2]] for item in items]


@settings(max_examples=150, deadline=None)
@given(observations, st.randoms(use_true_random=False))
def test_state_does_not_depend_on_arrival_order_within_grace(items: list[tuple[int, int, int]], rnd) -> None:
    items = _consistent(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert _fill(items).snapshot() == _fill(shuffled).snapshot()


@settings(max_examples=150, deadline=None)
@given(observations, st.randoms(use_true_random=False))
def test_duplicates_change_nothing(items: list[tuple[int, int, int]], rnd) -> None:
    items = _consistent(items)
    with_dupes = items + [rnd.choice(items) for _ in range(len(items))]
    rnd.shuffle(with_dupes)
    assert _fill(items).snapshot() == _fill(with_dupes).snapshot()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 400))
def test_memory_is_bounded_whatever_the_input(step_minutes: int, hours: int) -> None:
    """Any rate and duration: each measure holds at most max_entries values and only the last 24 h."""
    window = PatientWindow()
    limits = {"length_s": 24 * H, "grace_s": 24 * H, "max_entries": 288}
    for i in range(0, hours * 60, step_minutes * 7):
        for slot in (HR, MEASURE_INDEX[Measure.SYSTOLIC_BP]):
            window.add(slot, i * 60, 80.0 + i % 7, source_hash(f"{slot}-{i}"), **limits)
    for series in window.by_measure():
        if series is not None:
            assert len(series) // 3 <= 288
            assert series[0] >= window.newest_s - 24 * H - H  # eviction runs at most once per event hour
    assert sum(window.lengths) == len(window.data)
    size = sys.getsizeof(window.data) + sys.getsizeof(window.lengths)
    assert size < 2 * 288 * 12 * 1.1 + 300


def test_values_round_trip_exactly() -> None:
    window = PatientWindow()
    for i, value in enumerate([38.3, 0.21, 2.0, 11.9999, 205.2 / 17.1]):
        window.add(HR, i, value, i, **LIMITS)
    values = [v for _, v in window.between(HR, 0, 10)]
    assert values[:4] == [38.3, 0.21, 2.0, 11.9999]
    assert values[4] == round(205.2 / 17.1 * VALUE_SCALE) / VALUE_SCALE


SLOTS = (HR, MEASURE_INDEX[Measure.SYSTOLIC_BP], MEASURE_INDEX[Measure.LACTATE])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SLOTS), st.integers(0, 48 * H), st.integers(0, 300)), max_size=60),
       st.integers(0, 48 * H))
def test_measures_sharing_one_array_stay_apart_and_sorted(items: list[tuple[int, int, int]], cut: int) -> None:
    """All measures live in one array: inserting into one (in any order) and evicting never mixes them."""
    window = PatientWindow()
    limits = {"length_s": 10**6, "grace_s": 10**6, "max_entries": 10_000}
    expected: dict[int, list[tuple[int, int, int]]] = {slot: [] for slot in SLOTS}
    for n, (slot, t, value) in enumerate(items):
        h = source_hash(f"s{n}")
        window.add(slot, t, float(value), h, **limits)
        expected[slot].append((t, value * VALUE_SCALE, h))
    assert len(window.data) == sum(window.lengths)
    for slot, series in enumerate(window.by_measure()):
        triples = [] if series is None else [tuple(series[i:i + 3]) for i in range(0, len(series), 3)]
        assert triples == sorted(expected.get(slot, []), key=lambda x: (x[0], x[2]))
    window.evict(cut)
    for slot in SLOTS:
        kept = sorted((x for x in expected[slot] if x[0] >= cut), key=lambda x: (x[0], x[2]))
        lo, hi = window.span(slot)
        assert [tuple(window.data[i:i + 3]) for i in range(lo, hi, 3)] == kept
