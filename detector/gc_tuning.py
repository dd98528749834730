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
"""

from __future__ import annotations

import gc

__all__ = ["DETECTOR_GC_THRESHOLDS", "tune_gc"]

DETECTOR_GC_THRESHOLDS = (5_000, 20, 20)
"""Generation 0 allocations, then generation 1 and 2 collections, between collections of the next generation."""


def tune_gc() -> None:
    """Apply DETECTOR_GC_THRESHOLDS to this process (the collector stays enabled: cycles are still freed)."""
    gc.set_threshold(*DETECTOR_GC_THRESHOLDS)
