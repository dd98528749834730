"""Cyclic garbage-collector settings of a detector process.

A scoring allocates and frees dozens of short-lived objects and almost never a reference cycle (reference
counting frees them). With CPython's default generation-0 threshold of 700 the cyclic collector runs every few
scorings and, every tenth of those, traverses every patient state held so far; the detector worker
(detector/adapters/kafka_stream.py) therefore raises the thresholds, and the benchmarks that stand for that
worker (benchmarks/bench_detector.py) run under the same settings.

How far to raise the first threshold is a trade between throughput and the length of each stop, which every
observation in flight waits out. A scoring keeps what it computed (score results, their inputs) in the patient's
state, so each young collection walks tens of thousands of survivors that reference the whole state heap. At
20,000, over the 10-minute `benchmarks.bench_load` (2,000 obs/s, 4,810 stays), each young collection stopped the
detector for 130-290 ms every ~22 s as the heap grew (gc callback timings); at 5,000 they stop it for 30-110 ms
every ~6 s, with a middle-generation collection of ~160 ms every couple of minutes.

Those young collections stayed slow because a detector frees old objects as fast as it makes new ones (window
entries age out): CPython counts allocations minus deallocations, so by the time the count reaches the threshold
the young generation holds ~50,000 survivors (measured: 40,000-55,000 at each slow collection, 20-90 ms each,
every ~5 s over the 240 s load run). `BatchCollector` therefore collects the young generations at every batch
boundary, when they hold only that batch's objects, and freezes what survived: the patient states it belongs to
live for hours and are never walked again. A cycle frozen alive and dropped later would stay allocated, so a full
collection runs every `FULL_COLLECTION_EVERY_S`; measured every minute over the same run, the full collections
after the first freed 0 objects (~300,000 walked, 180-230 ms each). With it, no collection in the detector took
5 ms or more during the load apart from those full ones.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["DETECTOR_GC_THRESHOLDS", "FULL_COLLECTION_EVERY_S", "BatchCollector", "loading_long_lived", "tune_gc"]

log = logging.getLogger(__name__)

DETECTOR_GC_THRESHOLDS = (5_000, 20, 20)
"""Generation 0 allocations, then generation 1 and 2 collections, between collections of the next generation."""


def tune_gc() -> None:
    """Apply DETECTOR_GC_THRESHOLDS to this process (the collector stays enabled: cycles are still freed)."""
    gc.set_threshold(*DETECTOR_GC_THRESHOLDS)


@contextmanager
def loading_long_lived() -> Iterator[None]:
    """No cyclic collection while the block loads objects that live for hours (a changelog restore: thousands of
    small acyclic states, whose generation scans would dominate the load), then freeze everything loaded so far,
    so later full collections do not traverse it again and again. Refcounting still frees a dropped state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


FULL_COLLECTION_EVERY_S = 3600.0
"""Seconds between two full collections of a detector (each unfreezes and walks the whole heap once)."""


class BatchCollector:
    """The detector's collections at batch boundaries (module docstring): young generations, then freeze.

    Call `after_batch()` after every batch that consumed records. Process-wide: one per detector process.
    """

    def __init__(self, full_every_s: float = FULL_COLLECTION_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._full_every_s = full_every_s
        self._clock = clock
        self._last_full = clock()

    def after_batch(self) -> None:
        """Collect the two young generations (this batch's objects, and any an automatic collection in the
        batch promoted), freeze the survivors, and run the periodic full collection when it is due."""
        gc.collect(1)
        gc.freeze()
        now = self._clock()
        if now - self._last_full >= self._full_every_s:
            self._last_full = now
            self.full_collection()

    def full_collection(self) -> int:
        """Walk everything once (frozen objects too), free what is cyclic garbage, freeze the rest; returns the
        number of objects freed."""
        walked = gc.get_freeze_count()
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        log.info("detector full garbage collection: %d objects walked, %d freed, %.0f ms", walked, freed,
                 (time.perf_counter() - started) * 1000)
        return freed
