"""Cyclic garbage-collector settings of a detector process.

A scoring allocates and frees dozens of short-lived objects and almost never a reference cycle (reference
counting frees them). With CPython's default generation-0 threshold of 700 the cyclic collector runs every few
scorings and, every tenth of those, traverses every patient state held so far; the detector worker
(detector/adapters/kafka_stream.py) therefore raises the thresholds, and the benchmarks that stand for that
worker (benchmarks/bench_detector.py) run under the same settings.
"""

from __future__ import annotations

import gc

__all__ = ["DETECTOR_GC_THRESHOLDS", "tune_gc"]

DETECTOR_GC_THRESHOLDS = (20_000, 20, 20)
"""Generation 0 allocations, then generation 1 and 2 collections, between collections of the next generation."""


def tune_gc() -> None:
    """Apply DETECTOR_GC_THRESHOLDS to this process (the collector stays enabled: cycles are still freed)."""
    gc.set_threshold(*DETECTOR_GC_THRESHOLDS)
