"""The join watch: when a consumer-group member's missing join counts as stalled (pure, a fake clock)."""

from __future__ import annotations

import pytest

from sepsis_alert.kafka.join_watch import JoinWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_member_without_a_join_is_overdue_only_after_the_limit() -> None:
    clock = Clock()
    watch = JoinWatch(limit_s=60, max_limit_s=240, clock=clock)
    assert watch.overdue(False) is None  # the count starts here
    clock.now += 60
    assert watch.overdue(False) is None
    clock.now += 1
    assert watch.overdue(False) == pytest.approx(61)
    assert watch.rebuilds == 1


def test_the_limit_doubles_per_consecutive_rebuild_and_resets_after_a_join() -> None:
    clock = Clock()
    watch = JoinWatch(limit_s=60, max_limit_s=150, clock=clock)
    limits = []
    for _ in range(3):
        watch.overdue(False)
        clock.now += 1000
        assert watch.overdue(False) is not None
        limits.append(watch.limit_s)
    assert limits == [120, 150, 150]
    assert watch.overdue(True) is None
    assert watch.limit_s == 60


def test_a_joined_member_is_never_overdue_and_a_join_restarts_the_count() -> None:
    clock = Clock()
    watch = JoinWatch(limit_s=10, clock=clock)
    watch.overdue(False)
    clock.now += 9
    assert watch.overdue(True) is None
    watch.overdue(False)
    clock.now += 9
    assert watch.overdue(False) is None  # 9 s since the join was lost, not 18
    for _ in range(5):
        clock.now += 100
        assert watch.overdue(True) is None


def test_restart_forgets_the_time_spent_without_a_consumer() -> None:
    clock = Clock()
    watch = JoinWatch(limit_s=10, clock=clock)
    watch.overdue(False)
    clock.now += 300  # e.g. a broker outage, clients torn down
    watch.restart()
    assert watch.overdue(False) is None
    clock.now += 5
    assert watch.overdue(False) is None


@pytest.mark.parametrize(("limit", "most"), [(0, 10), (-1, 10), (20, 10)])
def test_limits_that_cannot_work_are_refused(limit: float, most: float) -> None:
    with pytest.raises(ValueError, match="join limits"):
        JoinWatch(limit_s=limit, max_limit_s=most)
