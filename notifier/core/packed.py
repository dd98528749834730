"""An alert held for later as its JSON: what a long-running notifier keeps per open episode.

A parsed `Alert` is about 70 objects the cyclic garbage collector must walk (each score snapshot is a model, its
field dict and field set, and its lists). The notifier keeps the latest alert of every open episode (the console,
acknowledgement follow-ups), up to `max_open_episodes` of them, and every full collection walked them all: over
10 minutes of `benchmarks.bench_load` (2,000 obs/s, ~23,000 alerts) the notifier's full collections grew to
400,000 walked objects and stopped it for 0.4-1.0 s each, and those stops set the p99 of ACK -> webhook.
Packed, an episode's alert is one object holding bytes, which the collector walks in no time.

`unpack()` parses it again (pydantic-core, tens of microseconds); the few most recently unpacked are cached so
that rendering one console row, which reads the alert several times, parses it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas.alert import Alert

__all__ = ["PackedAlert"]

RECENTLY_UNPACKED = 64
"""Parsed alerts kept for repeated reads (a console row, an acknowledgement and its follow-ups)."""


@lru_cache(maxsize=RECENTLY_UNPACKED)
def _parse(data: bytes) -> Alert:
    return Alert.model_validate_json(data)


@dataclass(frozen=True, slots=True)
class PackedAlert:
    """An alert as JSON, with the two fields its holders compare without parsing it."""

    data: bytes
    sequence: int
    level: int

    @classmethod
    def pack(cls, alert: Alert) -> PackedAlert:
        return cls(alert.model_dump_json().encode(), alert.sequence, int(alert.level))

    def unpack(self) -> Alert:
        """The alert (a frozen model, shared with other readers of the same packed alert: never modify it)."""
        return _parse(self.data)
