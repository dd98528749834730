"""Compiled (numba) eviction of the packed window: `PatientWindow.evict` in one native call.

`PatientWindow.evict` (window.py) stays the REFERENCE: every measure drops its values older than the cut, the
packed array keeps its layout (slots in order, each sorted). It runs once per patient and event-time hour, and in
Python it walks the held measures and deletes one slice per measure that loses values; this kernel compacts the
array in place in one pass and the caller shortens it once (tests/detector/core/test_window_compiled.py compares
the two on random windows). The engine's insertion fast path evicts with it; `PatientWindow.add` (the rare
slow path: corrections, retractions, out-of-order values) keeps calling its own Python eviction, which leaves
the same window.
"""

from __future__ import annotations

from array import array

from detector.core.jit import kernel
from detector.core.window import MEASURE_LIST, PatientWindow

__all__ = ["USE_COMPILED_EVICT", "evict", "warm_up"]

USE_COMPILED_EVICT = True
"""The engine evicts with this kernel (False: with PatientWindow.evict, the reference)."""


@kernel
def _compact(data: array, lengths: array, oldest_kept_s: int) -> int:
    """Move every kept (t, value, hash) triple of `data` down over the dropped ones (t < oldest_kept_s, the
    oldest values of each slot), update `lengths` in place and return the number of ints kept."""
    read = 0
    write = 0
    for slot in range(len(lengths)):
        end = read + lengths[slot]
        cut = read
        while cut < end and data[cut] < oldest_kept_s:
            cut += 3
        kept = end - cut
        if write != cut:
            for k in range(kept):
                data[write + k] = data[cut + k]
        write += kept
        lengths[slot] = kept
        read = end
    return write


def evict(window: PatientWindow, oldest_kept_s: int) -> None:
    """`window.evict(oldest_kept_s)`: drop every value older than `oldest_kept_s` (seconds since 2000)."""
    data = window.data
    kept = _compact(data, window.lengths, oldest_kept_s)
    if kept != len(data):
        del data[kept:]


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel for the window's buffer types now."""
    window = PatientWindow()
    window.lengths = array("H", bytes(2 * len(MEASURE_LIST)))
    evict(window, 0)
