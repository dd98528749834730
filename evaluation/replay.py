"""Replay PhysioNet 2019 stays as a live feed: the offline detector, Kafka, MLLP or FHIR.

This is also the load generator of `make bench` / `make run`:

    from evaluation.replay import ReplayOptions, replay_physionet
    stats = replay_physionet("../shared/data/physionet2019", to="kafka", patients=200, speed=3600.0)

Order: `patient` sends each stay whole (admission, then its hours), the fastest way
to push load; `time` interleaves all stays by event time, as a hospital would send
them (needed for real-time pacing). Pacing: `speed=None` sends as fast as the
target accepts; `speed=N` keeps event time running N times faster than the wall
clock (speed 3600 = one ICU hour per second).

Event times are `base_time + ICULOS h` (stay i starts `i * stagger_minutes` later);
received_at is the event time too: the replay simulates a feed that arrives on time.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from tqdm import tqdm

from evaluation.dataset import DEFAULT_CACHE_DIR, list_patient_files
from evaluation.physionet import ConversionCounts, HourMessage, PatientRecord, admit_event, hour_messages, read_psv
from schemas.patient_event import PatientEvent

__all__ = [
    "DEFAULT_BASE_TIME",
    "Pacer",
    "ReplayItem",
    "ReplayOptions",
    "ReplaySink",
    "ReplayStats",
    "replay_items",
    "replay_physionet",
    "run_replay",
]

DEFAULT_BASE_TIME = datetime(2019, 1, 1, tzinfo=UTC)
"""ICU admission time of replayed stays (fixed, so replays are reproducible and never in the future)."""

ReplayItem = PatientEvent | HourMessage
Order = Literal["patient", "time"]


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay: base time, order, pacing, admission stagger and an optional patient-key prefix."""

    base_time: datetime = DEFAULT_BASE_TIME
    order: Order = "patient"
    speed: float | None = None  # None: as fast as possible; N: N x real time
    stagger_minutes: float = 0.0  # stay i is admitted i * stagger after base_time
    key_prefix: str = ""  # prepended to every patient key (a fresh namespace for repeated live replays)

    def __post_init__(self) -> None:
        if self.base_time.tzinfo is None:
            raise ValueError("base_time must be timezone-aware")
        if self.speed is not None and self.speed <= 0:
            raise ValueError(f"speed must be > 0 (times real time), got {self.speed}")
        if self.stagger_minutes < 0:
            raise ValueError(f"stagger_minutes must be >= 0, got {self.stagger_minutes}")


class ReplaySink(Protocol):
    """Where replayed events go. Each call returns once the target accepted the event(s)."""

    name: str

    def send_admit(self, event: PatientEvent) -> None: ...

    def send_hour(self, message: HourMessage) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class ReplayStats:
    """What a replay did. Rates are per wall-clock second."""

    target: str
    patients: int = 0
    messages: int = 0
    observations: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    wall_s: float = 0.0
    extra: dict[str, int | float] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return (self.observations + self.patients) / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target, "patients": self.patients, "messages": self.messages,
            "observations": self.observations, "rejected": sum(self.rejected.values()),
            "rejected_by_reason": {f"{m}:{c}": n for (m, c), n in sorted(self.rejected.items())},
            "wall_s": round(self.wall_s, 3), "events_per_s": round(self.events_per_s, 1), **self.extra,
        }


def _load(path: Path, key_prefix: str) -> PatientRecord:
    record = read_psv(path)
    if key_prefix:
        record.patient_key = key_prefix + record.patient_key
    return record


def _patient_items(record: PatientRecord, base_time: datetime, counts: ConversionCounts) -> Iterator[ReplayItem]:
    yield admit_event(record, base_time)
    yield from hour_messages(record, base_time, counts=counts)


def _event_time(item: ReplayItem) -> datetime:
    return item.event_time


