"""What the console remembers of each alert episode (pure: no I/O, no clock).

Fed by what the notifier already sees: every alert transition it processes, every notification-log
entry (its own deliveries and those read back from other replicas or after a restart) and every event
of the acks topic (acknowledgements, snoozes, closes, comments). Bounded: at most `max_episodes`
episodes (the least recently changed forgotten first) and a fixed number of points per episode.

Times: `*_at_s` are epoch seconds. `event_at_s` is the alert's event time (when the observation was
taken: plots and trends use it, so a replay draws the patient's hours); `seen_at_s` and `sent_at_s`
are wall-clock (when the console learned it: "opened 12 min ago").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from notifier.core.model import AckEvent, DeliveryOutcome, LogRecord, NotificationLogEntry, NotifyAction
from notifier.core.packed import PackedAlert
from notifier.core.paging import PageKind
from schemas.alert import Alert, AlertTransition

__all__ = ["RISK_SCORE", "AlertPoint", "EpisodeBook", "EpisodeRecord", "NotificationRecord", "VitalPoint"]

RISK_SCORE = "risk_model"
"""Name of the learned risk score among an alert's scores (schemas.alert.ScoreSnapshot)."""
MAX_POINTS = 240
"""Alert transitions kept per episode (plots and the timeline): days of hourly changes."""
MAX_VITALS = 400
"""Measurements kept per episode, all measures together."""
MAX_NOTIFICATIONS = 200
MAX_ACTIONS = 100
ENDED_KEPT = 100
"""Resolved episodes whose pages stay available (the most recent); older ones are dropped: memory stays bounded
by the open episodes however many have ended."""
ENDED_IDS_KEPT = 50_000
"""Ids of dropped resolved episodes (~100 bytes each), so that a log entry of theirs read late (start-up reads
the log's partitions in any order) cannot bring one back as a ghost row."""


