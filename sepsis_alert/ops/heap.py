"""The garbage collector of a long-running worker: no stop-the-world pause of a third of a second under load.

CPython's full (generation 2) collection walks every tracked object. A worker holds ~150,000-200,000 of them
from start-up alone (hl7apy's message structures, pydantic and fhir.resources models, the Kafka client), none
of which ever becomes garbage. Measured with `benchmarks.bench_load` (2,000 obs/s for 60 s, a gc callback
timing each collection): every full collection stopped ingest-hl7 and the notifier for 100-340 ms, and those
pauses set the p99 of ACK -> webhook (418 ms; the notifier's share 369 ms).

`settle_heap`, called once a worker has started:

* freezes the start-up heap (`gc.freeze`, which CPython documents for long-lived processes): those objects
  leave the collector's walk. Reference counting still frees any of them that is dropped later.
* makes full collections ten times rarer (`FULL_COLLECTION_EVERY` middle-generation collections instead of
  10): what a full collection still walks is the worker's own long-lived state (the notifier's episode
  history: ~100,000 objects after a minute of load, 45-220 ms a walk). Young cycles (tasks, exceptions,
  responses) are still freed within a few thousand allocations, as before.

Same run with both: no full collection during the load in ingest-hl7, one in the notifier (38 ms); the
notifier's share of ACK -> webhook p99 fell to 89 ms. The detector tunes its own collector
(detector/gc_tuning.py) and freezes restored state when it is assigned partitions.
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["FULL_COLLECTION_EVERY", "settle_heap"]

log = logging.getLogger(__name__)

FULL_COLLECTION_EVERY = 100
"""Middle-generation collections between two full ones (CPython's default: 10)."""


def settle_heap() -> int:
    """Collect once, freeze everything alive and space out full collections: call when a worker has finished
    starting. Returns the number of objects frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen: %d objects, %.0f ms", frozen, (time.perf_counter() - started) * 1000)
    return frozen