def replay_items(files: Sequence[Path], options: ReplayOptions, counts: ConversionCounts) -> Iterator[ReplayItem]:
    """The admissions and patient-hours of `files`, in the order the options ask for.

    Rejected values are counted into `counts` as the items are generated.
    """
    stagger = timedelta(minutes=options.stagger_minutes)
    if options.order == "patient":
        for i, path in enumerate(files):
            yield from _patient_items(_load(path, options.key_prefix), options.base_time + i * stagger, counts)
        return
    streams = [_patient_items(_load(path, options.key_prefix), options.base_time + i * stagger, counts)
               for i, path in enumerate(files)]
    # heapq.merge is stable: at equal event times stays keep file order, and an admission
    # (at base_time) always precedes its stay's first hour.
    yield from heapq.merge(*streams, key=_event_time)


class Pacer:
    """Keeps event time running `speed` times faster than the wall clock (None: never waits).

    `clock` (monotonic seconds) and `sleep` are injected so tests need no real waiting.
    """

    def __init__(self, speed: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.speed, self._clock, self._sleep = speed, clock, sleep
        self._origin: tuple[datetime, float] | None = None

    def delay_for(self, event_time: datetime) -> float:
        """Seconds to wait before sending an event with this event time (0 when on or behind schedule)."""
        if self.speed is None:
            return 0.0
        if self._origin is None:
            self._origin = (event_time, self._clock())
            return 0.0
        first_event, first_wall = self._origin
        due = first_wall + (event_time - first_event).total_seconds() / self.speed
        return max(0.0, due - self._clock())

    def wait_for(self, event_time: datetime, before_sleep: Callable[[], None] | None = None) -> None:
        """Block until `event_time` is due; `before_sleep` runs first when a wait is needed (e.g. flush)."""
        delay = self.delay_for(event_time)
        if delay > 0:
            if before_sleep is not None:
                before_sleep()
            self._sleep(delay)


def run_replay(files: Sequence[Path], sink: ReplaySink, options: ReplayOptions = ReplayOptions(), *,
               progress: bool = True, pacer: Pacer | None = None) -> ReplayStats:
    """Replay `files` into `sink`; returns the counts and the wall time (seconds)."""
    counts = ConversionCounts()
    stats = ReplayStats(target=sink.name)
    pacer = pacer or Pacer(options.speed)
    started = time.perf_counter()
    bar = tqdm(total=len(files), unit="patient", disable=not progress, dynamic_ncols=True,
               desc=f"replay -> {sink.name}", smoothing=0.05)
    try:
        for item in replay_items(files, options, counts):
            pacer.wait_for(item.event_time, before_sleep=sink.flush)
            if isinstance(item, PatientEvent):
                sink.send_admit(item)
                stats.patients += 1
                bar.update(1)
                if stats.patients % 50 == 0:
                    bar.set_postfix(obs=counts.accepted, rejected=counts.rejected_total, refresh=False)
            else:
                sink.send_hour(item)
                stats.messages += 1
        sink.flush()
    finally:
        bar.close()
        sink.close()
    stats.wall_s = time.perf_counter() - started
    stats.observations = counts.accepted
    stats.rejected = counts.rejected
    stats.extra.update(getattr(sink, "stats", {}))
    return stats


def replay_physionet(
    data: Path | str,
    *,
    to: str = "offline",
    address: str | None = None,
    patients: int | None = None,
    sample: bool = False,
    seed: int = 2019,
    options: ReplayOptions = ReplayOptions(),
    progress: bool = False,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    **sink_kwargs: object,
) -> ReplayStats:
    """Python API of `sepsis-alert replay physionet`: pick the files, build the sink, replay.

    `to`: offline | kafka | mllp (address HOST:PORT) | fhir (address = base URL).
    `sink_kwargs` go to the sink (e.g. `settings=KafkaSettings(...)` for kafka,
    `engine=...` for offline).
    """
    from evaluation.sinks import make_sink  # the sinks import Kafka/HTTP clients only when used

    files = list_patient_files(Path(data), patients=patients, sample=sample, seed=seed, cache_dir=cache_dir)
    sink = make_sink(to, address, **sink_kwargs)
    return run_replay(files, sink, options, progress=progress)
