"""The container's main loop.

Configuration comes only from the environment (``GW_SERVER_URL``, ``GW_CONTAINER_ID``,
``GW_TOKEN_ID``, ``GW_TOKEN_SECRET``). A container serving one input at a time runs it in the
main thread under a SIGALRM timeout (so even a busy loop is interrupted) and sends its outputs
with the next poll; a concurrent or batched container runs ``ConcurrentLoop``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import cloudpickle

from .. import _api, _code, _config, _payload
from .._context import running_input
from .._protocol import HEARTBEAT_S, ContainerSpec, from_builtins
from .._serialization import error_envelope, exception_envelope, serialize
from ..exception import InvalidError, SerializationError
from .buckets import sync_all as sync_buckets
from .channel import Channel
from .service import Service

FLUSH_S = 0.02


class _InputTimeout(BaseException):
    """Raised in user code when its input's time is up; BaseException so user code's
    ``except Exception`` cannot swallow it."""


class _Stop(BaseException):
    """SIGTERM: finish up and exit."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _InputTimeout()


def _on_term(signum: int, frame: Any) -> None:
    raise _Stop()


def loads(payload: bytes) -> tuple[tuple[Any, ...], dict[str, Any], str | None]:
    """An input's ``(args, kwargs, method)``; functions' inputs carry no method."""
    value = cloudpickle.loads(_payload.inbound(payload, "arguments"))
    return (value[0], value[1], value[2] if len(value) > 2 else None)


def encode_result(result: Any) -> tuple[str, bytes]:
    try:
        return "success", _payload.outbound(serialize(result), "result")
    except (SerializationError, InvalidError) as e:  # unpicklable, or past MAX_PAYLOAD_BYTES
        return "serialization", error_envelope("serialization", str(e))


def failure_output(e: BaseException) -> tuple[str, bytes]:
    return "failure", exception_envelope(_strip_runtime_frames(e))


def _strip_runtime_frames(e: BaseException) -> BaseException:
    """Drop the runtime's own frames so the caller sees a traceback of user code only."""
    here = str(Path(__file__).parent)
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        tb = tb.tb_next
    return e.with_traceback(tb)


