"""The console's shared state in a running notifier, and the change feed behind server-sent events.

The episode book is written from the event loop (alerts, acknowledgements, own deliveries) and from the state
tail's thread (log entries read back), so every access holds a lock. Each change wakes the event loop's
waiters (thread-safely), and every open page's event stream says "changed": the page fetches its live part
again. Changes that come faster than a page can fetch are folded into one (the page asks for the latest).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from notifier.console.history import EpisodeBook
from notifier.core.model import AckEvent, LogRecord, NotificationLogEntry
from schemas.alert import Alert

__all__ = ["HEARTBEAT_S", "ConsoleState"]

HEARTBEAT_S = 15.0
"""An SSE comment this often keeps proxies from closing an idle stream."""

T = TypeVar("T")


class ConsoleState:
    def __init__(self, max_episodes: int) -> None:
        self._book = EpisodeBook(max_episodes)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._closed = False
        self._on_close: list[Callable[[], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop that serves the pages (the notifier's)."""
        self._loop = loop
        self._changed = asyncio.Event()

    def read(self, reader: Callable[[EpisodeBook], T]) -> T:
        """Run `reader` on the book under the lock (build a page's data, never await inside)."""
        with self._lock:
            return reader(self._book)

    @property
    def version(self) -> int:
        return self._book.version

    def on_alert(self, alert: Alert, seen_at_s: float) -> None:
        with self._lock:
            self._book.on_alert(alert, seen_at_s)
        self._wake()

    def on_logged(self, entry: NotificationLogEntry | LogRecord) -> None:
        with self._lock:
            self._book.on_logged(entry)
        self._wake()

    def on_ack(self, ack: AckEvent) -> None:
        with self._lock:
            self._book.on_ack(ack)
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._set()
        else:
            loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()  # waiters hold the event that fired; later ones wait on the new one

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the notifier stops (the ops pages' Kafka reader ends then)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """End every open stream and what was registered with `on_close` (the notifier is stopping)."""
        self._closed = True
        for callback in self._on_close:
            callback()
        self._wake()

    async def changes(self) -> AsyncIterator[int | None]:
        """Yields the book's version after each change, None as a heartbeat; ends when closed."""
        while not self._closed:
            event = self._changed
            if event is None:
                return
            try:
                await asyncio.wait_for(event.wait(), HEARTBEAT_S)
            except TimeoutError:
                yield None
                continue
            if self._closed:
                return
            yield self.version
