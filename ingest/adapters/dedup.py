"""Retransmission de-duplication: same sender + MSH-10 within a window -> AA again, nothing re-produced.

`RetransmissionIndex` is the pure part (time is passed in). Accepted messages
write a marker to Topics.INGEST_DEDUP (compacted, keyed `sender|control id`) in
the same acks=all batch as their events (see kafka_sink), and
`load_from_kafka` replays that topic at start-up, so a restarted or replacement
worker still recognises retransmissions of messages accepted before it started.
Rejected messages are not remembered: a retransmission is judged (and
dead-lettered) again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all

__all__ = ["FHIR_KEY_PREFIX", "RetransmissionIndex", "dedup_key", "load_fhir_keys", "load_from_kafka"]

# Markers of resources accepted by the FHIR endpoint share the topic; this prefix keeps the two apart.
FHIR_KEY_PREFIX = "fhir-rest|"

log = logging.getLogger(__name__)


def dedup_key(sender: str, control_id: str) -> str:
    """`<MSH-3>|<MSH-4>|<MSH-10>`: MSH-10 is unique only per sending application and facility."""
    return f"{sender}|{control_id}"


class RetransmissionIndex:
    """Keys of accepted messages with their acceptance time (processing time), oldest first.

    Held as a plain dict of POSIX seconds (insertion-ordered): about half the memory of an
    OrderedDict of datetimes, which matters because a busy feed fills it towards `max_entries`.
    """

    def __init__(self, window: timedelta, max_entries: int = 1_000_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._window_s = window.total_seconds()
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, key: str, now: datetime) -> bool:
        """True when `key` was accepted within the window before `now`."""
        accepted = self._seen.get(key)
        return accepted is not None and now.timestamp() - accepted <= self._window_s

    def remember(self, key: str, accepted_at: datetime) -> None:
        """Record an accepted message; forgets the oldest entries past the window or the size cap."""
        seen = self._seen
        seen.pop(key, None)  # re-inserting moves the key to the newest end
        seen[key] = accepted_at.timestamp()
        self.evict(accepted_at)

    def evict(self, now: datetime) -> None:
        seen = self._seen
        oldest_allowed = now.timestamp() - self._window_s
        while seen:
            key = next(iter(seen))
            if seen[key] < oldest_allowed or len(seen) > self.max_entries:
                del seen[key]
            else:
                break


def load_from_kafka(index: RetransmissionIndex, settings: KafkaSettings, now: datetime,
                    timeout_s: float = 30.0, topic: str = Topics.INGEST_DEDUP) -> int:
    """Fill `index` from the dedup topic (entries younger than the window); returns how many were loaded.

    Raises KafkaUnavailableError when the topic cannot be read (the worker
    should not start blind: it would re-produce retransmissions).
    """
    loaded = 0
    for record in read_all(settings, topic, timeout_s=timeout_s):
        if record.key is None or record.value is None or record.key.startswith(FHIR_KEY_PREFIX.encode()):
            continue
        try:
            accepted_at = datetime.fromisoformat(json.loads(record.value)["accepted_at"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable dedup marker at %s/%d@%d", topic, record.partition, record.offset)
            continue
        if now - accepted_at <= index.window:
            index.remember(record.key.decode(), accepted_at)
            loaded += 1
    return loaded


def load_fhir_keys(settings: KafkaSettings, timeout_s: float = 30.0, topic: str = Topics.INGEST_DEDUP) -> list[str]:
    """Duplicate keys of resources the FHIR endpoint accepted earlier, oldest first (prefix removed).

    Raises KafkaUnavailableError when the topic cannot be read.
    """
    prefix = FHIR_KEY_PREFIX.encode()
    return [record.key[len(prefix):].decode() for record in read_all(settings, topic, timeout_s=timeout_s)
            if record.key is not None and record.value is not None and record.key.startswith(prefix)]
