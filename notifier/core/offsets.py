"""Which polled alert records may be committed while later polls are still being delivered.

The notifier keeps polling while earlier alerts are still on their way to slow or throttled receivers (a chat
channel takes one message a second; a page to the pager must not wait behind it). A partition's offsets may
then only be committed up to its first record still in flight: records finish out of order, and a commit past
an unfinished one would lose it in a crash. Kafka-free, so the bookkeeping is tested on its own.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar

__all__ = ["CommitProgress", "PolledRecord"]


class PolledRecord(Protocol):
    """What the tracker needs of a consumed record."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=PolledRecord)


class CommitProgress(Generic[R]):
    """Polled records in offset order per partition, each marked when its processing has finished."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], deque[R]] = {}
        self._finished: set[tuple[str, int, int]] = set()
        self.in_flight = 0
        """Records polled and not finished yet (the back-pressure the poll loop waits on)."""

    def polled(self, records: list[R]) -> None:
        """Track a poll's records (Kafka hands each partition's records in offset order)."""
        for record in records:
            self._partitions.setdefault((record.topic, record.partition), deque()).append(record)
        self.in_flight += len(records)

    def finished(self, record: R) -> None:
        """`record` was processed to the end (delivered, logged, or handed to the background retries)."""
        key = (record.topic, record.partition, record.offset)
        if key not in self._finished:
            self._finished.add(key)
            self.in_flight -= 1

    def committable(self) -> list[R]:
        """Take every record that precedes its partition's first unfinished one: safe to commit now."""
        out: list[R] = []
        for queue in self._partitions.values():
            while queue and (key := (queue[0].topic, queue[0].partition, queue[0].offset)) in self._finished:
                self._finished.discard(key)
                out.append(queue.popleft())
        return out
