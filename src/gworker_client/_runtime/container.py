"""The container's main loop.

Configuration comes only from the environment (``GW_SERVER_URL``, ``GW_CONTAINER_ID``,
``GW_TOKEN_ID``, ``GW_TOKEN_SECRET``). Inputs are pulled in leases; each runs in the main thread
under the function's timeout; outputs go back with the next poll (or sooner, every
``FLUSH_S``, so a long lease does not hold finished results back).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .. import _api, _code, _config
from .._serialization import error_envelope, exception_envelope, serialize
from ..exception import SerializationError

FLUSH_S = 0.02
HEARTBEAT_S = 5.0


class _InputTimeout(BaseException):
    """Raised in user code when its input's time is up; BaseException so user code's
    ``except Exception`` cannot swallow it."""


class _Stop(BaseException):
    """SIGTERM: finish up and exit."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _InputTimeout()


class Container:
    def __init__(self, container_id: str) -> None:
        self.id = container_id
        self.client = _api.client()
        self.outputs: list[list[Any]] = []
        self.last_flush = time.monotonic()
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None

    def _code_dir(self, digest: str) -> Path:
        cache = Path(os.environ.get("GW_CODE_CACHE") or _config.gw_home() / "cache" / "code")
        dest = cache / digest
        if not dest.exists():
            _code.unpack(self.client.get(f"/v1/blobs/{digest}"), dest)
        return dest

    def load(self) -> None:
        spec = self.client.get(f"/v1/containers/{self.id}/spec")
        self.spec = spec
        self.timeout = float(spec["spec"]["timeout"])
        sys.path.insert(0, str(self._code_dir(spec["code_blob"])))
        module = importlib.import_module(spec["module"])
        fn = getattr(module, spec["tag"], None)
        raw = getattr(fn, "_raw_f", None)
        if raw is None:
            raise LookupError(f"module {spec['module']!r} has no gworker function {spec['tag']!r}")
        app = fn._app
        if app is not None:
            app._app_id = spec["app_id"]
            app._hydrate(spec["functions"])
        self.fn = raw
        self.is_async = inspect.iscoroutinefunction(raw)

    def run_input(self, input_id: int, payload: bytes) -> None:
        start = time.monotonic()
        status, data = "success", b""
        try:
            args, kwargs = _loads(payload)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                result = self._call(args, kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                data = serialize(result)
            except SerializationError as e:
                status, data = "serialization", error_envelope("serialization", str(e))
        except _InputTimeout:
            status = "timeout"
            data = error_envelope(
                "timeout", f"{self.spec['tag']!r} timed out after {self.timeout:g}s"
            )
        except _Stop:
            raise
        except BaseException as e:  # noqa: B036 - SystemExit and friends in user code fail the input
            status, data = "failure", exception_envelope(_strip_runtime_frames(e))
        self.outputs.append([input_id, status, data, time.monotonic() - start])

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.is_async:
            return self.fn(*args, **kwargs)
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(self.fn(*args, **kwargs))

    def flush(self, want: bool) -> dict[str, Any]:
        outputs, self.outputs = self.outputs, []
        self.last_flush = time.monotonic()
        return self.client.post(
            f"/v1/containers/{self.id}/poll?timeout={_config.LONG_POLL_S if want else 0}",
            {"outputs": outputs, "want": want},
            timeout=_config.LONG_POLL_S + 30,
        )

    def serve(self) -> None:
        while not self.stopping:
            resp = self.flush(want=True)
            if resp["stop"]:
                return
            for input_id, payload in resp["inputs"]:
                self.run_input(input_id, payload)
                if time.monotonic() - self.last_flush > FLUSH_S:
                    self.flush(want=False)

    def heartbeat_forever(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            try:
                if self.client.post(f"/v1/containers/{self.id}/heartbeat")["stop"]:
                    self.stopping = True
            except Exception:
                pass


def _loads(payload: bytes) -> Any:
    import cloudpickle

    return cloudpickle.loads(payload)


def _strip_runtime_frames(e: BaseException) -> BaseException:
    """Drop this module's frames so the caller sees a traceback of user code only."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return e.with_traceback(tb)


def _on_term(signum: int, frame: Any) -> None:
    raise _Stop()


def main() -> None:
    container_id = sys.argv[1] if len(sys.argv) > 1 else os.environ["GW_CONTAINER_ID"]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    container = Container(container_id)
    try:
        container.load()
    except _Stop:
        return
    except BaseException as e:
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(f"container start-up failed:\n{tb}")
        try:
            container.client.post(f"/v1/containers/{container_id}/failed", {"traceback": tb})
        finally:
            sys.exit(1)
    threading.Thread(target=container.heartbeat_forever, name="gw-heartbeat", daemon=True).start()
    try:
        container.serve()
    except _Stop:
        pass
