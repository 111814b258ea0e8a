"""Checks of request fields that several routes share: each returns the field's value or raises
InvalidRequest naming the field, the bad value and what is accepted."""

from __future__ import annotations

import math
import re
from typing import Any

from gworker_client._object import size_problem

from .errors import InvalidRequest

# A long-poll is held this long at most (the SDK asks for 25 s).
MAX_WAIT_S = 60.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


def blob(value: Any, what: str, limit: int) -> bytes:
    """A key or value from a request: bytes (the SDK's pickle) within ``limit``."""
    if not isinstance(value, bytes):
        raise InvalidRequest(f"{what} must be bytes pickled by the SDK, not {type(value).__name__}")
    problem = size_problem(what, len(value), limit)
    if problem:
        raise InvalidRequest(problem)
    return value


def number(req: dict[str, Any], field: str, low: float, high: float, default: float) -> float:
    """A number clamped to ``[low, high]``; a missing one is ``default``, NaN is refused."""
    value = req.get(field, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidRequest(f"{field}={value!r} is not a number")
    return max(low, min(float(value), high))


def count(req: dict[str, Any], field: str, high: int, default: int = 1) -> int:
    value = req.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{field}={value!r} must be a positive integer")
    return min(value, high)


def request_token(req: dict[str, Any], field: str) -> str:
    """A client-chosen request id (what makes a retry idempotent). Letters, digits, ``-`` and
    ``_`` only: some become part of a file name on the server."""
    value = req.get(field)
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidRequest(
            f"{field}={value!r} must be a string of 8 to 64 letters, digits, '-' or '_'"
        )
    return value
