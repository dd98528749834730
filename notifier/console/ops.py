"""The ops pages' read model (pure: no Kafka, no HTTP): feeds, consumer lag, dead letters, silences, routing.

The Kafka adapter (notifier.adapters.kafka_ops) fills an `OpsBook` from its own thread; the pages take an
`OpsSnapshot` (a copy) and turn it into rows here. Dead letters carry the rejected input verbatim; only their
metadata is ever read into the book (`DeadLetterMeta.from_json`), and not the error message either, because
validation errors quote the bad value, which can be a patient's name.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from notifier.config import NotifierConfig
from notifier.console.worklist import ago
from notifier.core.routing import Route, iter_routes
from notifier.core.silence import Silence

__all__ = [
    "DeadLetterMeta",
    "DeadLetterRow",
    "FeedKey",
    "FeedRow",
    "LagRow",
    "OpsBook",
    "OpsSnapshot",
    "ReceiverRow",
    "RouteRow",
    "SilenceAuditRow",
    "dead_letter_counts",
    "feed_rows",
    "lag_rows",
    "receiver_rows",
    "route_rows",
    "silence_audit_rows",
]

RECENT_DEAD_LETTERS = 50
MAX_FEEDS = 500
"""Bounds memory whatever a misconfigured sender puts in its headers."""

FeedKey = tuple[str, str, str]
"""(topic, source, sender) of a raw-input record."""

PartitionKey = tuple[str, int]


@dataclass(frozen=True)
class DeadLetterMeta:
    """What the console keeps of one dead letter: never its payload, nor its message (see the module docstring)."""

    source: str
    worker: str
    error_code: str
    locations: tuple[str, ...]
    received_at_s: float

    @classmethod
    def from_json(cls, value: bytes | None, fallback_at_s: float) -> DeadLetterMeta:
        """The metadata of a dead-letter record; an unreadable record is itself counted (`unreadable`)."""
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            return cls("unknown", "", "unreadable_dead_letter", (), fallback_at_s)
        details = doc.get("details")
        locations = tuple(str(d.get("location", ""))[:64] for d in details[:5] if isinstance(d, dict)) \
            if isinstance(details, list) else ()
        return cls(source=str(doc.get("source") or "unknown")[:64], worker=str(doc.get("worker") or "")[:64],
                   error_code=str(doc.get("error_code") or "unknown")[:64], locations=locations,
                   received_at_s=_epoch(doc.get("received_at"), fallback_at_s))


def _epoch(text: object, fallback: float) -> float:
    if not isinstance(text, str):
        return fallback
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return fallback


@dataclass(frozen=True)
class OpsSnapshot:
    """A copy of the ops book at one moment (processing time, Unix seconds)."""

    feeds: dict[FeedKey, float] = field(default_factory=dict)
    dead_letter_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    recent_dead_letters: tuple[DeadLetterMeta, ...] = ()
    committed: dict[str, dict[PartitionKey, int]] = field(default_factory=dict)
    end_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    lag_read_at_s: float | None = None
    unreachable_since_s: float | None = None
    problem: str = ""
    tail_from_s: float | None = None
    missing_topics: tuple[str, ...] = ()


class OpsBook:
    """What the adapter has read; written by its thread, copied by the pages (every access holds the lock)."""

    def __init__(self, recent: int = RECENT_DEAD_LETTERS) -> None:
        self._lock = threading.Lock()
        self._feeds: dict[FeedKey, float] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._recent: deque[DeadLetterMeta] = deque(maxlen=recent)
        self._lag: OpsSnapshot = OpsSnapshot()

    def on_raw(self, key: FeedKey, at_s: float) -> None:
        with self._lock:
            if key not in self._feeds and len(self._feeds) >= MAX_FEEDS:
                key = (key[0], key[1], "other")
            if at_s > self._feeds.get(key, float("-inf")):
                self._feeds[key] = at_s

    def on_dead_letter(self, meta: DeadLetterMeta) -> None:
        with self._lock:
            self._counts[(meta.source, meta.error_code)] += 1
            self._recent.append(meta)

    def on_lag(self, committed: Mapping[str, Mapping[PartitionKey, int]], end_offsets: Mapping[PartitionKey, int],
               at_s: float) -> None:
        with self._lock:
            self._lag = replace(self._lag, committed={g: dict(o) for g, o in committed.items()},
                                end_offsets=dict(end_offsets), lag_read_at_s=at_s, unreachable_since_s=None,
                                problem="")

    def on_unreachable(self, at_s: float, problem: str) -> None:
        """The broker did not answer: the last figures stay, marked with when the outage began."""
        with self._lock:
            since = self._lag.unreachable_since_s if self._lag.unreachable_since_s is not None else at_s
            self._lag = replace(self._lag, unreachable_since_s=since, problem=problem)

    def on_missing_topics(self, topics: Iterable[str]) -> None:
        with self._lock:
            self._lag = replace(self._lag, missing_topics=tuple(topics))

    def on_tail_start(self, from_s: float) -> None:
        with self._lock:
            self._lag = replace(self._lag, tail_from_s=from_s)

    def snapshot(self) -> OpsSnapshot:
        with self._lock:
            return replace(self._lag, feeds=dict(self._feeds), dead_letter_counts=dict(self._counts),
                           recent_dead_letters=tuple(reversed(self._recent)))


@dataclass(frozen=True)
class FeedRow:
    topic: str
    source: str
    sender: str
    last_at_s: float
    silent_for: str
    silent: bool


def feed_rows(feeds: Mapping[FeedKey, float], now_s: float, silent_after_s: float) -> list[FeedRow]:
    """One row per feed, the longest silent first; `silent` once it has sent nothing for `silent_after_s`."""
    rows = [FeedRow(topic, source, sender, at, ago(now_s - at), now_s - at >= silent_after_s)
            for (topic, source, sender), at in feeds.items()]
    return sorted(rows, key=lambda r: (r.last_at_s, r.topic, r.source, r.sender))


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partitions: int
    committed: int
    end: int | None
    lag: int | None


def lag_rows(committed: Mapping[str, Mapping[PartitionKey, int]], end_offsets: Mapping[PartitionKey, int],
             ) -> list[LagRow]:
    """Per (group, topic): summed committed and end offsets and records behind; the most behind first.

    A partition whose end offset is unknown makes the topic's lag unknown (None), never 0: "no data" must not
    read as "caught up".
    """
    totals: dict[tuple[str, str], list[int]] = {}
    unknown: set[tuple[str, str]] = set()
    for group, offsets in committed.items():
        for (topic, partition), offset in offsets.items():
            if offset < 0:
                continue  # nothing committed on that partition yet
            key = (group, topic)
            total = totals.setdefault(key, [0, 0, 0, 0])
            end = end_offsets.get((topic, partition))
            total[0] += 1
            total[1] += offset
            if end is None:
                unknown.add(key)
            else:
                total[2] += end
                total[3] += max(0, end - offset)
    rows = [LagRow(group, topic, n, done, None if (group, topic) in unknown else end,
                   None if (group, topic) in unknown else behind)
            for (group, topic), (n, done, end, behind) in totals.items()]
    return sorted(rows, key=lambda r: (-(r.lag if r.lag is not None else 1 << 62), r.group, r.topic))


@dataclass(frozen=True)
class DeadLetterRow:
    source: str
    error_code: str
    count: int


def dead_letter_counts(counts: Mapping[tuple[str, str], int]) -> list[DeadLetterRow]:
    """Counts per (source, reason), the most frequent first."""
    rows = [DeadLetterRow(source, code, n) for (source, code), n in counts.items()]
    return sorted(rows, key=lambda r: (-r.count, r.source, r.error_code))


@dataclass(frozen=True)
class SilenceAuditRow:
    matchers: str
    created_by: str
    created_at_s: float
    reason: str
    ended_at_s: float
    ended_by: str
    """Who expired it early, or `(ran out)` when it reached its end."""


def matcher_text(silence: Silence) -> str:
    names = ("facility", "unit", "patient_key", "episode_id")
    return ", ".join(f"{n}={getattr(silence, n)}" for n in names if getattr(silence, n))


def silence_audit_rows(silences: Iterable[Silence], now_s: float, limit: int = 100) -> list[SilenceAuditRow]:
    """Silences that have ended (expired early or ran out), the latest end first, at most `limit`."""
    rows: list[SilenceAuditRow] = []
    for s in silences:
        early = s.expired_at_s is not None and s.expired_at_s < s.ends_at_s
        ended_at = s.expired_at_s if early and s.expired_at_s is not None else s.ends_at_s
        if ended_at > now_s:
            continue
        rows.append(SilenceAuditRow(matcher_text(s), s.created_by, s.created_at_s, s.reason, ended_at,
                                    (s.expired_by or "?") if early else "(ran out)"))
    return sorted(rows, key=lambda r: -r.ended_at_s)[:limit]


@dataclass(frozen=True)
class RouteRow:
    path: str
    depth: int
    name: str
    matcher: str
    target: str
    continues: bool


@dataclass(frozen=True)
class ReceiverRow:
    name: str
    kind: str
    shows: str
    escalations: str
    """Escalation policies and tiers this receiver is paged at, e.g. `chain tier 1 (+120 s)`."""


def _matcher(route: Route) -> str:
    fields = route.match.model_dump(mode="json", exclude_none=True)
    return "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in fields.items()) \
        or "every alert"


def route_rows(config: NotifierConfig) -> list[RouteRow]:
    """The routing tree depth first: names, matchers and targets (receiver names and escalation chains only)."""
    policies = config.policies()
    rows: list[RouteRow] = []
    for path, node in iter_routes(config.route):
        if node.escalation is not None and node.escalation in policies:
            tiers = policies[node.escalation].tiers
            chain = " → ".join(t.receiver + (f" (+{t.delay_s:g} s)" if t.delay_s else "") for t in tiers)
            target = f"escalation {node.escalation}: {chain}"
        elif node.receiver:
            target = f"receiver {node.receiver}"
        else:
            target = "inherited"
        rows.append(RouteRow(path, path.count("."), node.name or path, _matcher(node), target, node.continue_))
    return rows


def receiver_rows(config: NotifierConfig) -> list[ReceiverRow]:
    """Each receiver's name, kind, what its messages may show and where it sits in escalations; never its URL,
    key or token (those are secrets, and a webhook URL often carries a token in its path)."""
    rows: list[ReceiverRow] = []
    for receiver in config.receivers:
        tiers = [f"{p.name} tier {i}" + (f" (+{t.delay_s:g} s)" if t.delay_s else "")
                 for p in config.escalation_policies for i, t in enumerate(p.tiers) if t.receiver == receiver.name]
        rows.append(ReceiverRow(receiver.name, receiver.type, ", ".join(receiver.phi.allow), "; ".join(tiers)))
    if config.fallback_receiver:
        rows = [replace(r, escalations=(r.escalations + "; " if r.escalations else "") + "fallback")
                if r.name == config.fallback_receiver else r for r in rows]
    return rows
