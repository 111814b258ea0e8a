from __future__ import annotations

from dataclasses import dataclass

from ._protocol import ProbeSpec
from .exception import InvalidError

KINDS = ("liveness", "readiness")


@dataclass(frozen=True)
class Probe:
    """A health probe. Two kinds:

    - on a class (``Probe.on(method)``): the platform calls ``method`` in each container every
      ``period_s``; ``failures`` failed calls in a row (an exception, a falsy result, a result
      with ``ok=False``, or no answer within ``timeout_s``) replace the container (liveness) or
      stop new inputs going to it until it passes again (readiness);
    - a sandbox's readiness (Modal's): ``Probe.with_tcp(port)`` passes once something in the
      sandbox accepts connections on ``port``, ``Probe.with_exec(*argv)`` once ``argv`` exits 0;
      tried every ``interval_ms``. Pass it as ``Sandbox.create(readiness_probe=...)`` and wait
      with ``sb.wait_until_ready()``.
    """

    method: str = ""
    kind: str = "liveness"
    period_s: float = 10.0
    failures: int = 3
    timeout_s: float = 5.0
    tcp_port: int | None = None
    exec_argv: tuple[str, ...] | None = None
    interval_ms: int = 100

    @classmethod
    def with_tcp(cls, port: int, *, interval_ms: int = 100) -> Probe:
        """Ready once something in the sandbox accepts TCP connections on ``port``."""
        return cls(tcp_port=port, interval_ms=interval_ms)

    @classmethod
    def with_exec(cls, *argv: str, interval_ms: int = 100) -> Probe:
        """Ready once the command ``argv``, run in the sandbox, exits 0."""
        return cls(exec_argv=tuple(argv), interval_ms=interval_ms)

    @property
    def for_sandbox(self) -> bool:
        return self.tcp_port is not None or self.exec_argv is not None

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
        if self.for_sandbox:
            self._check_sandbox_probe()
            return
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

    def _check_sandbox_probe(self) -> None:
        port, argv, interval = self.tcp_port, self.exec_argv, self.interval_ms
        if port is not None and argv is not None:
            raise InvalidError("a Probe checks either a TCP port or a command, not both")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
        ):
            raise InvalidError(f"Probe.with_tcp(port={port!r}): the port must be in 1..65535")
        if argv is not None and (not argv or not all(isinstance(a, str) for a in argv)):
            raise InvalidError(
                f"Probe.with_exec{argv!r} needs a command of strings, like ('test', '-f', '/ok')"
            )
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 10:
            raise InvalidError(f"Probe interval_ms={interval!r} must be an int >= 10")

    def to_record(self) -> ProbeSpec:
        if self.for_sandbox:
            raise InvalidError(
                "Probe.with_tcp/with_exec is a sandbox's readiness probe: pass it as"
                " Sandbox.create(readiness_probe=...); on a class, use Probe.on(method)"
            )
        return ProbeSpec(
            method=self.method,
            kind=self.kind,  # type: ignore[arg-type]  # checked in __post_init__
            period_s=float(self.period_s),
            failures=self.failures,
            timeout_s=float(self.timeout_s),
        )
