"""De-duplication against the notification log: was this (alert id, receiver) already handled?

The log is a plain mapping from log key to the latest entry (the state of the
compacted notification-log topic). A restarted or second notifier that reads the
topic to its end makes the same decision and never re-sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry

__all__ = ["DedupDecision", "DedupReason", "NotificationLogView", "check_dedup"]


class DedupReason(StrEnum):
    """Why a notification goes out or not."""

    FIRST_SEND = "first_send"
    ALREADY_DELIVERED = "already_delivered"
    ALREADY_FAILED = "already_failed"  # already dead-lettered and sent to the fallback: do not page twice


@dataclass(frozen=True)
class DedupDecision:
    reason: DedupReason

    @property
    def send(self) -> bool:
        return self.reason == DedupReason.FIRST_SEND


def check_dedup(item: Notification, log: Mapping[str, NotificationLogEntry]) -> DedupDecision:
    """Decide from the log alone; a pending entry never exists (only finished deliveries are logged)."""
    entry = log.get(item.log_key)
    if entry is None:
        return DedupDecision(DedupReason.FIRST_SEND)
    if entry.outcome == DeliveryOutcome.DELIVERED:
        return DedupDecision(DedupReason.ALREADY_DELIVERED)
    return DedupDecision(DedupReason.ALREADY_FAILED)


class NotificationLogView:
    """In-memory state of the notification log, with an index by episode (for resolves and acknowledgements)."""

    def __init__(self, entries: Iterable[NotificationLogEntry] = ()) -> None:
        self.entries: dict[str, NotificationLogEntry] = {}
        self._by_episode: dict[str, dict[str, NotificationLogEntry]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: NotificationLogEntry) -> None:
        """Record an entry (the latest one per key wins, as in the compacted topic)."""
        self.entries[entry.key] = entry
        self._by_episode.setdefault(entry.episode_id, {})[entry.key] = entry

    def get(self, key: str) -> NotificationLogEntry | None:
        return self.entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def for_episode(self, episode_id: str) -> list[NotificationLogEntry]:
        """Every entry of one episode, oldest first (wall-clock send time)."""
        return sorted(self._by_episode.get(episode_id, {}).values(), key=lambda e: e.sent_at_s)

    def delivered_receivers(self, episode_id: str) -> list[str]:
        """Receivers that got a trigger for the episode, in first-delivery order (a resolve must reach them)."""
        seen: dict[str, None] = {}
        for entry in self.for_episode(episode_id):
            if entry.outcome == DeliveryOutcome.DELIVERED and entry.action == "trigger":
                seen.setdefault(entry.receiver, None)
        return list(seen)

    def as_mapping(self) -> Mapping[str, NotificationLogEntry]:
        return self.entries
