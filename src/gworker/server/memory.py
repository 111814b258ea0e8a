"""Handing freed memory back to the system after a burst of load.

CPython's allocator and glibc's malloc keep freed memory for reuse, so after a burst (a large
map, big request bodies) the server's resident memory stays at its peak although nothing uses it.
``trim`` collects garbage and asks glibc to return free heap pages (``malloc_trim``); the
scheduler's tick calls it every ``TRIM_EVERY_S`` while no input is waiting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim with
        return None


def trim() -> None:
    gc.collect()
    release = _malloc_trim()
    if release is not None:
        release(0)
