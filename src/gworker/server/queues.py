"""Routes for a Queue's items, and the waiter registry behind blocking gets and puts.

A Queue's lifecycle is the registry's (``server/registry.py``). A blocking get is a long-poll:
when its partition is empty, the request parks on a future in ``Waiters`` and a put to that
partition resolves it (a full partition parks a put the same way until a get or clear makes
room). Items are opaque pickled bytes, stored in SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from gworker_client._object import MAX_VALUE_BYTES
from gworker_client._protocol.limits import MAX_INT
from gworker_client._protocol.objects import ObjectKind
from gworker_client._queue import MAX_GET_ITEMS, MAX_PARTITION_ITEMS, partition_problem

from ..store.contract import StateStore
from . import registry
from .draining import DRAINING
from .errors import InvalidRequest
from .fields import MAX_WAIT_S, blob, count, number, request_token
from .http import body, reply
from .state import State

routes = web.RouteTableDef()
# A get or peek answers with about this many bytes of items at most (always at least one item).
PAGE_BYTES = 64 * 1024 * 1024
ITEMS, ROOM = "items", "room"  # what a parked request waits for
Key = tuple[str, str, str]  # (queue id, partition, ITEMS | ROOM)
T = TypeVar("T")


class Waiters:
    """Requests parked on a queue partition, each on a future resolved by ``wake``."""

    def __init__(self) -> None:
        self._parked: dict[Key, set[asyncio.Future[None]]] = {}

    async def wait(self, key: Key, timeout: float) -> None:
        """Return when ``key`` is woken or ``timeout`` seconds pass."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        parked = self._parked.setdefault(key, set())
        parked.add(future)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await DRAINING.wait_for(future, timeout)
        finally:
            future.cancel()
            parked.discard(future)
            if not parked and self._parked.get(key) is parked:
                del self._parked[key]

    def wake(self, key: Key) -> None:
        for future in self._parked.pop(key, ()):
            if not future.done():
                future.set_result(None)

    def wake_queue(self, qid: str) -> None:
        """Wake everything parked on any partition of a queue (it was cleared or deleted)."""
        for key in [k for k in self._parked if k[0] == qid]:
            self.wake(key)


def _describe(store: StateStore, qid: str) -> dict[str, Any]:
    return {"items": store.queue_total(qid)}


def _on_delete(app: web.Application, qid: str) -> Callable[[], None]:
    # its parked gets and puts answer NotFound once it is gone
    return lambda: app["queue_waiters"].wake_queue(qid)


KIND = registry.Kind(ObjectKind.QUEUE, _describe, _on_delete)


def _queue(request: web.Request) -> tuple[State, Waiters, str]:
    qid = registry.in_url(request, ObjectKind.QUEUE).id
    return request.app["state"], request.app["queue_waiters"], qid


def _partition(value: Any) -> str:
    """A partition from a request: None is the default partition, stored as ''."""
    problem = partition_problem(value)
    if problem:
        raise InvalidRequest(problem)
    return value or ""


def _values(req: dict[str, Any]) -> list[bytes]:
    values = req.get("values")
    if not isinstance(values, list):
        raise InvalidRequest("values must be a list of pickled items")
    if len(values) > MAX_PARTITION_ITEMS:
        raise InvalidRequest(
            f"cannot put {len(values)} items at once: a partition holds at most"
            f" {MAX_PARTITION_ITEMS}"
        )
    return [blob(v, "queue item", MAX_VALUE_BYTES) for v in values]


async def _until(request: web.Request, key: Key, attempt: Callable[[], T], timeout: float) -> T:
    """``attempt()`` until it gives a true value or ``timeout`` seconds pass; between tries,
    park until ``key`` is woken. Raises NotFound if the queue is deleted meanwhile."""
    deadline = time.monotonic() + timeout
    result = attempt()
    while not result and (left := deadline - time.monotonic()) > 0:
        await request.app["queue_waiters"].wait(key, left)
        registry.in_url(request, ObjectKind.QUEUE)
        result = attempt()
    return result


@routes.post("/v1/queues/{object_id}/put")
async def put(request: web.Request) -> web.Response:
    """Append ``values`` to a partition, all or none; ``ok: false`` if it stayed full."""
    state, waiters, qid = _queue(request)
    req = await body(request)
    put_id, partition = request_token(req, "put_id"), _partition(req.get("partition"))
    values = _values(req)
    if state.store.queue_put_done(put_id):  # a retry of a put that was stored
        return reply({"ok": True})
    room = await _until(
        request,
        (qid, partition, ROOM),
        lambda: state.store.queue_len(qid, partition) + len(values) <= MAX_PARTITION_ITEMS,
        number(req, "timeout", 0, MAX_WAIT_S, 0),
    )
    if not room:
        return reply({"ok": False})
    state.store.queue_put(qid, partition, values, put_id)
    state.store.commit()
    waiters.wake((qid, partition, ITEMS))
    return reply({"ok": True})


@routes.post("/v1/queues/{object_id}/get")
async def get(request: web.Request) -> web.Response:
    """Remove up to ``n`` items, waiting up to ``timeout`` s for one; a retried ``get_id`` gets
    the items it took before."""
    state, waiters, qid = _queue(request)
    req = await body(request)
    get_id, partition = request_token(req, "get_id"), _partition(req.get("partition"))
    n = count(req, "n", MAX_GET_ITEMS)
    taken = state.store.queue_taken(get_id)
    if not taken:
        taken = await _until(
            request,
            (qid, partition, ITEMS),
            lambda: state.store.queue_take(qid, partition, n, PAGE_BYTES, get_id),
            number(req, "timeout", 0, MAX_WAIT_S, 0),
        )
        if taken:
            state.store.commit()
            waiters.wake((qid, partition, ROOM))
    return reply({"values": taken})


@routes.post("/v1/queues/{object_id}/peek")
async def peek(request: web.Request) -> web.Response:
    """Up to ``n`` items after position ``after``, left in place, waiting up to ``timeout`` s."""
    state, _, qid = _queue(request)
    req = await body(request)
    partition, n = _partition(req.get("partition")), count(req, "n", MAX_GET_ITEMS)
    after = req.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_INT:
        raise InvalidRequest(f"after={after!r} must be an integer position")
    items = await _until(
        request,
        (qid, partition, ITEMS),
        lambda: state.store.queue_peek(qid, partition, after, n, PAGE_BYTES),
        number(req, "timeout", 0, MAX_WAIT_S, 0),
    )
    return reply({"items": [list(i) for i in items]})


@routes.get("/v1/queues/{object_id}/len")
async def length(request: web.Request) -> web.Response:
    state, _, qid = _queue(request)
    if request.query.get("total"):
        return reply({"len": state.store.queue_total(qid)})
    partition = _partition(request.query.get("partition") or None)
    return reply({"len": state.store.queue_len(qid, partition)})


@routes.post("/v1/queues/{object_id}/clear")
async def clear(request: web.Request) -> web.Response:
    """Remove the items of one partition, or of all partitions with ``all: true``."""
    state, waiters, qid = _queue(request)
    req = await body(request)
    if req.get("all"):
        state.store.queue_clear(qid, None)
        state.store.commit()
        waiters.wake_queue(qid)
    else:
        partition = _partition(req.get("partition"))
        state.store.queue_clear(qid, partition)
        state.store.commit()
        waiters.wake((qid, partition, ROOM))
    return reply({})