@dataclass(frozen=True, slots=True)
class AlertPoint:
    """One alert transition, as plotted and listed on the episode page."""

    alert_id: str
    sequence: int
    level: int
    transition: str
    event_at_s: float
    seen_at_s: float
    risk: float | None
    scores: tuple[tuple[str, float | bool | None, str | None], ...]
    """(name, value, band) of each score the alert carried."""
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VitalPoint:
    """A measurement the detector used (a score input), with its event time."""

    measure: str
    value: float
    unit: str | None
    at_s: float


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A delivery as the notification log recorded it: who, when, how it ended, after how many attempts."""

    key: str
    receiver: str
    tier: int
    action: str
    kind: str
    outcome: str
    attempts: int
    sent_at_s: float

    @property
    def is_page(self) -> bool:
        return (self.kind == PageKind.PAGE and self.action == NotifyAction.TRIGGER
                and self.outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.FALLBACK_DELIVERED))


@dataclass
class EpisodeRecord:
    """Everything the console holds about one episode."""

    episode_id: str
    latest_packed: PackedAlert
    """The latest transition (scores without inputs), packed: see `latest`."""
    first_seen_at_s: float
    points: list[AlertPoint] = field(default_factory=list)
    vital_values: dict[tuple[str, float], tuple[float, str | None]] = field(default_factory=dict)
    """(measure, event time s) -> (value, unit), oldest first. Plain tuples, not VitalPoints: the garbage collector
    stops tracking a tuple of plain values, and an episode keeps up to MAX_VITALS of them. With 1,000 stays
    replayed offline into an EpisodeBook, VitalPoint objects were 96,481 of the 141,462 objects a full collection
    walked (`gc.get_objects()` after `gc.collect()`)."""
    notifications: dict[str, NotificationRecord] = field(default_factory=dict)
    actions: list[AckEvent] = field(default_factory=list)
    resolved_at_s: float | None = None

    @property
    def latest(self) -> Alert:
        """The latest transition (scores without inputs): location, level, reasons, markers."""
        return self.latest_packed.unpack()

    @property
    def vitals(self) -> list[VitalPoint]:
        """The measurements the alerts carried, oldest first."""
        return [VitalPoint(measure, value, unit, at_s) for (measure, at_s), (value, unit) in self.vital_values.items()]

    @property
    def risk(self) -> float | None:
        return self.points[-1].risk if self.points else None

    @property
    def last_page_at_s(self) -> float | None:
        pages = [n.sent_at_s for n in self.notifications.values() if n.is_page]
        return max(pages) if pages else None

    @property
    def standing_action(self) -> AckEvent | None:
        """The latest acknowledgement, snooze or close (comments do not count)."""
        return next((a for a in reversed(self.actions) if a.holds_pages), None)

    @property
    def closed(self) -> AckEvent | None:
        """The close that still stands: the latest standing action is a close and no higher level came since."""
        standing = self.standing_action
        if standing is None or standing.effective_action() != "close":
            return None
        level_at_close = standing.level if standing.level is not None else self.latest_packed.level
        worse = any(p.level > level_at_close and p.seen_at_s > standing.acked_at_s for p in self.points)
        return None if worse else standing

    @property
    def is_open(self) -> bool:
        return self.resolved_at_s is None and self.closed is None


def _risk_of(alert: Alert) -> float | None:
    for score in alert.scores:
        if score.name == RISK_SCORE and isinstance(score.value, float | int) and not isinstance(score.value, bool):
            return float(score.value)
    return None


def _point(alert: Alert, seen_at_s: float) -> AlertPoint:
    return AlertPoint(alert_id=alert.alert_id, sequence=alert.sequence, level=int(alert.level),
                      transition=str(alert.transition), event_at_s=alert.event_time.timestamp(), seen_at_s=seen_at_s,
                      risk=_risk_of(alert), scores=tuple((s.name, s.value, s.band) for s in alert.scores),
                      reasons=tuple(alert.reasons))


def _vitals(alert: Alert) -> Iterator[VitalPoint]:
    for score in alert.scores:
        for item in score.inputs:
            if item.effective_at is None or isinstance(item.value, str | bool | None):
                continue
            yield VitalPoint(item.measure, float(item.value), item.unit, item.effective_at.timestamp())


def _slim(alert: Alert) -> Alert:
    """The alert without score inputs (kept separately as vitals): a few kB per open episode."""
    if not any(s.inputs for s in alert.scores):
        return alert
    return alert.model_copy(update={"scores": [s.model_copy(update={"inputs": []}) for s in alert.scores]})


class EpisodeBook:
    """Episodes by id, least recently changed first; see the module docstring."""

    def __init__(self, max_episodes: int = 5_000, ended_kept: int = ENDED_KEPT,
                 ended_ids_kept: int = ENDED_IDS_KEPT) -> None:
        self._max = max_episodes
        self._ended_kept = ended_kept
        self._ended_ids_kept = ended_ids_kept
        self._episodes: OrderedDict[str, EpisodeRecord] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        """Every resolved episode remembered, oldest first."""
        self._ended_with_record: OrderedDict[str, None] = OrderedDict()
        """The resolved episodes whose record is still kept, oldest first."""
        self.version = 0
        """Increases with every change: the live feed tells open pages to refresh when it moves."""

    def __len__(self) -> int:
        return len(self._episodes)

    def __iter__(self) -> Iterator[EpisodeRecord]:
        return iter(list(self._episodes.values()))

    def get(self, episode_id: str) -> EpisodeRecord | None:
        return self._episodes.get(episode_id)

    def _touch(self, record: EpisodeRecord) -> None:
        self._episodes[record.episode_id] = record
        self._episodes.move_to_end(record.episode_id)
        while len(self._episodes) > self._max:
            self._episodes.popitem(last=False)
        self.version += 1

    def _ended_now(self, episode_id: str) -> None:
        for ring, cap in ((self._ended, self._ended_ids_kept), (self._ended_with_record, self._ended_kept)):
            ring[episode_id] = None
            ring.move_to_end(episode_id)
            while len(ring) > cap:
                old, _ = ring.popitem(last=False)
                self._episodes.pop(old, None)

    def on_alert(self, alert: Alert, seen_at_s: float) -> None:
        """An alert transition (processed here, or carried by a log entry read back)."""
        record = self._episodes.get(alert.episode_id)
        if record is None and alert.episode_id in self._ended:
            return  # resolved and dropped: a late log entry of it
        if record is None:
            record = EpisodeRecord(alert.episode_id, PackedAlert.pack(_slim(alert)), seen_at_s)
        elif any(p.alert_id == alert.alert_id for p in record.points):
            return
        if alert.sequence > record.latest_packed.sequence:
            record.latest_packed = PackedAlert.pack(_slim(alert))
        record.first_seen_at_s = min(record.first_seen_at_s, seen_at_s)
        record.points.append(_point(alert, seen_at_s))
        record.points.sort(key=lambda p: p.sequence)
        del record.points[:-MAX_POINTS]
        known = record.vital_values
        new = {(v.measure, v.at_s): (v.value, v.unit) for v in _vitals(alert) if (v.measure, v.at_s) not in known}
        if new:
            record.vital_values = dict(sorted({**known, **new}.items(), key=lambda item: item[0][1])[-MAX_VITALS:])
        self._touch(record)
        if alert.transition == AlertTransition.RESOLVED:
            record.resolved_at_s = seen_at_s
            self._ended_now(alert.episode_id)

    def on_logged(self, entry: NotificationLogEntry | LogRecord) -> None:
        """A notification-log entry: the delivery joins the episode (and its alert, when the entry carries one)."""
        if isinstance(entry, NotificationLogEntry):
            self.on_alert(entry.alert, entry.sent_at_s)
        record = self._episodes.get(entry.episode_id)
        if record is None or entry.outcome == DeliveryOutcome.PENDING:
            return
        record.notifications[entry.key] = NotificationRecord(
            key=entry.key, receiver=entry.receiver, tier=entry.tier, action=str(entry.action), kind=str(entry.kind),
            outcome=str(entry.outcome), attempts=entry.attempts, sent_at_s=entry.sent_at_s)
        while len(record.notifications) > MAX_NOTIFICATIONS:
            record.notifications.pop(next(iter(record.notifications)))
        self._touch(record)

    def on_ack(self, ack: AckEvent) -> None:
        """An acknowledgement, snooze, close or comment (each read once even when the topic echoes it back)."""
        record = self._episodes.get(ack.episode_id)
        if record is None or ack in record.actions:
            return
        record.actions.append(ack)
        record.actions.sort(key=lambda a: a.acked_at_s)
        del record.actions[:-MAX_ACTIONS]
        self._touch(record)
