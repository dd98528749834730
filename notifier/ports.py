"""Small interfaces the stages depend on; Kafka adapters and in-memory versions implement them."""

from __future__ import annotations

from typing import Protocol

from notifier.core.model import Notification, NotificationLogEntry

__all__ = ["DeadLetterSink", "InMemoryDeadLetters", "InMemoryLog", "LogSink"]


class LogSink(Protocol):
    async def append(self, entry: NotificationLogEntry) -> None:
        """Persist one notification-log entry (the compacted topic in production)."""
        ...


class DeadLetterSink(Protocol):
    async def dead_letter(self, item: Notification, error_code: str, message: str) -> None:
        """Record a notification that could not be delivered (the dead-letter topic in production)."""
        ...


class InMemoryLog:
    """LogSink keeping entries in a list (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.entries: list[NotificationLogEntry] = []

    async def append(self, entry: NotificationLogEntry) -> None:
        self.entries.append(entry)


class InMemoryDeadLetters:
    """DeadLetterSink keeping (notification, code, message) tuples."""

    def __init__(self) -> None:
        self.items: list[tuple[Notification, str, str]] = []

    async def dead_letter(self, item: Notification, error_code: str, message: str) -> None:
        self.items.append((item, error_code, message))
