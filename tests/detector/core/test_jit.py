"""The numba kernel decorator shared by the detector's compiled fast paths."""

from __future__ import annotations

import numba
import pytest

from detector.core import jit


def test_kernels_compile_in_memory_when_no_cache_directory_is_writable(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba raises at decoration time when `cache=True` finds no writable directory (read-only install and
    home; reproduced by hand with read-only bind mounts): the kernel must then compile without the cache."""
    asked: list[bool] = []

    def njit_without_locator(**options: object):  # type: ignore[no-untyped-def]
        asked.append(bool(options["cache"]))
        if options["cache"]:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'compiled.py'")
        return numba.njit(**options)

    monkeypatch.setattr(jit, "njit", njit_without_locator)

    def add_one(value: int) -> int:
        return value + 1

    assert jit.kernel(add_one)(41) == 42
    assert asked == [True, False]
