"""CommitProgress: offsets advance only past records whose processing finished, per partition."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from notifier.core.offsets import CommitProgress


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int


def test_a_partition_commits_up_to_its_first_unfinished_record_only() -> None:
    progress: CommitProgress[Rec] = CommitProgress()
    a = [Rec("alerts", 0, n) for n in range(3)]
    b = [Rec("alerts", 1, n) for n in range(2)]
    progress.polled(a + b)
    assert progress.in_flight == 5 and progress.committable() == []
    progress.finished(a[1])  # finished before a[0]: not committable yet
    progress.finished(b[0])
    assert progress.committable() == [b[0]]
    progress.finished(a[0])
    assert progress.committable() == [a[0], a[1]]
    assert progress.committable() == []  # taken once
    progress.finished(a[2])
    progress.finished(a[2])  # finishing twice counts once
    assert progress.in_flight == 1
    assert progress.committable() == [a[2]]


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000)), max_size=60), st.randoms())
def test_never_past_an_unfinished_record_and_everything_once_all_finish(
        order: list[tuple[int, int]], rng: object) -> None:
    records = [Rec("t", p, i) for i, (p, _) in enumerate(order)]  # offsets increase within each partition
    progress: CommitProgress[Rec] = CommitProgress()
    progress.polled(records)
    pending = list(records)
    rng.shuffle(pending)  # type: ignore[attr-defined]
    taken: list[Rec] = []
    for record in pending:
        progress.finished(record)
        taken += progress.committable()
        unfinished = set(pending[pending.index(record) + 1:])
        for partition in {r.partition for r in unfinished}:
            first_open = min(r.offset for r in unfinished if r.partition == partition)
            assert all(r.offset < first_open for r in taken if r.partition == partition)
    assert sorted(taken, key=lambda r: r.offset) == records and progress.in_flight == 0
