"""The retransmission index: a window in processing time and a size cap, oldest forgotten first (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.adapters.dedup import RetransmissionIndex

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_key_is_a_duplicate_within_the_window_only() -> None:
    index = RetransmissionIndex(timedelta(minutes=10))
    index.remember("MON|ICU|1", T0)
    assert index.is_duplicate("MON|ICU|1", T0 + timedelta(minutes=10))
    assert not index.is_duplicate("MON|ICU|1", T0 + timedelta(minutes=10, seconds=1))
    assert not index.is_duplicate("MON|ICU|2", T0)


def test_old_entries_are_evicted_as_new_ones_arrive() -> None:
    index = RetransmissionIndex(timedelta(minutes=10))
    for i in range(5):
        index.remember(f"k{i}", T0 + timedelta(minutes=i))
    index.remember("late", T0 + timedelta(minutes=13))  # k0..k2 are now older than 10 min
    assert len(index) == 3
    assert not index.is_duplicate("k2", T0 + timedelta(minutes=13))
    assert index.is_duplicate("k3", T0 + timedelta(minutes=13))


def test_the_size_cap_forgets_the_oldest_and_a_remembered_key_becomes_newest() -> None:
    index = RetransmissionIndex(timedelta(days=7), max_entries=3)
    for i in range(3):
        index.remember(f"k{i}", T0 + timedelta(seconds=i))
    index.remember("k0", T0 + timedelta(seconds=3))  # retransmitted and accepted again: now the newest
    index.remember("k3", T0 + timedelta(seconds=4))
    assert len(index) == 3
    now = T0 + timedelta(seconds=5)
    assert [index.is_duplicate(k, now) for k in ("k0", "k1", "k2", "k3")] == [True, False, True, True]
