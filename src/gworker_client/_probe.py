from __future__ import annotations

from dataclasses import dataclass

from ._protocol import ProbeSpec
from .exception import InvalidError

KINDS = ("liveness", "readiness")


@dataclass(frozen=True)
class Probe:
    """A health probe: the platform calls ``method`` in each container every ``period_s``.

    ``failures`` failed calls in a row (an exception, a falsy result, or a result with
    ``ok=False``, or no answer within ``timeout_s``) replace the container (liveness) or stop
    new inputs going to it until it passes again (readiness).
    """

    method: str
    kind: str = "liveness"
    period_s: float = 10.0
    failures: int = 3
    timeout_s: float = 5.0

    @classmethod
    def on(
        cls,
        method: str,
        *,
        kind: str = "liveness",
        period_s: float = 10.0,
        failures: int = 3,
        timeout_s: float = 5.0,
    ) -> Probe:
        return cls(method, kind, period_s, failures, timeout_s)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method.isidentifier():
            raise InvalidError(f"Probe method {self.method!r} must be a method name")
        if self.kind not in KINDS:
            raise InvalidError(f"Probe kind {self.kind!r} is not one of {KINDS}")
        for name, low in (("period_s", 0.05), ("timeout_s", 0.05)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise InvalidError(f"Probe {name}={value!r} must be a number >= {low}")
        if (
            isinstance(self.failures, bool)
            or not isinstance(self.failures, int)
            or self.failures < 1
        ):
            raise InvalidError(f"Probe failures={self.failures!r} must be an int >= 1")

    def to_record(self) -> ProbeSpec:
        return ProbeSpec(
            method=self.method,
            kind=self.kind,  # type: ignore[arg-type]  # checked in __post_init__
            period_s=float(self.period_s),
            failures=self.failures,
            timeout_s=float(self.timeout_s),
        )