class Container:
    def __init__(self, container_id: str) -> None:
        self.id = container_id
        self.client = _api.client()
        self.outputs: list[list[Any]] = []
        self.last_flush = time.monotonic()
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None

    def _code_dir(self, digest: str) -> Path:
        placed = os.environ.get("GW_CODE_DIR")
        if placed:  # an isolated container: its own root filesystem, /root as on Modal
            _code.unpack_into(self.client.get(f"/v1/blobs/{digest}"), Path(placed))
            return Path(placed)
        cache = Path(os.environ.get("GW_CODE_CACHE") or _config.gw_home() / "cache" / "code")
        dest = cache / digest
        if not dest.exists():
            _code.unpack(self.client.get(f"/v1/blobs/{digest}"), dest)
        return dest

    def load(self) -> None:
        """Import the app's code and build what this container serves; run ``enter`` hooks."""
        spec = from_builtins(self.client.get(f"/v1/containers/{self.id}/spec"), ContainerSpec)
        self.spec = spec
        self.channel = Channel(self.client, self.id, spec.channel or None)
        self.timeout = spec.spec.timeout
        os.environ.update(spec.env)  # the function's secrets, before user code
        from .volumes import setup as setup_volumes

        setup_volumes(self.client, spec.mounts)
        from .buckets import setup as setup_buckets

        setup_buckets(spec.spec.bucket_mounts)
        if spec.spec.include_source:
            sys.path.insert(0, str(self._code_dir(spec.code_blob)))
        module = _import_entry(spec.module, spec.spec.include_source)
        obj = getattr(module, spec.tag, None)
        service = getattr(obj, "_service", obj)  # a Cls keeps its registered Function there
        if service is None or getattr(service, "_tag", None) != spec.tag:
            raise LookupError(f"module {spec.module!r} has no gworker function {spec.tag!r}")
        app = service._app
        if app is not None:
            app._app_id = spec.app_id
            app._hydrate(spec.functions)
        self.service = Service(obj, spec.spec, spec.params)
        self.service.run_hooks("enter")

    def timeout_message(self) -> str:
        return f"{self.spec.tag!r} timed out after {self.timeout:g}s"

    # -- one input at a time -------------------------------------------------------------------

    def run_input(self, input_id: int, payload: bytes) -> None:
        start = time.monotonic()
        try:
            args, kwargs, method = loads(payload)
            target = self.service.target(method)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                result = self._call(target.fn, target.is_async, args, kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            status, data = encode_result(result)
        except _InputTimeout:
            status, data = "timeout", error_envelope("timeout", self.timeout_message())
        except _Stop:
            raise
        except BaseException as e:  # noqa: B036 - SystemExit and friends in user code fail the input
            status, data = failure_output(e)
        sync_buckets()  # the call's writes reach its bucket mounts before its result goes out
        self.outputs.append([input_id, status, data, time.monotonic() - start])

    def _call(self, fn: Any, is_async: bool, args: Any, kwargs: Any) -> Any:
        if not is_async:
            return fn(*args, **kwargs)
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(fn(*args, **kwargs))

    def flush(self, slots: int) -> dict[str, Any]:
        outputs, self.outputs = self.outputs, []
        self.last_flush = time.monotonic()
        return self.channel.poll(outputs, slots, _config.LONG_POLL_S if slots else 0)

    def serve(self) -> None:
        while not self.stopping:
            resp = self.flush(slots=1)
            if resp["stop"]:
                return
            for input_id, payload, *call in resp["inputs"]:
                with running_input(call[0] if call else "", input_id):
                    self.run_input(input_id, payload)
                if time.monotonic() - self.last_flush > FLUSH_S:
                    self.flush(slots=0)
        self.flush(slots=0)

    def heartbeat_forever(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            try:
                if self.client.post(f"/v1/containers/{self.id}/heartbeat")["stop"]:
                    self.stopping = True
            except Exception:
                pass


def _report_start_failure(container: Container, e: BaseException) -> None:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    sys.stderr.write(f"container start-up failed:\n{tb}")
    try:
        container.client.post(f"/v1/containers/{container.id}/failed", {"traceback": tb})
    finally:
        sys.exit(1)


def main() -> None:
    container_id = sys.argv[1] if len(sys.argv) > 1 else os.environ["GW_CONTAINER_ID"]
    # whole lines reach the caller's terminal as soon as they are printed, as on a terminal
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    container = Container(container_id)
    from .web import own_network, start_web, wait_for_network

    ports = own_network()
    if ports is not None:
        from . import loopback_relay

        loopback_relay.start(ports)  # the app's URLs, through the control plane's socket
        wait_for_network()

    try:
        container.load()
        web = start_web(container)  # its web endpoints, served beside the input loop
    except _Stop:
        return
    except BaseException as e:
        _report_start_failure(container, e)
    threading.Thread(target=container.heartbeat_forever, name="gw-heartbeat", daemon=True).start()
    from .probes import start_probes

    start_probes(container)
    try:
        if container.service.max_inputs > 1:
            from .concurrent import ConcurrentLoop

            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            loop = asyncio.new_event_loop()
            loop.add_signal_handler(signal.SIGTERM, lambda: setattr(container, "stopping", True))
            loop.run_until_complete(ConcurrentLoop(container).run())
        else:
            container.serve()
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the exit hooks finish
        try:
            if web is not None:
                web.stop()
            container.service.run_hooks("exit")
        finally:
            from .volumes import commit_on_exit

            commit_on_exit()  # what the container left uncommitted in its volumes
            sync_buckets()


def _import_entry(name: str, include_source: bool) -> Any:
    """The function's module: from the code bundle, or (include_source=False) from the image."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if include_source or e.name != name.split(".")[0]:
            raise
        raise ModuleNotFoundError(
            f"include_source=False: module {name!r} is not in this function's image; add it"
            f" with image.add_local_python_source({name.split('.')[0]!r}), or leave"
            " include_source on to ship it automatically",
            name=e.name,
        ) from None
