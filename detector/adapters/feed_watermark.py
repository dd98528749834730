"""Per-partition event-time watermarks of the detector stream and the feed gap sweep they drive.

When a patient's feed stops, nothing is scored for that patient, so nothing could say 'cannot rule out' (issue
#17). The stream knows how far event time has advanced on each input partition from the observations it reads
(patient events and care events share partition numbers but are read ahead of observations, kafka_stream.py,
so they do not count): after each poll batch, every partition with observations in it (or whose watermark moved)
has its open episodes swept by the pure engine (`DetectorEngine.sweep`, detector/core/feed_gap.py), which
announces each gap once.

Where batches end must not decide whether a gap is announced (replay == live): a gap that ends inside a batch
(the patient's data resume before any sweep saw it) is announced by the stream just before the patient's first
newer record is applied (`DetectorEngine.sweep(t, [key])`), with the same event time and text a
sweep would have given it. So every gap that ends is announced, whatever the batch sizes; a gap still open is
announced once the partition's watermark passes it.

Per partition, not one for the process: a partition whose producer lags (a backlog after an ingest outage) must
not make its patients look stale against another partition's newer data. A record's event time counts at most up
to its receive time plus `window.future_tolerance_minutes`, the limit beyond which the engine drops it as a clock
error, so one wrong clock cannot declare every feed stale. Watermarks are not stored: a restored partition's
resumes at the newest event time of its restored patients (the gap marks in their states keep a notice from
being repeated).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from detector.core.engine import DetectorEngine
from schemas.alert import Alert

__all__ = ["PartitionWatermarks"]


class PartitionWatermarks:
    """Newest event time (seconds since 2000) read per input partition, and the sweep over its open episodes."""

    def __init__(self, future_tolerance_s: int) -> None:
        self.future_tolerance_s = future_tolerance_s
        self.newest: dict[int, int] = {}
        self._swept: dict[int, int] = {}  # the watermark each partition was last swept at
        self._read: set[int] = set()  # partitions with observations in this batch

    def observe(self, partition: int, event_s: int, received_s: int) -> None:
        """Count one record of `partition` (its event and receive times, seconds since 2000)."""
        self.advance(partition, min(event_s, received_s + self.future_tolerance_s))

    def advance(self, partition: int, t: int) -> None:
        """Move the watermark of `partition` to `t` if later (`t` already limited as `observe` does); the
        partition is swept after this batch either way."""
        if t > self.newest.get(partition, t - 1):
            self.newest[partition] = t
        self._read.add(partition)

    def restored(self, partition: int, newest_s: int) -> None:
        """A partition restored from the changelog: its watermark resumes at the newest event time of its
        patients, already swept (the run that wrote those states swept there), so a restart neither holds back
        notices until new records carry the watermark that far again, nor repeats them (the gap marks)."""
        self.advance(partition, newest_s)
        self._swept[partition] = self.newest[partition]

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked from this process (their next owner starts its own watermark)."""
        for partition in partitions:
            self.newest.pop(partition, None)
            self._swept.pop(partition, None)
            self._read.discard(partition)

    def clear(self) -> None:
        self.newest.clear()
        self._swept.clear()
        self._read.clear()

    def sweep(self, engine: DetectorEngine, partition_of: dict[str, int], emitted_at: datetime | None
              ) -> list[Alert]:
        """The engine's feed gap notices for the open episodes of every partition whose watermark moved or whose
        observations were read in this batch (a patient whose records ended is judged by the next batch even if
        the records after it are older: a stay-by-stay replay), except
        patients with records in this batch (called before the batch is published): their data are arriving,
        perhaps behind the partition's (a backfill); the next batch without them judges them."""
        due = {p: w for p, w in self.newest.items() if p in self._read or self._swept.get(p) != w}
        self._read.clear()
        if not due:
            return []
        keys: dict[int, list[str]] = {}
        applied = engine.pending_keys()  # patients with records in this batch: their feed has not stopped
        for key, state in engine.patients.items():
            if state.escalation.opened_s is not None and key not in applied:
                partition = partition_of.get(key)
                if partition in due:
                    keys.setdefault(partition, []).append(key)
        alerts: list[Alert] = []
        for partition, open_keys in keys.items():
            alerts += engine.sweep(due[partition], open_keys, emitted_at)
        self._swept.update(due)
        return alerts
