"""A map's run: a thread feeds inputs in chunks while the caller's thread collects outputs
decoded in order (or as they come)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

from . import _api, _config, _function, _output, _payload
from . import exception as exc
from ._context import parent_input
from ._serialization import deserialize, exception_from_output

# A map sends its inputs in chunks of at most this many items or bytes.
MAP_CHUNK_ITEMS = 1000
MAP_CHUNK_BYTES = 8 * 1024 * 1024


class Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def decode_output(status: str, data: bytes) -> Any:
    if status == "success":
        return deserialize(_payload.inbound(data))
    return Failure(exception_from_output(status, data))


class MapRun:
    """One map: a thread feeds inputs in chunks while the caller's thread collects outputs."""

    def __init__(
        self,
        fn: _function.Function,
        items: Iterator[tuple[tuple[Any, ...], dict[str, Any]]],
        order_outputs: bool,
        return_exceptions: bool,
    ) -> None:
        self.fn = fn
        self.items = items
        self.order_outputs = order_outputs
        self.return_exceptions = return_exceptions
        self.call_id = _function.new_call_id()
        self.parent = parent_input()  # the caller's thread's, before the feeding thread starts
        self.fid = fn._hydrate()
        self.sent = 0
        self.total: int | None = None
        self.feed_error: BaseException | None = None
        self.created = False
        self.started = threading.Event()  # the call exists on the server, or feeding failed

    def _chunks(self) -> Iterator[tuple[list[list[Any]], set[str]]]:
        """Chunks of inputs, each with the ids of the objects pickled into them."""
        counter = itertools.count()
        chunk: list[list[Any]] = []
        objects: set[str] = set()
        size = 0
        for args, kwargs in self.items:
            self.fn._bind(args, kwargs)
            payload, passed = self.fn._payload(args, kwargs)
            chunk.append([next(counter), payload])
            objects.update(passed)
            size += len(payload)
            if len(chunk) >= MAP_CHUNK_ITEMS or size >= MAP_CHUNK_BYTES:
                yield chunk, objects
                chunk, objects, size = [], set(), 0
        yield chunk, objects

    def _send(self, chunk: list[list[Any]], objects: set[str], total: int | None) -> None:
        body = {
            "call_id": self.call_id,
            "inputs": chunk,
            "total": total,
            "wait": 0,
            "objects": sorted(objects),
        }
        if not self.created:
            _api.client().post(f"/v1/functions/{self.fid}/calls", {**body, "parent": self.parent})
            self.created = True
            self.started.set()
        else:
            _api.client().post(f"/v1/calls/{self.call_id}/inputs", body)
        self.sent += len(chunk)

    def submit_all(self) -> None:
        pending: tuple[list[list[Any]], set[str]] | None = None
        for chunk in self._chunks():
            if pending is not None:
                self._send(*pending, None)
            pending = chunk
        last, objects = pending or ([], set())
        self.total = self.sent + len(last)
        self._send(last, objects, self.total)

    def _feed(self) -> None:
        try:
            self.submit_all()
        except BaseException as e:
            self.feed_error = e
            self.started.set()

    def results(self) -> Iterator[Any]:
        feeder = threading.Thread(target=self._feed, name="gw-map-feeder", daemon=True)
        feeder.start()
        call = _function.FunctionCall(self.call_id)
        progress = _output.map_progress(self.fn.tag)
        next_idx, yielded = 0, 0
        ready: dict[int, Any] = {}
        finished = False
        try:
            while True:
                if self.feed_error is not None:
                    raise self.feed_error
                if self.total is not None and yielded >= self.total:
                    finished = True
                    return
                if not self.created:
                    self.started.wait()
                    continue
                before = set(call._outputs)
                call._poll(0.5 if self.total is None else _config.LONG_POLL_S)
                for idx in sorted(set(call._outputs) - before):
                    ready[idx] = decode_output(*call._outputs.pop(idx))
                if ready:
                    _output.sync_logs()
                progress.update(total=self.total or self.sent, completed=yielded + len(ready))
                order = range(next_idx, next_idx + len(ready)) if self.order_outputs else None
                for idx in order if order is not None else sorted(ready):
                    if idx not in ready:
                        break
                    value = ready.pop(idx)
                    next_idx += 1
                    yielded += 1
                    if isinstance(value, Failure):
                        if not self.return_exceptions:
                            raise value.error
                        value = value.error
                    yield value
        finally:
            progress.close()
            if not finished and self.created:
                try:
                    call.cancel()
                except exc.Error:
                    pass
