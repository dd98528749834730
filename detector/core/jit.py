"""The one way the detector compiles its numba kernels (risk model and window scans).

Kernels are pure functions of arrays and numbers. Each has a plain-Python reference that tests compare it with
bit for bit; the kernels exist only because the Python versions cost 3-10x more CPU on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit

__all__ = ["kernel"]


def kernel(function: Callable[..., Any]) -> Any:
    """`njit` with numba's on-disk cache when some cache directory is writable (next to the module, else
    NUMBA_CACHE_DIR or the user's cache); when none is (read-only install and home), numba refuses
    `cache=True` at decoration time, so compile in memory instead (slower start, same code)."""
    try:
        return njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(cache=False, nogil=True, error_model="numpy")(function)
