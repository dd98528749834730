"""The numba eviction (detector/core/window_compiled.py) leaves exactly the window PatientWindow.evict leaves."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.core import window_compiled
from detector.core.engine import DetectorEngine
from detector.core.window import MEASURE_LIST, PatientWindow
from tests.detector.builders import NORMAL, at, feed, message

H = 3600

# (slot, time, value) insertions: a few slots, times spread over two days, ties in time are common
_VALUES = st.lists(st.tuples(st.integers(0, len(MEASURE_LIST) - 1), st.integers(0, 48 * H), st.integers(0, 3)),
                   max_size=120)


def _window(values: list[tuple[int, int, int]]) -> PatientWindow:
    window = PatientWindow()
    for n, (slot, t, value) in enumerate(values):
        window.add(slot, t, float(value), n, length_s=1_000 * H, grace_s=1_000 * H, max_entries=500)
    return window


def _copy(window: PatientWindow) -> PatientWindow:
    twin = PatientWindow()
    twin.data, twin.lengths = array("i", window.data), array("H", window.lengths)
    twin.first_s, twin.newest_s = window.first_s, window.newest_s
    return twin


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.integers(-H, 50 * H))
def test_compiled_eviction_equals_the_reference(values: list[tuple[int, int, int]], cut: int) -> None:
    reference = _window(values)
    compiled = _copy(reference)
    reference.evict(cut)
    window_compiled.evict(compiled, cut)
    assert compiled.data == reference.data and compiled.lengths == reference.lengths
    assert all(t >= cut for t in compiled.data[::3])


def test_nothing_to_drop_leaves_the_window_as_it_was() -> None:
    window = _window([(0, 5 * H, 1), (3, 6 * H, 2)])
    before = array("i", window.data)
    window_compiled.evict(window, 5 * H)
    assert window.data == before and window.count() == 2
    window_compiled.evict(window, 7 * H)
    assert len(window.data) == 0 and not any(window.lengths)


def test_engine_with_either_eviction_keeps_the_same_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [e for hour in range(40) for e in message("p1", at(hour), **NORMAL)]
    compiled = DetectorEngine()
    compiled_alerts = feed(compiled, events)
    monkeypatch.setattr(window_compiled, "USE_COMPILED_EVICT", False)
    reference = DetectorEngine()
    assert reference._evict is PatientWindow.evict and compiled._evict is window_compiled.evict
    assert feed(reference, events) == compiled_alerts
    assert compiled.window("p1").data == reference.window("p1").data  # type: ignore[union-attr]
