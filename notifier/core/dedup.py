"""De-duplication against the notification log: was this (alert id, receiver) already handled?

The log is a plain mapping from log key to the latest entry (the state of the
compacted notification-log topic). A restarted or second notifier that reads the
topic to its end makes the same decision and never re-sends.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from notifier.core.model import DeliveryOutcome, LogRecord, Notification, NotificationLogEntry

__all__ = ["DEFAULT_MAX_LOG_ENTRIES", "DedupDecision", "DedupReason", "NotificationLogView", "check_dedup"]


class DedupReason(StrEnum):
    """Why a notification goes out or not."""

    FIRST_SEND = "first_send"
    ALREADY_DELIVERED = "already_delivered"
    ALREADY_FAILED = "already_failed"  # already dead-lettered and sent to the fallback: do not page twice
    RETRYING = "retrying"  # the fallback has it and the receiver is retried in the background (or resumed)
    UNCERTAIN = "uncertain"  # it may have reached a receiver that cannot drop a repeat: do not page twice


@dataclass(frozen=True)
class DedupDecision:
    reason: DedupReason

    @property
    def send(self) -> bool:
        return self.reason == DedupReason.FIRST_SEND


def check_dedup(item: Notification, log: Mapping[str, NotificationLogEntry | LogRecord]) -> DedupDecision:
    """Decide from the log alone: anything logged under the key is never sent again from here (a `retrying`
    entry is owned by the background retries, notifier.stages.redeliver)."""
    entry = log.get(item.log_key)
    if entry is None:
        return DedupDecision(DedupReason.FIRST_SEND)
    return DedupDecision(_LOGGED.get(entry.outcome, DedupReason.ALREADY_FAILED))


_LOGGED = {DeliveryOutcome.DELIVERED: DedupReason.ALREADY_DELIVERED, DeliveryOutcome.RETRYING: DedupReason.RETRYING,
           DeliveryOutcome.UNCERTAIN: DedupReason.UNCERTAIN}


DEFAULT_MAX_LOG_ENTRIES = 100_000
"""Cap on the in-memory notification log (slim records, ~300 bytes each with their keys: ~30 MB at the cap)."""


class NotificationLogView:
    """In-memory state of the notification log, with an index by episode (for resolves and acknowledgements).

    Memory is bounded: it keeps slim `LogRecord`s (no alert) and at most `max_entries` of them. Past the
    cap the least recently touched episode's records go first (every write to an episode touches all of
    its records, so a long-running open episode stays while finished ones age out). Dedup only has to
    cover re-reads after a crash or a rebalance (alerts not yet committed, seconds to minutes old), so a
    cap far above the notifications sent between two commits loses nothing; what an evicted episode
    loses is only its resolve fan-out to receivers that the routing tree would not pick for a resolve.
    """

    def __init__(self, entries: Iterable[NotificationLogEntry | LogRecord] = (),
                 max_entries: int = DEFAULT_MAX_LOG_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1 (got {max_entries!r})")
        self.max_entries = max_entries
        self.entries: OrderedDict[str, LogRecord] = OrderedDict()
        """Log key -> latest record, least recently touched first."""
        self._by_episode: dict[str, dict[str, LogRecord]] = {}
        self.evicted = 0
        """How many records the cap has pushed out since start (a gauge for operators)."""
        for entry in entries:
            self.add(entry)

    def add(self, entry: NotificationLogEntry | LogRecord) -> LogRecord:
        """Record an entry (the latest one per key wins, as in the compacted topic); returns the slim record."""
        record = entry if isinstance(entry, LogRecord) else entry.slim()
        episode = self._by_episode.setdefault(record.episode_id, {})
        episode[record.key] = record
        self.entries[record.key] = record
        for key in episode:  # touch the whole episode: it is evicted as a unit, least recently active first
            self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self._evict_oldest()
        return record

    def _evict_oldest(self) -> None:
        key, record = self.entries.popitem(last=False)
        self.evicted += 1
        episode = self._by_episode.get(record.episode_id)
        if episode is not None:
            episode.pop(key, None)
            if not episode:
                del self._by_episode[record.episode_id]

    def get(self, key: str) -> LogRecord | None:
        return self.entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def episodes(self) -> int:
        """How many episodes have records in memory."""
        return len(self._by_episode)

    def for_episode(self, episode_id: str) -> list[LogRecord]:
        """Every record of one episode, oldest first (wall-clock send time)."""
        return sorted(self._by_episode.get(episode_id, {}).values(), key=lambda e: e.sent_at_s)

    def delivered_receivers(self, episode_id: str) -> list[str]:
        """Receivers that got a trigger for the episode, in first-delivery order (a resolve must reach them)."""
        seen: dict[str, None] = {}
        for entry in self.for_episode(episode_id):
            if entry.outcome == DeliveryOutcome.DELIVERED and entry.action == "trigger":
                seen.setdefault(entry.receiver, None)
        return list(seen)

    def as_mapping(self) -> Mapping[str, LogRecord]:
        return self.entries
