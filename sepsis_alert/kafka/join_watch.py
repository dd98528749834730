"""Notice a consumer-group member whose join never completes, so its worker can rebuild the consumer.

Why: kafka-python keeps one JoinGroup attempt in flight across polls and allows it the rebalance timeout
(max_poll_interval_ms) plus 5 s to answer; a member whose join is lost (seen in the chaos run of issue #20:
a detector rejoining after a broker restart logged the join and then nothing for minutes) polls on without
partitions and without an error, which is a silent stall. A worker asks `overdue` after each poll; when the
member has not been in a completed join for `limit_s` seconds it rebuilds its consumer, as after a lost
connection. A legitimate rebalance waits for every member to rejoin, which can take a while when one of them
is restoring state, so the limit doubles with each consecutive rebuild (up to `max_limit_s`) and returns to
its first value once a join completes: a slow group is never rebuilt in a loop.

Pure: the caller says whether the member is joined (sepsis_alert.kafka.consumer.group_joined).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["JOIN_LIMIT_MAX_S", "JOIN_LIMIT_S", "JoinWatch"]

JOIN_LIMIT_S = 60.0
"""Seconds a member may stay outside a completed join before its consumer is rebuilt (first time)."""
JOIN_LIMIT_MAX_S = 480.0
"""The limit after repeated rebuilds without a completed join in between."""


class JoinWatch:
    """How long a consumer-group member has been without a completed join, against a limit that backs off."""

    def __init__(self, limit_s: float = JOIN_LIMIT_S, max_limit_s: float = JOIN_LIMIT_MAX_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit_s <= 0 or max_limit_s < limit_s:
            raise ValueError(f"join limits: need 0 < limit_s <= max_limit_s (got {limit_s}, {max_limit_s})")
        self.first_limit_s = limit_s
        self.max_limit_s = max_limit_s
        self.limit_s = limit_s
        self._clock = clock
        self._unjoined_since: float | None = None
        self.rebuilds = 0
        """How many times `overdue` said rebuild."""

    def overdue(self, joined: bool) -> float | None:
        """Seconds the member has been without a completed join, once that is longer than the current limit (the
        caller rebuilds its consumer; the count starts again with a doubled limit); else None."""
        now = self._clock()
        if joined:
            self._unjoined_since = None
            self.limit_s = self.first_limit_s
            return None
        if self._unjoined_since is None:
            self._unjoined_since = now
            return None
        unjoined_s = now - self._unjoined_since
        if unjoined_s <= self.limit_s:
            return None
        self.rebuilds += 1
        self._unjoined_since = None
        self.limit_s = min(self.max_limit_s, self.limit_s * 2)
        return unjoined_s

    def restart(self) -> None:
        """Count from the next `overdue` call (a new consumer: the time spent without one is not a stalled join)."""
        self._unjoined_since = None
