"""Handing the C heap's free pages back to the system as the statistics settle events.

Buffers that grow, shrink and move (the contributions and the undo log, at every settle step)
leave free holes in glibc's heap that stay resident: 196 bytes a held user at 1M users,
measured (benchmarks/README.md, "Memory per user"). glibc's malloc_trim releases their pages, as
Dask's workers do; elsewhere this does nothing. ItemStats calls it every TRIM_EVERY settle steps."""

from __future__ import annotations

import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None


def release_free_pages() -> None:
    """malloc_trim(0) where the C library has it (a few ms over a heap of a few GB)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
