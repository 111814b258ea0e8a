"""Health probes: call the probe method on schedule and report each result to the server."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import TYPE_CHECKING, Any

from .._cls import as_coroutine, resolve
from .._protocol import ProbeSpec

if TYPE_CHECKING:
    from .container import Container


def _passed(result: Any) -> tuple[bool, str]:
    if isinstance(result, dict):
        return bool(result.get("ok", True)), repr(result)[:500]
    return bool(result), repr(result)[:500]


def _call_with_timeout(container: Container, method: str, timeout: float) -> tuple[bool, str]:
    outcome: list[tuple[bool, str]] = []

    def call() -> None:
        try:
            result = getattr(container.service.instance, method)()
            if inspect.isawaitable(result):
                if container.loop is not None and container.loop.is_running():
                    coro = as_coroutine(result)
                    result = asyncio.run_coroutine_threadsafe(coro, container.loop).result()
                else:
                    result = resolve(result)
            outcome.append(_passed(result))
        except Exception as e:
            outcome.append((False, f"{type(e).__name__}: {e}"))

    worker = threading.Thread(target=call, name=f"gw-probe-{method}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return False, f"no answer within {timeout:g}s"
    return outcome[0]


def _probe_forever(container: Container, probe: ProbeSpec) -> None:
    while True:
        start = time.monotonic()
        ok, detail = _call_with_timeout(container, probe.method, probe.timeout_s)
        try:
            container.client.post(
                f"/v1/containers/{container.id}/probe",
                {
                    "method": probe.method,
                    "kind": probe.kind,
                    "ok": ok,
                    "detail": detail,
                    "duration": time.monotonic() - start,
                },
            )
        except Exception:
            pass
        time.sleep(max(0.0, probe.period_s - (time.monotonic() - start)))


def start_probes(container: Container) -> None:
    for probe in container.service.spec.probes:
        threading.Thread(
            target=_probe_forever, args=(container, probe), name="gw-probe", daemon=True
        ).start()
