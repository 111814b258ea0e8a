from __future__ import annotations

from dataclasses import dataclass

from ._protocol import MAX_RETRIES, RetryPolicy
from .exception import InvalidError


@dataclass(frozen=True)
class Retries:
    """How a failed input is retried: ``initial_delay * backoff_coefficient**n``, capped.

    ``@app.function(retries=3)`` is ``Retries(max_retries=3, backoff_coefficient=1.0,
    initial_delay=1.0)``.
    """

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool):
            raise InvalidError(
                f"max_retries={self.max_retries!r} must be an int from 0 to {MAX_RETRIES}"
            )
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise InvalidError(f"max_retries={self.max_retries} must be from 0 to {MAX_RETRIES}")
        _check_number("backoff_coefficient", self.backoff_coefficient, 1.0, 10.0)
        _check_number("initial_delay", self.initial_delay, 0.0, 60.0)
        _check_number("max_delay", self.max_delay, 1.0, 60.0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return min(self.initial_delay * self.backoff_coefficient ** (attempt - 1), self.max_delay)

    def to_record(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_coefficient=float(self.backoff_coefficient),
            initial_delay=float(self.initial_delay),
            max_delay=float(self.max_delay),
        )


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidError(f"{name}={value!r} must be a number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidError(f"{name}={value} must be from {low} to {high}")


def to_retries(value: int | Retries | None) -> Retries | None:
    if value is None:
        return None
    if isinstance(value, Retries):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Retries(max_retries=value, backoff_coefficient=1.0, initial_delay=1.0)
    raise InvalidError(
        f"retries={value!r} is not valid: pass an int from 0 to 10 or gw.Retries(max_retries=...)"
    )
